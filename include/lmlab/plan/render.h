// How a Plan is shown: a text report for people, JSON for machines. The CLI,
// the demo report and the golden-file tests all use these.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "lmlab/core/cpu_measure.h"
#include "lmlab/plan/device_catalog.h"
#include "lmlab/plan/planner.h"

namespace lmlab::plan {

std::string RenderText(const Plan& plan);
nlohmann::json ToJson(const Plan& plan);

std::string RenderSweepText(const SweepTable& sweep);
nlohmann::json ToJson(const SweepTable& sweep);

std::string RenderCatalogText(const DeviceCatalog& catalog, Precision precision);
nlohmann::json ToJson(const DeviceCatalog& catalog);

std::string RenderMeasurementText(const GemmMeasurement& m);
nlohmann::json ToJson(const GemmMeasurement& m);

}  // namespace lmlab::plan
