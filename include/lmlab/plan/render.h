// How plans are shown: text for people, JSON for machines. The CLI, the demo
// report and the golden-file tests all use these.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "lmlab/plan/calibrate.h"
#include "lmlab/core/cpu_measure.h"
#include "lmlab/plan/device_catalog.h"
#include "lmlab/plan/infer_measure.h"
#include "lmlab/plan/inference.h"
#include "lmlab/plan/model_shape.h"
#include "lmlab/plan/planner.h"
#include "lmlab/plan/tokens.h"

namespace lmlab::plan {

// Training plans (render.cc).
std::string RenderText(const Plan& plan);
nlohmann::json ToJson(const Plan& plan);

std::string RenderSweepText(const SweepTable& sweep);
nlohmann::json ToJson(const SweepTable& sweep);

std::string RenderCatalogText(const DeviceCatalog& catalog, Precision precision);
nlohmann::json ToJson(const DeviceCatalog& catalog);

std::string RenderMeasurementText(const GemmMeasurement& m);
nlohmann::json ToJson(const GemmMeasurement& m);

// Model shapes, presets, Epoch's two methods, calibration (render_model.cc).
std::string RenderModelText(const ModelShape& model, const ParamCount& params);
nlohmann::json ToJson(const ModelShape& model, const ParamCount& params);
std::string RenderPresetsText(const ModelPresets& presets);
nlohmann::json ToJson(const ModelPresets& presets);
std::string RenderEpochText(const EpochEstimate& e);
nlohmann::json ToJson(const EpochEstimate& e);
std::string RenderCalibrationText(const Calibration& c);
nlohmann::json ToJson(const Calibration& c);

// Inference, token economics, measured speed (render_infer.cc).
std::string RenderInferenceText(const InferencePlan& plan);
nlohmann::json ToJson(const InferencePlan& plan);
std::string RenderTokensText(const TokenEconomics& t);
nlohmann::json ToJson(const TokenEconomics& t);
std::string RenderInferMeasurementText(const InferMeasurement& m);
nlohmann::json ToJson(const InferMeasurement& m);

}  // namespace lmlab::plan
