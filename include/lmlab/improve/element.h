// One element of STOP's meta-utility: one improver on one (task, repeat)
// with the model budget, then its returned solution scored on held-out test
// instances. The meta-utility is the mean over tasks x repeats of these
// elements; EvaluateImprover and the rounds of RunSelfImprovement run them
// in-process (--jobs threads) through the code RunElement runs, and `lmlab
// improve element` runs one on its own, so that a cluster array can run them
// side by side and `lmlab improve gather` can average their files into the
// same number.
//
//   LMLAB_ASSIGN_OR_RETURN(ElementResult e, RunElement(options, improver, "lpn", /*repeat=*/2, *lm, *box));
//   LMLAB_RETURN_IF_ERROR(SaveElement(ElementPath(options.run_dir, improver, "lpn", 2), e));
//   ...
//   LMLAB_ASSIGN_OR_RETURN(Gathered g, GatherElements(options.run_dir, improver, {"lpn"}, options.repeats));
//   // g.missing empty: g.meta.value == EvaluateImprover(options, improver, {"lpn"}, ...)->value
//
// Seeds depend on (options.seed, task, repeat) only, never on which process
// or thread runs an element. The model is the caller's: a gathered value
// equals the in-process one when the model answers each element the same
// wherever it runs (a sampling seed per prompt, as lmlab sets; the replay
// fixture when each element uses whole groups of its recordings).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/improve/stop.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/sandbox/sandbox.h"

namespace lmlab::improve {

// Where an element belongs in a run. Reported meta-utilities (round 0, a
// round's new improver, evaluate, transfer) use the held-out instances; the
// meta-utility an improver calls while improving itself in round t uses
// that call's own validation instances (call k of round t). Its code,
// replies and solutions are kept under <run_dir>/<files_dir>/.
struct ElementPlace {
  std::string files_dir = "evaluate";  // "round-<t>", "evaluate", "transfer"
  int round = 0;
  int64_t call = -1;  // >= 0: call `call` of round `round`'s improver; -1: held-out
  bool HeldOut() const { return call < 0; }
};

// The counts (HostCounts) are this element's.
struct ElementResult : HostCounts {
  std::string task;
  int repeat = 0;
  std::string improver_hash;            // ImproverHash(improver code)
  double utility = 0;                   // the returned solution on test instances; 0 when failed
  bool failed = false;                  // the improver crashed, hung or returned no code
  std::string improver_verdict = "ok";  // the improver's sandbox verdict ("ok", "timeout", ...)
  std::string note;                     // why it failed, for logs
  // The test evaluation of the returned solution (all 0 when failed).
  int test_instances = 0;
  int test_errors = 0;
  int test_too_slow = 0;
  int test_wrong_shape = 0;
  std::string model;            // the model's name, for provenance
  nlohmann::json options;       // ElementOptionsJson of the options it ran with
  double wall_seconds = 0;      // the whole element
  double improver_seconds = 0;  // the improver's sandbox run, model time included
  double test_seconds = 0;      // the test evaluation
};

// The options that decide an element's result: budgets, test instances,
// tokens per reply, time limits and the seed (not tasks, repeats or jobs).
nlohmann::json ElementOptionsJson(const StopOptions& options);

// The content hash naming an improver's element files (16 hex digits).
std::string ImproverHash(const std::string& improver_code);

// <run_dir>/elements/<ImproverHash>-<task>-<repeat>.json; inside a round,
// <ImproverHash>-<task>-<repeat>-round<t>-call<k>.json.
std::filesystem::path ElementPath(const std::filesystem::path& run_dir, const std::string& improver_code,
                                  const std::string& task, int repeat, const ElementPlace& place = {});

// Runs one element on held-out instances, exactly as EvaluateImprover runs
// it: code, replies and solutions are kept under options.run_dir/evaluate/
// (nothing is kept when run_dir is empty). Budgets are enforced by the host.
// An error only for bad arguments (an unknown task, repeat < 0, budgets < 1)
// or when the sandbox cannot run at all; a broken improver is a result with
// failed = true.
Result<ElementResult> RunElement(const StopOptions& options, const std::string& improver_code, const std::string& task,
                                 int repeat, runtime::LanguageModel& lm, sandbox::Sandbox& box,
                                 const ElementPlace& place = {});

// The meta-utility of elements in tasks x repeats order (task-major), summed
// in that order as the in-process path sums them; an offending file is listed
// once however many elements found it.
MetaUtility CombineElements(std::span<const ElementResult> elements);

nlohmann::json ToJson(const ElementResult& element);
nlohmann::json ToJson(const MetaUtility& meta);
// kParse naming the first missing or mistyped field.
Result<ElementResult> ElementFromJson(const nlohmann::json& j);

// Written atomically: a reader sees no file or a complete one.
Status SaveElement(const std::filesystem::path& path, const ElementResult& element);
// kNotFound when there is no file; kParse, naming the file, when it is not a
// complete element result.
Result<ElementResult> LoadElement(const std::filesystem::path& path);

// The saved result of element (improver, task, repeat) in run_dir: nullopt
// when there is none; kParse, naming the file, when it is not a complete
// result of that element; given `options`, kInvalidArgument naming the
// first option that differs when it was run with other options.
Result<std::optional<ElementResult>> FindElement(const std::filesystem::path& run_dir, const std::string& improver_code,
                                                 const std::string& task, int repeat,
                                                 const StopOptions* options = nullptr, const ElementPlace& place = {});

struct Gathered {
  MetaUtility meta;                     // meaningful only when nothing is missing
  std::vector<ElementResult> elements;  // those present, tasks x repeats order
  std::vector<std::string> missing;     // "lpn repeat 3 (elements/<hash>-lpn-3.json)"
  nlohmann::json options;               // the elements' ElementOptionsJson (null when none present)
};

// Reads the element files of one improver over tasks x repeats from
// run_dir/elements/. Missing files are listed, not an error; a file that is
// not a complete element result is kParse naming it; elements run with
// different options are kInvalidArgument naming two of them.
Result<Gathered> GatherElements(const std::filesystem::path& run_dir, const std::string& improver_code,
                                const std::vector<std::string>& tasks, int repeats, const ElementPlace& place = {});

// Runs the elements of meta-utilities somewhere else than this process
// (StopOptions::element_runner): `improve run --slurm` submits each
// meta-utility's tasks x repeats elements as an array of `lmlab improve
// element` and reads back the files they save (ElementPath).
class ElementRunner {
 public:
  virtual ~ElementRunner() = default;
  // The results of improver_code's elements over tasks x repeats at
  // `place`, with `options`' budgets, protocol and seed, in tasks x repeats
  // order (task-major), each with its own counts.
  virtual Result<std::vector<ElementResult>> Run(const StopOptions& options, const std::string& improver_code,
                                                 const std::vector<std::string>& tasks, const ElementPlace& place) = 0;
};

}  // namespace lmlab::improve
