// `lmlab demo`: every system of the toolkit, end to end, on embedded
// defaults, into one report (report/report.h). The steps, in order:
//
//   plan          the compute plan for the reference GPT-4-on-H100 scenario
//   train         build or reuse the embedded default model (quick: a tiny one)
//   fresh         a local index of Debian changelogs, FreshPrompt answers over
//                 it, and the recency benchmark
//   improve       a short STOP run: a real model with an endpoint, otherwise a
//                 replay of recorded completions, labelled as such
//   probe         the space probe sweep on the default model with its controls
//   ood-classifier the OOD classifier experiment (Fashion-MNIST)
//   ood-lm        the OOD language-model experiment on the default model
//
// Before the steps, lmlab doctor checks what they need (doctor/doctor.h); a
// step whose checks fail is not run: its section is "unavailable" and names
// the failed checks and their fixes. A step that ran but measured nothing
// (every evaluation errored, a probe no better than its controls, ...) is a
// "warning" section saying what degenerated and why.
//
// Each step's section is cached as <out>/steps/<id>.json, so a rerun resumes
// (finished steps of the same mode, ok or warning, are skipped; Redo::kFresh
// redoes them; failed and unavailable steps run again).
// A step that fails becomes a section that says so with the error; the
// other steps still run.
//
//   DemoOptions o{.out_dir = "lmlab-report", .mode = DemoMode::kQuick};
//   o.progress = bar.Callback();
//   LMLAB_ASSIGN_OR_RETURN(DemoResult r, RunDemo(o));  // r.index_html
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/doctor/doctor.h"
#include "lmlab/report/report.h"

namespace lmlab::report {

enum class DemoMode { kFull, kQuick };
enum class Redo { kResume, kFresh };

struct StepEvent {
  enum class Kind { kStart, kCached, kDone } kind = Kind::kStart;
  int index = 0;  // 1-based
  int count = 0;
  std::string id, title;
  SectionStatus status = SectionStatus::kOk;  // for kCached / kDone
  double seconds = 0;
  std::string error;
};

struct DemoOptions {
  std::filesystem::path out_dir = "lmlab-report";
  DemoMode mode = DemoMode::kFull;
  Redo redo = Redo::kResume;
  // A capable OpenAI-compatible endpoint for the self-improvement step; empty
  // = the replay run.
  std::string endpoint;
  std::string api_model;
  std::string api_key_env = "OPENAI_API_KEY";
  std::vector<std::string> only;  // step ids to run (others are taken from the cache or skipped); empty = all
  // The lmlab doctor checks run before the steps (`only` and `progress` are
  // set by RunDemo); tests point the sandbox at a missing bwrap.
  doctor::DoctorOptions checks;
  ProgressCallback progress;      // work inside a step
  std::function<void(const StepEvent&)> on_step;
};

struct DemoResult {
  Report report;
  std::filesystem::path index_html;
  int ran = 0, cached = 0;
  int failed = 0;   // sections failed or unavailable (refused by lmlab doctor included)
  int warned = 0;   // sections with a degenerate measurement
  doctor::DoctorReport checks;  // the checks run before the steps
};

// The step ids, in order.
std::vector<std::string> DemoStepIds();

// Runs (or resumes) the demo and writes the report. Errors only for problems
// with the output directory; step failures are sections.
Result<DemoResult> RunDemo(const DemoOptions& options);

}  // namespace lmlab::report
