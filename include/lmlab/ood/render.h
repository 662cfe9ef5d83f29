// How OOD results are shown: text tables for people, JSON for machines, and
// SVG plots (distance to the OCS vs severity per loss, reward per severity,
// the AUROC table, the language-model corruption curves; the line charts are
// core/svg_chart.h small multiples). The CLI and the demo report use these.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/ood/experiment.h"
#include "lmlab/ood/lm_experiment.h"

namespace lmlab::ood {

std::string RenderText(const ClassifierReport& r);
nlohmann::json ToJson(const ClassifierReport& r);

std::string RenderText(const LmReport& r);
nlohmann::json ToJson(const LmReport& r);

// One panel per shift; one line per loss: D(OCS, f(x)) at each severity
// divided by the clean (severity 0) value, so losses share an axis.
std::string DistanceSvg(const ClassifierReport& r);
// One panel per shift: mean reward of the MSE reward model, CE + temperature
// threshold, and CE without abstaining.
std::string RewardSvg(const ClassifierReport& r);
// The AUROC table as a coloured grid (rows shifts, columns scores).
std::string AurocSvg(const ClassifierReport& r);
// Mean distance to the OCS (and mean ignorance) vs corruption level.
std::string LmSvg(const LmReport& r);

}  // namespace lmlab::ood
