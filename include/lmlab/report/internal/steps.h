// The demo's steps (report/demo.h). Each returns a filled Section or an
// Error; RunDemo turns an Error into a "failed" section.
#pragma once
#include <filesystem>
#include <string>

#include "lmlab/core/error.h"
#include "lmlab/probe/study.h"
#include "lmlab/report/demo.h"
#include "lmlab/report/report.h"
#include "lmlab/train/default_model.h"

namespace lmlab::report::internal {

struct StepContext {
  const DemoOptions* options = nullptr;
  std::filesystem::path out_dir;
  bool quick = false;
  // The model later steps use: set by the train step (or its cache). Empty
  // when that step failed; `model_error` says why.
  std::filesystem::path model_path;
  std::string model_error;
  // The model's training documents (for the exact OCS in ood-lm); filled lazily.
  ProgressCallback progress;
};

Result<Section> PlanStep(StepContext& ctx);
Result<Section> TrainStep(StepContext& ctx);
Result<Section> FreshStep(StepContext& ctx);
Result<Section> ImproveStep(StepContext& ctx);
Result<Section> ProbeStep(StepContext& ctx);
Result<Section> OodClassifierStep(StepContext& ctx);
Result<Section> OodLmStep(StepContext& ctx);

// The tiny model --quick trains (step_train.cc); the OOD step needs its corpus.
train::DefaultRecipe QuickRecipe();

// llama.cpp threads for the demo's model: one in --quick (a tiny model gains
// nothing from more, and spinning threads stall on a busy machine), else all.
inline int ModelThreads(const StepContext& ctx) { return ctx.quick ? 1 : 0; }

// The model path or an error naming why there is none.
Result<std::filesystem::path> RequireModel(const StepContext& ctx);

// The probe studies the probe step runs on `model` (step_probe.cc), and the
// `lmlab probe run` command line that runs one of them with the same numbers.
std::vector<probe::StudyOptions> DemoProbeStudies(const StepContext& ctx, const std::filesystem::path& model);
std::string StudyCommandLine(const probe::StudyOptions& options);

}  // namespace lmlab::report::internal
