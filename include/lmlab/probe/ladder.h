// The world-model experiment: lmlab's ladder of world models
// (train/world_model.h: trained on relations only, no coordinates or dates),
// each probed for the map of its cities and the timeline of its people with
// every control, the MLP probe and a block hold-out, so a reader sees whether a
// map emerges, beats what the names alone give, and grows with size.
//
//   LMLAB_ASSIGN_OR_RETURN(LadderReport r, RunLadder({}));   // builds missing rungs first (minutes each)
//   std::cout << RenderLadderText(r);                         // a row per rung and dataset, and the goals
//
// The goals are issue 17's: the largest rung beats its strongest control by
// >= 0.3 R^2 on the test split, the gap grows with size, and the held-out
// blocks' proximity error is within 0.05 of the standard split's.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/probe/study.h"

namespace lmlab::probe {

struct LadderOptions {
  std::vector<std::string> rungs;  // empty = the whole ladder, smallest first
  std::vector<std::string> datasets = {"world-model-places", "world-model-people"};
  Protocol protocol = Protocol::kPaper;
  MlpControl mlp = MlpControl::kOn;
  bool holdout = true;             // places by country, people by birth century
  std::filesystem::path cache_root;  // activations; "" = <cache>/probe
  int threads = 0;                 // training and llama.cpp threads (0 = the defaults)
  uint64_t memory_cap_bytes = 0;
  uint64_t seed = 0;
  ProgressCallback progress;
};

struct LadderRow {
  std::string rung;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  int64_t n_params = 0;
  double train_seconds = -1;     // when built by this run; -1 when reused
  std::string model;             // the GGUF
  std::string dataset;
  Headline headline;             // best layer vs the strongest control
  double mlp_r2 = 0;             // the MLP probe's test R^2 at the linear probe's best layer
  double proximity_error = 0;    // at the best layer
  std::vector<ControlRun> controls;  // each control's best (per-layer values in the run's report)
  double holdout_block_proximity = -1;     // -1 when no hold-out ran
  double holdout_baseline_proximity = -1;
};

struct LadderGoal {
  std::string name;
  bool met = false;
  std::string detail;
};

struct LadderReport {
  std::string protocol;
  std::vector<LadderRow> rows;        // rung-major, smallest rung first
  std::vector<ProbeReport> reports;   // [rows]: the full run behind each row
  std::vector<LadderGoal> goals;      // per dataset
};

Result<LadderReport> RunLadder(const LadderOptions& options);
// The goals for a ladder's rows (exposed for tests).
std::vector<LadderGoal> EvaluateLadderGoals(const std::vector<LadderRow>& rows);

std::string RenderLadderText(const LadderReport& report);
void to_json(nlohmann::json& j, const LadderReport& r);
// ladder.json, ladder.html (the table, the goals, R^2 by layer per run and the
// animated map of each run) and one report directory per run
// (<dir>/<rung>-<dataset>/, as WriteReportFiles). Returns the paths written.
Result<std::vector<std::filesystem::path>> WriteLadderFiles(const LadderReport& report, const std::filesystem::path& dir);

}  // namespace lmlab::probe
