// `lmlab improve`: STOP, the Self-Taught Optimizer, in a real sandbox with
// host-enforced budgets. See docs/improve.md.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "cli/slurm_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/parse.h"
#include "lmlab/core/table.h"
#include "lmlab/improve/element.h"
#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/render.h"
#include "lmlab/improve/replay_model.h"
#include "lmlab/improve/run_dir.h"
#include "lmlab/improve/stop.h"

namespace lmlab::cli::improve_cmd {
namespace {

using namespace lmlab::improve;
namespace fs = std::filesystem;

// --model/--endpoint (cli/model_flags.h) or --replay.
struct ModelChoice {
  ModelFlags m;
  std::string replay;  // TEST FIXTURE model
};

// The flags that decide one element's result (ElementOptionsJson).
struct ElementFlags {
  std::string protocol = "paper";
  std::string seed_improver = "paper";
  std::string sandbox_warning = "shown";
  int test_instances = kPaperTestInstances;
  ImproverBudgets budgets;
  int max_tokens = 1024;
  double time_limit_scale = 1.0;
  double improver_wall = 900;
  uint64_t seed = 0;
};

// What the meta-utility adds: repeats per task, elements side by side.
struct LoopFlags {
  int repeats = 5;
  int jobs = 1;
  ElementFlags element;
};

struct RunOptions {
  ModelChoice model;
  SlurmFlags slurm;
  std::string task = "lpn";
  std::vector<std::string> tasks;
  std::string run_dir;
  int rounds = 6;
  LoopFlags loop;
  bool json = false;
};

struct ReportOptions {
  std::string run_dir, plot;
  bool json = false;
};

struct TransferOptions {
  ModelChoice model;
  SlurmFlags slurm;
  std::string run_dir, improver_file;
  std::vector<std::string> tasks;
  LoopFlags loop{.repeats = 3, .jobs = 1, .element = {}};
  bool json = false;
};

struct TasksOptions {
  bool json = false;
};

struct EvalCmdOptions {
  std::string task = "lpn", solution_file;
  int instances = 20;
  uint64_t seed = 0;
  double time_limit_scale = 1.0;
  bool json = false;
};

struct ElementOptions {
  ModelChoice model;
  std::string run_dir, improver_file, task;
  int repeat = -1;
  // An array element: index into tasks x repeats (task-major), and where in
  // the run it belongs (ElementPlace).
  int index = -1;
  std::vector<std::string> tasks;
  int repeats = 0;
  std::string files_dir = "evaluate";
  int round = 0;
  int64_t call = -1;
  ElementFlags element;
  bool json = false;
};

struct GatherOptions {
  std::string run_dir, improver_file;
  std::vector<std::string> tasks;
  int repeats = 5;
  bool json = false;
};

// An integer flag's lower bound, said in the flag's terms: "--jobs: must be >= 1 (got 0)".
CLI::Validator AtLeast(int64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        Result<int64_t> v = ParseInt(text, "value");
        if (!v) return "";  // not an integer: CLI11's conversion says so
        return *v < min ? fmt::format("must be >= {} (got {})", min, *v) : "";
      },
      "");
}

void AddModelChoice(CLI::App* s, ModelChoice& o) {
  AddModelFlags(s, o.m);
  s->add_option("--replay", o.replay, "TEST FIXTURE: serve recorded completions from a JSONL file (offline checks)")
      ->group("Model");
}

std::unique_ptr<runtime::LanguageModel> OpenModelFromFlags(const ModelChoice& o) {
  if (!o.replay.empty()) {
    if (!o.m.spec.gguf_path.empty() || !o.m.spec.endpoint.empty())
      throw UsageError("give one of --model, --endpoint or --replay, not several");
    return MakeReplayModel(OrExit(LoadReplayFile(o.replay)));
  }
  if (o.m.spec.gguf_path.empty() && o.m.spec.endpoint.empty())
    throw UsageError("no model given: pass --model PATH.gguf, --endpoint URL --api-model NAME, or --replay "
                     "FILE.jsonl (a test fixture)");
  return OpenModelOrExit(o.m);
}

// Checks task names before anything slow (opening a model) happens.
void CheckTasks(const std::vector<std::string>& tasks) {
  for (const auto& t : tasks) OrExit(FindTask(t));
}

StopOptions ToStopOptions(const ElementFlags& f, int repeats = 1, int jobs = 1) {
  StopOptions s;
  s.repeats = repeats;
  s.jobs = jobs;
  s.protocol = f.protocol == "paper" ? Protocol::kPaper : Protocol::kLmlab;
  s.seed_improver = f.seed_improver == "paper" ? SeedImproverKind::kPaper : SeedImproverKind::kKeepBest;
  s.sandbox_warning = f.sandbox_warning == "shown" ? SandboxWarning::kShown : SandboxWarning::kOmitted;
  s.test_instances = f.test_instances;
  s.budgets = f.budgets;
  s.improver_wall_seconds = f.improver_wall;
  s.max_tokens = f.max_tokens;
  s.time_limit_scale = f.time_limit_scale;
  s.seed = f.seed;
  return s;
}

void AddElementFlags(CLI::App* s, ElementFlags& o) {
  s->option_defaults()->group("STOP");
  s->add_option("--protocol", o.protocol,
                "paper: every utility call on the same 20 fixed validation instances, final solutions on the "
                "same fixed test instances (as the paper's code); lmlab: fresh instances per call")
      ->check(CLI::IsMember({"paper", "lmlab"}))
      ->capture_default_str();
  s->add_option("--seed-improver", o.seed_improver,
                "paper: I0 returns the best new rewrite even if worse; keep-best: I0 keeps the initial "
                "solution unless a rewrite beats it")
      ->check(CLI::IsMember({"paper", "keep-best"}))
      ->capture_default_str();
  s->add_option("--sandbox-warning", o.sandbox_warning,
                "The paper's sandbox ablation: show (shown) or leave out (omitted) the warning against "
                "use_sandbox=False in the meta-utility's description")
      ->check(CLI::IsMember({"shown", "omitted"}))
      ->capture_default_str();
  s->add_option("--test-instances", o.test_instances, "Instances scoring each final solution")
      ->check(AtLeast(1))
      ->capture_default_str();
  s->add_option("--samples", o.budgets.samples_per_call, "Budget: replies per model call")
      ->check(AtLeast(1))
      ->capture_default_str();
  s->add_option("--lm-calls", o.budgets.lm_calls, "Budget: model calls per improver run")
      ->check(AtLeast(1))
      ->capture_default_str();
  s->add_option("--utility-calls", o.budgets.utility_calls, "Budget: utility calls per improver run")
      ->check(AtLeast(1))
      ->capture_default_str();
  s->add_option("--max-tokens", o.max_tokens, "Tokens per reply")->capture_default_str();
  s->add_option("--time-limit-scale", o.time_limit_scale, "Multiply the tasks' per-instance time limits")
      ->capture_default_str();
  s->add_option("--improver-wall", o.improver_wall, "Seconds per improver run, model time excluded")
      ->capture_default_str();
  s->add_option("--seed", o.seed, "Seed of the instance streams and sampling")->capture_default_str();
}

void AddLoopFlags(CLI::App* s, LoopFlags& o) {
  s->option_defaults()->group("STOP");
  s->add_option("--repeats", o.repeats, "Meta-utility repetitions per task")
      ->check(AtLeast(1))
      ->capture_default_str();
  AddElementFlags(s, o.element);
  s->add_option("--jobs", o.jobs, "Parallel sandboxes")->check(AtLeast(1))->capture_default_str();
}

// A run directory made by `improve run` defines the options of the elements
// run in it: flags left out take its config.json values, a flag given with
// another value is refused. Given `tasks` and `repeats` (gather), those
// default to the run's too.
void TakeRunConfig(CLI::App* sub, const std::string& run_dir, ElementFlags& f,
                   std::vector<std::string>* tasks = nullptr, int* repeats = nullptr) {
  std::optional<RecordedOptions> recorded = OrExit(ReadRunConfig(run_dir));
  if (!recorded) return;
  auto take = [&](const auto& value, const char* flag, auto& field, bool must_agree) {
    if (!value) return;
    CLI::Option* given = sub->get_option_no_throw(flag);
    if (given == nullptr || given->count() == 0)
      field = *value;
    else if (must_agree && field != *value)
      throw UsageError(
          fmt::format("{} is a run with {} {} (its config.json), not {}; leave the flag out or choose "
                      "another --run-dir",
                      run_dir, flag, nlohmann::json(*value).dump(), nlohmann::json(field).dump()));
  };
  take(recorded->protocol, "--protocol", f.protocol, true);
  take(recorded->seed_improver, "--seed-improver", f.seed_improver, true);
  take(recorded->sandbox_warning, "--sandbox-warning", f.sandbox_warning, true);
  take(recorded->test_instances, "--test-instances", f.test_instances, true);
  take(recorded->samples_per_call, "--samples", f.budgets.samples_per_call, true);
  take(recorded->lm_calls, "--lm-calls", f.budgets.lm_calls, true);
  take(recorded->utility_calls, "--utility-calls", f.budgets.utility_calls, true);
  take(recorded->max_tokens, "--max-tokens", f.max_tokens, true);
  take(recorded->time_limit_scale, "--time-limit-scale", f.time_limit_scale, true);
  take(recorded->improver_wall_seconds, "--improver-wall", f.improver_wall, true);
  take(recorded->seed, "--seed", f.seed, true);
  if (tasks) take(recorded->tasks, "--tasks", *tasks, false);
  if (repeats) take(recorded->repeats, "--repeats", *repeats, false);
}

std::unique_ptr<sandbox::Sandbox> OpenSandbox() {
  OrExit(sandbox::CheckBubblewrap());
  return sandbox::MakeBubblewrapSandbox();
}

// The model flags again, for element commands run elsewhere (paths absolute).
std::vector<std::string> ModelArgv(const ModelChoice& o) {
  if (!o.replay.empty()) return {"--replay", fs::absolute(o.replay).string()};
  const runtime::ModelSpec& s = o.m.spec;
  std::vector<std::string> argv;
  if (!s.gguf_path.empty()) argv = {"--model", fs::absolute(s.gguf_path).string()};
  else argv = {"--endpoint", s.endpoint, "--api-model", s.api_model, "--api-key-env", s.api_key_env};
  for (auto [flag, value] : {std::pair{"--threads", s.threads}, {"--ctx", s.n_ctx}, {"--gpu-layers", s.n_gpu_layers}})
    if (value != 0) argv.insert(argv.end(), {flag, std::to_string(value)});
  return argv;
}

// The flags that decide an element's result (ElementOptionsJson), as
// `improve element` reads them back.
std::vector<std::string> ElementArgv(const StopOptions& o) {
  return {"--protocol", ProtocolName(o.protocol), "--seed-improver", SeedImproverName(o.seed_improver),
          "--sandbox-warning", SandboxWarningName(o.sandbox_warning), "--test-instances",
          std::to_string(o.test_instances), "--samples", std::to_string(o.budgets.samples_per_call), "--lm-calls",
          std::to_string(o.budgets.lm_calls), "--utility-calls", std::to_string(o.budgets.utility_calls),
          "--max-tokens", std::to_string(o.max_tokens), "--time-limit-scale", fmt::format("{}", o.time_limit_scale),
          "--improver-wall", fmt::format("{}", o.improver_wall_seconds), "--seed", std::to_string(o.seed)};
}

// `improve run --slurm` and `transfer --slurm`: each meta-utility's
// elements as one Slurm array of `lmlab improve element --index {element}`
// under <elements_dir>/slurm/, read back from the element files.
class SlurmElements final : public ElementRunner {
 public:
  SlurmElements(sched::SlurmSettings settings, std::vector<std::string> model_argv, fs::path elements_dir,
                ProgressCallback progress)
      : settings_(std::move(settings)),
        model_argv_(std::move(model_argv)),
        dir_(fs::absolute(elements_dir)),
        progress_(std::move(progress)) {}

  // The array job of one meta-utility (its improver file is written by Run).
  sched::ArrayJob Job(const StopOptions& o, const std::string& code, const std::vector<std::string>& tasks,
                      const ElementPlace& place) const {
    std::string tag = place.files_dir == "." ? "transfer" : place.files_dir;
    if (!place.HeldOut()) tag += fmt::format("-call{}", place.call);
    std::string task_list;
    for (const auto& t : tasks) task_list += (task_list.empty() ? "" : ",") + t;
    sched::ArrayJob job;
    job.name = "lmlab-improve-" + tag;
    job.command = {SelfExecutable(), "improve", "element", "--run-dir", dir_.string(), "--improver",
                   ImproverFile(code).string(), "--tasks", task_list, "--repeats", std::to_string(o.repeats),
                   "--index", "{element}", "--files-dir", place.files_dir};
    if (!place.HeldOut())
      job.command.insert(job.command.end(), {"--round", std::to_string(place.round), "--call", std::to_string(place.call)});
    job.command.insert(job.command.end(), model_argv_.begin(), model_argv_.end());
    std::vector<std::string> element = ElementArgv(o);
    job.command.insert(job.command.end(), element.begin(), element.end());
    job.size = int(tasks.size()) * o.repeats;
    job.state_dir = dir_ / "slurm" / fmt::format("{}-{}", tag, ImproverHash(code));
    return job;
  }

  sched::FollowOptions Follow(const std::string& code, const std::vector<std::string>& tasks, int repeats,
                              const ElementPlace& place) const {
    sched::FollowOptions f;
    f.progress = progress_;
    f.result_exists = [=, dir = dir_](int i) {
      return fs::exists(ElementPath(dir, code, tasks[size_t(i / repeats)], i % repeats, place));
    };
    return f;
  }

  Result<std::vector<ElementResult>> Run(const StopOptions& o, const std::string& code,
                                         const std::vector<std::string>& tasks, const ElementPlace& given) override {
    ElementPlace place = given;
    if (files_dir_) place.files_dir = *files_dir_;
    fs::path file = ImproverFile(code);
    if (!fs::exists(file)) LMLAB_RETURN_IF_ERROR(WriteFileAtomic(file, code));
    LMLAB_RETURN_IF_ERROR(RunOnSlurm(settings_, Job(o, code, tasks, place), Follow(code, tasks, o.repeats, place)));
    std::vector<ElementResult> results;
    for (const auto& task : tasks)
      for (int r = 0; r < o.repeats; ++r) {
        LMLAB_ASSIGN_OR_RETURN(std::optional<ElementResult> e, FindElement(dir_, code, task, r, &o, place));
        if (!e)
          return Internal(fmt::format("{} repeat {} finished but left no {}", task, r,
                                      ElementPath(dir_, code, task, r, place).string()));
        results.push_back(std::move(*e));
      }
    return results;
  }

  // Transfer keeps its elements' files directly in the elements directory.
  void KeepFilesIn(std::string files_dir) { files_dir_ = std::move(files_dir); }

 private:
  fs::path ImproverFile(const std::string& code) const {
    return dir_ / "slurm" / "improvers" / (ImproverHash(code) + ".py");
  }

  sched::SlurmSettings settings_;
  std::vector<std::string> model_argv_;
  fs::path dir_;
  ProgressCallback progress_;
  std::optional<std::string> files_dir_;
};

// --dry-run: the first array the command would submit.
int PrintFirstArray(const SlurmFlags& flags, SlurmElements& slurm, const StopOptions& s, const std::string& improver,
                    const std::vector<std::string>& tasks, const ElementPlace& place) {
  PrintDryRun(flags, slurm.Job(s, improver, tasks, place), slurm.Follow(improver, tasks, s.repeats, place));
  std::cout << "# the first of the command's arrays (one per meta-utility; later ones differ in the improver file, "
               "--files-dir, --round and --call)\n";
  return 0;
}

int RunCmd(const RunOptions& o) {
  if (o.run_dir.empty()) throw UsageError("--run-dir is needed (where rounds are checkpointed)");
  StopOptions s = ToStopOptions(o.loop.element, o.loop.repeats, o.loop.jobs);
  s.run_dir = o.run_dir;
  s.tasks = o.tasks.empty() ? std::vector<std::string>{o.task} : o.tasks;
  s.rounds = o.rounds;
  CheckTasks(s.tasks);
  if (auto differs = OrExit(CompareRunConfig(s.run_dir, s)))
    throw UsageError(fmt::format("{} holds a run with other options (its config.json vs these flags: {}); resume "
                                 "with the same flags or choose another --run-dir",
                                 o.run_dir, *differs));
  ProgressBar bar;
  s.progress = bar.Callback();
  std::optional<SlurmElements> slurm;
  if (o.slurm.Enabled()) {
    slurm.emplace(ResolveSlurmSettings(o.slurm), ModelArgv(o.model), o.run_dir, s.progress);
    if (o.slurm.dry_run)
      return PrintFirstArray(o.slurm, *slurm, s, SeedImprover(s.seed_improver), s.tasks, {.files_dir = "round-0"});
    s.element_runner = &*slurm;
  }
  auto lm = OpenModelFromFlags(o.model);
  auto box = OpenSandbox();
  RunSummary summary = OrExit(RunSelfImprovement(s, *lm, *box));
  bar.Finish();
  OrExit(WriteFileAtomic(fs::path(o.run_dir) / "report.svg", RenderPlotSvg(summary)));
  if (o.json) {
    PrintJson(ToJson(summary));
    return 0;
  }
  std::cout << RenderRoundsText(summary) << "\nRun directory: " << o.run_dir << " (plot: report.svg)\n";
  return 0;
}

int ReportCmd(const ReportOptions& o) {
  RunSummary s = OrExit(LoadRun(o.run_dir));
  std::string plot = o.plot.empty() ? (fs::path(o.run_dir) / "report.svg").string() : o.plot;
  OrExit(WriteFileAtomic(plot, RenderPlotSvg(s)));
  if (o.json) {
    PrintJson(ToJson(s));
    return 0;
  }
  std::cout << RenderRoundsText(s) << "\nPlot: " << plot << "\n";
  return 0;
}

int TransferCmd(const TransferOptions& o) {
  std::string improved;
  if (!o.improver_file.empty()) {
    improved = OrExit(ReadFile(o.improver_file));
  } else if (!o.run_dir.empty()) {
    RunSummary s = OrExit(LoadRun(o.run_dir));
    if (s.rounds.empty()) throw UsageError(o.run_dir + " has no finished round");
    improved = OrExit(ReadFile(fs::path(o.run_dir) / s.rounds.back().improver_file));
  } else {
    throw UsageError("give --run-dir (its final improver) or --improver FILE.py");
  }
  std::vector<std::string> tasks = o.tasks;
  if (tasks.empty()) tasks = {"parity", "maxcut", "3sat", "qap", "grid_distance"};
  CheckTasks(tasks);
  StopOptions s = ToStopOptions(o.loop.element, o.loop.repeats, o.loop.jobs);
  s.run_dir = o.run_dir;
  ProgressBar bar;
  s.progress = bar.Callback();
  std::optional<SlurmElements> slurm;
  if (o.slurm.Enabled()) {
    if (o.run_dir.empty())
      throw UsageError("--slurm needs --run-dir: the elements write their results under <run-dir>/transfer");
    // Under <run-dir>/transfer, away from the run's config.json: transfer's
    // budgets are its own flags, not the run's.
    slurm.emplace(ResolveSlurmSettings(o.slurm), ModelArgv(o.model), fs::path(o.run_dir) / "transfer", s.progress);
    slurm->KeepFilesIn(".");
    if (o.slurm.dry_run) return PrintFirstArray(o.slurm, *slurm, s, SeedImprover(s.seed_improver), {tasks[0]}, {.files_dir = "."});
    s.element_runner = &*slurm;
  }
  auto lm = OpenModelFromFlags(o.model);
  auto box = OpenSandbox();
  auto rows = OrExit(Transfer(s, improved, tasks, *lm, *box));
  bar.Finish();
  if (o.json) PrintJson(ToJson(rows));
  else std::cout << RenderTransferText(rows);
  return 0;
}

int TasksCmd(const TasksOptions& o) {
  nlohmann::json out = nlohmann::json::array();
  Table t({"task", "title", "seconds/instance", "instances/call (--protocol lmlab)"},
          {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight});
  for (const auto& name : TaskNames()) {
    Task task = OrExit(FindTask(name));
    out.push_back({{"name", task.name}, {"title", task.title}, {"description", task.description},
                   {"utility", task.utility_description}, {"time_limit_seconds", task.time_limit_seconds}});
    t.AddRow({task.name, task.title, FormatFixed(task.time_limit_seconds, 2), std::to_string(task.instances_per_call)});
  }
  if (o.json) PrintJson(out);
  else std::cout << t.Render();
  return 0;
}

int EvalCmd(const EvalCmdOptions& o) {
  Task task = OrExit(FindTask(o.task));
  std::string code = o.solution_file.empty() ? task.seed_solution : OrExit(ReadFile(o.solution_file));
  auto box = OpenSandbox();
  Evaluation e = OrExit(EvaluateSolution(*box, task, code,
                                         {.seed = MixSeed(o.seed, kPaperValidationStream), .instances = o.instances,
                                          .time_limit_scale = o.time_limit_scale}));
  // Every instance errored: the utility is 0 because nothing ran, not a measurement.
  std::vector<std::string> warnings;
  if (!e.hack.empty()) warnings.push_back("reward hack, scored 0: " + e.hack);
  if (e.instances > 0 && e.errors == e.instances)
    warnings.push_back("every instance errored, so the utility measures nothing (lmlab doctor checks python and "
                       "numpy inside the sandbox)");
  // Circle packing: the published results are sums of radii.
  std::optional<double> sum_of_radii;
  if (task.name.starts_with("circle_packing_"))
    sum_of_radii = CirclePackingSumOfRadii(task.make_instance(0).args[0].get<int>(), e.utility);
  if (o.json) {
    nlohmann::json out = {{"task", task.name}, {"utility", e.utility}, {"instances", e.instances},
                          {"errors", e.errors}, {"too_slow", e.too_slow}, {"wrong_shape", e.wrong_shape},
                          {"max_naive_value", e.max_naive_value}, {"verdict", sandbox::VerdictName(e.verdict)},
                          {"error", e.error}, {"seconds", e.seconds}, {"warnings", warnings}};
    if (sum_of_radii) out["sum_of_radii"] = *sum_of_radii;
    PrintJson(out);
    return 0;
  }
  if (sum_of_radii) std::cout << fmt::format("sum of radii {:.6f} (0 = invalid packing)\n", *sum_of_radii);
  std::cout << fmt::format("{}: utility {:.3f} over {} instances ({} errors, {} too slow, {} wrong shape; sandbox: {})\n",
                           task.name, e.utility, e.instances, e.errors, e.too_slow, e.wrong_shape,
                           sandbox::VerdictName(e.verdict));
  if (!e.error.empty()) std::cout << "first error: " << e.error.substr(0, 300) << "\n";
  for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
  return 0;
}

int ElementCmd(CLI::App* sub, ElementOptions& o) {
  TakeRunConfig(sub, o.run_dir, o.element);
  if (o.index >= 0) {
    if (o.tasks.empty() || o.repeats < 1) throw UsageError("--index needs --tasks and --repeats");
    if (o.index >= int(o.tasks.size()) * o.repeats)
      throw UsageError(fmt::format("--index: must be < {} tasks x {} repeats (got {})", o.tasks.size(), o.repeats,
                                   o.index));
    o.task = o.tasks[size_t(o.index / o.repeats)];
    o.repeat = o.index % o.repeats;
  }
  if (o.task.empty()) throw UsageError("give --task and --repeat, or --index with --tasks and --repeats");
  if (o.repeat < 0) throw UsageError("--repeat must be >= 0");
  if (o.call < -1) throw UsageError("--call must be >= 0");
  CheckTasks({o.task});
  std::string improver = OrExit(ReadFile(o.improver_file));
  StopOptions s = ToStopOptions(o.element);
  s.run_dir = o.run_dir;
  const ElementPlace place{.files_dir = o.files_dir, .round = o.round, .call = o.call};
  fs::path path = ElementPath(o.run_dir, improver, o.task, o.repeat, place);
  // Idempotent: a complete result for these options is printed, not redone.
  std::optional<ElementResult> e;
  Result<std::optional<ElementResult>> done = FindElement(o.run_dir, improver, o.task, o.repeat, &s, place);
  if (done)
    e = std::move(*done);
  else if (done.error().code == ErrorCode::kParse)
    std::cerr << "lmlab: " << done.error().message << "; running the element again\n";
  else
    throw CommandError(done.error());
  bool reused = e.has_value();
  if (!e) {
    auto lm = OpenModelFromFlags(o.model);
    auto box = OpenSandbox();
    e = OrExit(RunElement(s, improver, o.task, o.repeat, *lm, *box, place));
    OrExit(SaveElement(path, *e));
  }
  if (o.json) {
    PrintJson(ToJson(*e));
    return 0;
  }
  std::cout << fmt::format("{} repeat {}: utility {:.3f}", e->task, e->repeat, e->utility);
  if (e->failed)
    std::cout << " (failed: " << e->note.substr(0, 200) << ")";
  else
    std::cout << fmt::format(" on {} test instances", e->test_instances);
  std::cout << fmt::format(
      "; model calls {} ({} replies, {} failed, {} tokens), utility calls {} ({} failed on the host), {:.1f} s\n"
      "findings: {}\n",
      e->model_calls, e->samples, e->model_errors, FormatThousands(double(e->prompt_tokens + e->completion_tokens)),
      e->utility_calls, e->utility_errors, e->wall_seconds, RenderFindings(e->audit));
  std::cout << (reused ? "Already done, not run again: " : "Saved: ") << path.string() << "\n";
  return 0;
}

int GatherCmd(CLI::App* sub, GatherOptions& o) {
  ElementFlags ignored;  // gather reads the elements' options from their files
  TakeRunConfig(sub, o.run_dir, ignored, &o.tasks, &o.repeats);
  if (o.tasks.empty()) throw UsageError("give --tasks (the run directory has no config.json to take them from)");
  if (o.repeats < 1) throw UsageError("--repeats must be >= 1");
  CheckTasks(o.tasks);
  std::string improver = OrExit(ReadFile(o.improver_file));
  Gathered g = OrExit(GatherElements(o.run_dir, improver, o.tasks, o.repeats));
  int expected = int(o.tasks.size()) * o.repeats;
  if (!g.missing.empty()) {
    if (o.json) PrintJson({{"missing", g.missing}, {"present", g.elements.size()}, {"expected", expected}});
    std::string names;
    for (size_t i = 0; i < g.missing.size() && i < 5; ++i) names += (i ? ", " : "") + g.missing[i];
    if (g.missing.size() > 5) names += fmt::format(" and {} more", g.missing.size() - 5);
    throw CommandError(
        {ErrorCode::kNotFound, fmt::format("{} of {} elements missing in {}: {}; run them with 'lmlab improve element' "
                                           "(the same flags) first",
                                           g.missing.size(), expected, o.run_dir, names)});
  }
  if (o.json) {
    nlohmann::json j = ToJson(g.meta);
    j["improver_hash"] = ImproverHash(improver);
    j["tasks"] = o.tasks;
    j["repeats"] = o.repeats;
    j["options"] = g.options;
    PrintJson(j);
    return 0;
  }
  std::cout << fmt::format(
      "meta-utility {:.3f} over {} elements ({} failed) of improver {}; model calls {} ({} replies, {} failed, {} "
      "tokens), utility calls {} ({} failed on the host)\nfindings: {}\n",
      g.meta.value, g.meta.runs, g.meta.failed_runs, ImproverHash(improver), g.meta.model_calls, g.meta.samples,
      g.meta.model_errors, FormatThousands(double(g.meta.prompt_tokens + g.meta.completion_tokens)),
      g.meta.utility_calls, g.meta.utility_errors, RenderFindings(g.meta.audit));
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* improve = AddCommand(
      app, "improve", "STOP: recursively self-improving code generation, sandboxed, with host-enforced budgets",
      "  lmlab improve tasks\n"
      "  lmlab improve eval --task lpn\n"
      "  lmlab improve run --task lpn --rounds 6 --endpoint http://127.0.0.1:8080 --api-model gpt-4 --run-dir runs/lpn\n"
      "  lmlab improve run --task lpn --rounds 2 --replay data/improve/replay.jsonl --run-dir /tmp/stop\n"
      "  lmlab improve report --run-dir runs/lpn\n"
      "  lmlab improve transfer --run-dir runs/lpn --endpoint http://127.0.0.1:8080 --api-model gpt-4\n"
      "  lmlab improve element --run-dir runs/eval --improver I.py --task lpn --repeat 3 --model model.gguf\n"
      "  lmlab improve gather --run-dir runs/eval --improver I.py --tasks lpn --repeats 5\n");
  improve->require_subcommand(1);

  auto run_o = std::make_shared<RunOptions>();
  CLI::App* run = AddCommand(*improve, "run", "Self-improvement rounds (resumable: rerun the same command)",
                             "  lmlab improve run --task lpn --rounds 6 --model model.gguf --run-dir runs/lpn\n"
                             "  lmlab improve run --task lpn --rounds 2 --repeats 1 --replay fixture.jsonl --run-dir /tmp/stop\n");
  run->add_option("--task", run_o->task, "Training task (see 'lmlab improve tasks')")->capture_default_str();
  run->add_option("--tasks", run_o->tasks, "Several training tasks (lpn,3sat)")->delimiter(',');
  run->add_option("--rounds", run_o->rounds, "Self-improvement rounds")
      ->check(AtLeast(0))
      ->capture_default_str();
  run->add_option("--run-dir", run_o->run_dir, "Run directory: checkpoints, logs, every candidate's code");
  run->add_flag("--json", run_o->json, "Print JSON");
  AddLoopFlags(run, run_o->loop);
  AddModelChoice(run, run_o->model);
  AddSlurmFlags(run, run_o->slurm);
  SetRun(run, [run_o] { return RunCmd(*run_o); });

  auto rep_o = std::make_shared<ReportOptions>();
  CLI::App* rep = AddCommand(*improve, "report", "Per-round table and plot of a run", "  lmlab improve report --run-dir runs/lpn\n");
  rep->add_option("--run-dir", rep_o->run_dir, "Run directory")->required();
  rep->add_option("--plot", rep_o->plot, "SVG path (default: <run-dir>/report.svg)");
  rep->add_flag("--json", rep_o->json, "Print JSON");
  SetRun(rep, [rep_o] { return ReportCmd(*rep_o); });

  auto tr_o = std::make_shared<TransferOptions>();
  CLI::App* tr = AddCommand(*improve, "transfer",
                            "Score seed solution, seed improver and improved improver on other tasks",
                            "  lmlab improve transfer --run-dir runs/lpn --model model.gguf --tasks maxcut,3sat\n");
  tr->add_option("--run-dir", tr_o->run_dir, "Run whose final improver to transfer");
  tr->add_option("--improver", tr_o->improver_file, "Or an improver file");
  tr->add_option("--tasks", tr_o->tasks, "Tasks (default: parity,maxcut,3sat,qap,grid_distance)")->delimiter(',');
  tr->add_flag("--json", tr_o->json, "Print JSON");
  AddLoopFlags(tr, tr_o->loop);
  AddModelChoice(tr, tr_o->model);
  AddSlurmFlags(tr, tr_o->slurm);
  SetRun(tr, [tr_o] { return TransferCmd(*tr_o); });

  auto tasks_o = std::make_shared<TasksOptions>();
  CLI::App* tasks = AddCommand(*improve, "tasks", "List the built-in tasks", "  lmlab improve tasks --json\n");
  tasks->add_flag("--json", tasks_o->json, "Print JSON");
  SetRun(tasks, [tasks_o] { return TasksCmd(*tasks_o); });

  auto ev_o = std::make_shared<EvalCmdOptions>();
  CLI::App* ev = AddCommand(*improve, "eval", "Score one solution with a task's hidden utility, in the sandbox",
                            "  lmlab improve eval --task lpn                    # the seed solution\n"
                            "  lmlab improve eval --task lpn --solution my_lpn.py --instances 50\n");
  ev->add_option("--task", ev_o->task, "Task")->capture_default_str();
  ev->add_option("--solution", ev_o->solution_file, "Python file defining algorithm(...) (default: the seed)");
  ev->add_option("--instances", ev_o->instances, "Instances")->check(AtLeast(1))->capture_default_str();
  ev->add_option("--seed", ev_o->seed,
                 "Run seed: the instances are the fixed validation instances of `improve run --seed S` "
                 "(the first --instances of them)")
      ->capture_default_str();
  ev->add_option("--time-limit-scale", ev_o->time_limit_scale, "Multiply the per-instance time limit")
      ->capture_default_str();
  ev->add_flag("--json", ev_o->json, "Print JSON");
  SetRun(ev, [ev_o] { return EvalCmd(*ev_o); });

  auto el_o = std::make_shared<ElementOptions>();
  CLI::App* el = AddCommand(
      *improve, "element",
      "Run one (task, repeat) element of an improver's meta-utility; one already done is printed, not rerun",
      "  lmlab improve element --run-dir runs/eval --improver I.py --task lpn --repeat $SLURM_ARRAY_TASK_ID \\\n"
      "      --endpoint http://127.0.0.1:8080 --api-model gpt-4\n"
      "  lmlab improve element --run-dir runs/lpn --improver runs/lpn/improver-0.py --task lpn --repeat 0 \\\n"
      "      --model model.gguf --json   # budgets and seed: the run's\n");
  el->add_option("--run-dir", el_o->run_dir,
                 "Run directory shared by the elements (a run's config.json there sets budgets and seed)")
      ->required();
  el->add_option("--improver", el_o->improver_file,
                 "Improver: Python defining improve_algorithm(...); the result goes to "
                 "<run-dir>/elements/<its hash>-<task>-<repeat>.json")
      ->required();
  el->add_option("--task", el_o->task, "Task (see 'lmlab improve tasks')");
  el->add_option("--repeat", el_o->repeat, "Repeat index, from 0 to repeats - 1 (picks its instance seeds)");
  el->add_option("--index", el_o->index,
                 "Array index instead of --task/--repeat: element N of --tasks x --repeats, task-major "
                 "($SLURM_ARRAY_TASK_ID)")
      ->group("Array");
  el->add_option("--tasks", el_o->tasks, "With --index: the tasks (lpn,3sat)")->delimiter(',')->group("Array");
  el->add_option("--repeats", el_o->repeats, "With --index: repeats per task")->group("Array");
  el->add_option("--files-dir", el_o->files_dir,
                 "Where under --run-dir its code, replies and solutions are kept (round-<t>, evaluate, ...)")
      ->capture_default_str()
      ->group("Array");
  el->add_option("--round", el_o->round, "With --call: the round whose improver called the meta-utility")
      ->group("Array");
  el->add_option("--call", el_o->call,
                 "The improver's meta-utility call this element belongs to (its validation instances); "
                 "default: held-out instances")
      ->group("Array");
  el->add_flag("--json", el_o->json, "Print JSON (the element file)");
  AddElementFlags(el, el_o->element);
  AddModelChoice(el, el_o->model);
  SetRun(el, [el, el_o] { return ElementCmd(el, *el_o); });


  auto ga_o = std::make_shared<GatherOptions>();
  CLI::App* ga = AddCommand(
      *improve, "gather", "Average an improver's element files into its meta-utility; fails naming the missing ones",
      "  lmlab improve gather --run-dir runs/eval --improver I.py --tasks lpn,3sat --repeats 5\n"
      "  lmlab improve gather --run-dir runs/lpn --improver runs/lpn/improver-0.py   # tasks, repeats: the run's\n");
  ga->add_option("--run-dir", ga_o->run_dir, "Run directory the elements were written to")->required();
  ga->add_option("--improver", ga_o->improver_file, "The improver the elements ran")->required();
  ga->add_option("--tasks", ga_o->tasks, "Tasks (lpn,3sat; default: the run's, from its config.json)")->delimiter(',');
  ga->add_option("--repeats", ga_o->repeats, "Repeats per task (default: the run's, else 5)")->capture_default_str();
  ga->add_flag("--json", ga_o->json, "Print JSON");
  SetRun(ga, [ga, ga_o] { return GatherCmd(ga, *ga_o); });
}

}  // namespace lmlab::cli::improve_cmd
