// `lmlab plan --from-log`: calibrate the plan with a run you already did. A
// training log gives tokens/s; the model gives FLOPs per token; the hardware
// it ran on gives a peak. Their ratio is the MFU the run achieved, and the
// target run is planned at that MFU instead of a guess.
//
// Formats read (detected, one per log):
//   - lmlab train --json (and `lmlab train default --json`): tokens_per_second,
//     params and the model config;
//   - throughput lines as PyTorch loops and llama.cpp print them:
//     "12,345 tok/s", "tokens/s: 812.5", "tokens_per_second=...",
//     "(... 102.87 tokens per second)";
//   - llama.cpp finetune progress (ggml-opt): "train: [...] data=0000640/0001280 ...
//     t=00:01:05", which counts sequences: tokens/s = data x seq_len / t.
//
//   LMLAB_ASSIGN_OR_RETURN(TrainingLog log, ParseTrainingLog(text, {}));
//   FromLogRequest r{.log = log, .peak_flops = 1e14};
//   LMLAB_ASSIGN_OR_RETURN(Calibration c, FitMfu(r));   // c.mfu
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/plan/model_shape.h"
#include "lmlab/plan/planner.h"

namespace lmlab::plan {

enum class LogFormat { kLmlabTrainJson, kThroughputLines, kGgmlOptProgress };
std::string_view LogFormatName(LogFormat f);

struct ThroughputSample {
  int64_t line = 0;            // 1-based
  double tokens_per_second = 0;
};

struct TrainingLog {
  LogFormat format = LogFormat::kThroughputLines;
  std::vector<ThroughputSample> samples;
  int64_t warmup_skipped = 0;          // leading samples left out of the estimate
  double tokens_per_second = 0;        // median of the rest (ggml-opt: the last cumulative rate)
  std::optional<double> params;        // what the log says about its model (lmlab train)
  std::optional<ModelShape> model;
  std::optional<int64_t> seq_len;
};

// `seq_len` is needed only for ggml-opt progress lines. kParse when no
// throughput is found (the message lists the forms understood).
Result<TrainingLog> ParseTrainingLog(std::string_view text, std::optional<int64_t> seq_len);

struct FromLogRequest {
  TrainingLog log;
  // The logged run's model, when the log does not say (one of them), and its
  // sequence length for the attention term.
  std::optional<double> params;
  std::optional<ModelShape> model;
  std::optional<int64_t> seq_len;
  // The logged run's hardware.
  double peak_flops = 0;     // per device
  int64_t devices = 1;
  std::string hardware;      // for the report
};

struct Calibration {
  TrainingLog log;
  std::string model_source;   // "lmlab train log", "--log-params", ...
  double params = 0;
  double flops_per_token = 0; // 6 N (+ 12 L s d with a shape)
  double achieved_flops = 0;  // tokens/s x FLOPs per token, all devices
  double peak_flops = 0;      // per device
  int64_t devices = 1;
  std::string hardware;
  double mfu = 0;
  std::string note;           // e.g. an MFU above 100% means the peak or the model is wrong
};

Result<Calibration> FitMfu(const FromLogRequest& request);

struct CalibratedPlan {
  Calibration calibration;
  Plan plan;  // the target run at the fitted MFU
};

// Fits the MFU and plans `target` with it (the target's own --mfu must be unset).
Result<CalibratedPlan> PlanFromLog(const FromLogRequest& log, PlanRequest target, const DeviceCatalog& catalog);

}  // namespace lmlab::plan
