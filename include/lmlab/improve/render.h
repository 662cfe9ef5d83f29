// How STOP results are shown: text tables for people, JSON for machines and
// an SVG plot. The CLI and the demo report use these.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/improve/element.h"
#include "lmlab/improve/stop.h"

namespace lmlab::improve {

nlohmann::json ToJson(const RunSummary& summary);
nlohmann::json ToJson(const std::vector<TransferRow>& rows);

// The per-round table (meta-utility, kept or fell back, model calls and
// errors, tokens, utility calls and errors, wall time, sandbox flag, reward
// hacks, strategies), then the audit over all rounds and the offending files.
std::string RenderRoundsText(const RunSummary& summary);
std::string RenderTransferText(const std::vector<TransferRow>& rows);
// Nonzero audit counters, "over_budget_requests 3, wrong_shape_outputs 1", or "none".
std::string RenderFindings(const Audit& audit);

// A per-round SVG line plot of the held-out meta-utility.
std::string RenderPlotSvg(const RunSummary& summary);

}  // namespace lmlab::improve
