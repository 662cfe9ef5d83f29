// `lmlab probe`: find space and time inside a GGUF model (Gurnee & Tegmark
// 2023). `run` parses its flags into probe::StudyOptions, calls
// probe::RunStudy (the demo's probe section calls the same), and prints and
// writes the report (tables, SVG plots, an animated HTML page, JSON);
// `ladder` runs lmlab's world-model ladder, `quant` the quantisation study;
// `report` re-renders a saved run. See docs/probe.md.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "cli/slurm_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/core/text.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/probe/experiment.h"
#include "lmlab/probe/ladder.h"
#include "lmlab/probe/quant_study.h"
#include "lmlab/probe/render.h"
#include "lmlab/probe/study.h"
#include "lmlab/runtime/model_files.h"

namespace lmlab::cli::probe_cmd {
namespace {

using namespace lmlab::probe;
namespace fs = std::filesystem;

struct RunOptions {
  ModelFlags model;
  std::string dataset = "world-cities";
  std::string name_column = "name", name_format;
  std::vector<std::string> target, group;
  std::string duplicates = "error", missing = "error";
  int64_t limit = 2000;
  std::string protocol = "paper";
  std::string prompt = "bare";
  std::vector<int64_t> layers;
  bool mlp = false;
  bool no_shuffle = false;
  bool no_random_model = false;
  bool no_static_embedding = false;
  std::string grid;            // "" = the protocol's
  bool paper_grid = false;     // old spelling of --grid keep
  bool random_model = false;   // old flag: the control is on by default now
  std::vector<std::string> holdout;
  std::string holdout_baseline;  // "" = the protocol's
  int64_t holdout_layer = -1;
  std::string cross_prompt;
  int neurons = 0;
  std::vector<int64_t> neuron_layers;
  std::string cache_dir;
  bool float16 = false;
  int64_t chunk = 256;
  double memory_cap_mb = 0;
  std::string out = "probe-out";
  uint64_t seed = 0;
  bool json = false;
  SlurmFlags slurm;
  int64_t capture_chunk = -1;  // >= 0: be one element of a --slurm capture
};

struct ReportOptions {
  std::string dir;
  std::string out;
  bool json = false;
};

std::atomic<bool> g_cancel{false};
extern "C" void OnSigint(int) { g_cancel = true; }

DuplicatePolicy ParseDuplicates(const std::string& s) {
  if (s == "error") return DuplicatePolicy::kError;
  if (s == "first") return DuplicatePolicy::kKeepFirst;
  if (s == "drop") return DuplicatePolicy::kDropAll;
  throw UsageError("--duplicates must be error, first or drop (got '" + s + "')");
}

MissingPolicy ParseMissing(const std::string& s) {
  if (s == "error") return MissingPolicy::kError;
  if (s == "drop") return MissingPolicy::kDrop;
  throw UsageError("--missing must be error or drop (got '" + s + "')");
}

template <typename T>
T OrUsage(Result<T> r, std::string_view flag) {
  if (!r) throw UsageError(std::string(flag) + ": " + r.error().message);
  return std::move(*r);
}

// The flags as the library's options (everything but the model path).
StudyOptions ToStudy(const RunOptions& o) {
  if (o.limit < 0) throw UsageError("--limit must be 0 (all) or positive");
  if (o.chunk <= 0) throw UsageError("--chunk must be positive");
  if (o.neurons < 0) throw UsageError("--neurons must be 0 (off) or positive");
  if (!o.neuron_layers.empty() && o.neurons == 0) throw UsageError("--neuron-layers needs --neurons K");
  if (o.memory_cap_mb < 0) throw UsageError("--memory-cap must be 0 (none) or positive");
  StudyOptions s;
  s.protocol = OrUsage(ParseProtocol(o.protocol), "--protocol");
  s.prompt = OrUsage(ParsePromptTemplate(o.prompt), "--prompt");
  if (!o.cross_prompt.empty()) s.cross_prompt = OrUsage(ParsePromptTemplate(o.cross_prompt), "--cross-prompt");
  s.dataset.source = o.dataset;
  s.dataset.limit = o.limit;
  s.dataset.seed = o.seed;
  s.dataset.csv.name_column = o.name_column;
  s.dataset.csv.name_format = o.name_format;
  s.dataset.csv.target_columns = o.target;
  s.dataset.csv.group_columns = o.group;
  s.dataset.csv.duplicates = ParseDuplicates(o.duplicates);
  s.dataset.csv.missing = ParseMissing(o.missing);
  s.layers = o.layers;
  s.mlp = o.mlp ? MlpControl::kOn : MlpControl::kOff;
  s.shuffle = o.no_shuffle ? ShuffleControl::kOff : ShuffleControl::kOn;
  s.random_model = o.no_random_model ? RandomModelControl::kOff : RandomModelControl::kOn;
  s.static_embedding = o.no_static_embedding ? StaticEmbeddingControl::kOff : StaticEmbeddingControl::kOn;
  if (o.paper_grid) s.grid_edge = GridEdge::kKeep;
  if (o.grid == "keep") s.grid_edge = GridEdge::kKeep;
  else if (o.grid == "extend") s.grid_edge = GridEdge::kExtend;
  else if (!o.grid.empty()) throw UsageError("--grid must be keep or extend (got '" + o.grid + "')");
  s.holdout = o.holdout;
  if (o.holdout_baseline == "standard") s.holdout_baseline = HoldoutBaseline::kStandardSplit;
  else if (o.holdout_baseline == "kfold") s.holdout_baseline = HoldoutBaseline::kKFold;
  else if (!o.holdout_baseline.empty())
    throw UsageError("--holdout-baseline must be standard or kfold (got '" + o.holdout_baseline + "')");
  s.holdout_layer = o.holdout_layer;
  s.neurons = o.neurons;
  s.neuron_layers = o.neuron_layers;
  if (!o.cache_dir.empty()) s.cache_root = o.cache_dir;
  s.dtype = o.float16 ? StoreDtype::kFloat16 : StoreDtype::kFloat32;
  s.chunk_prompts = o.chunk;
  s.memory_cap_bytes = static_cast<uint64_t>(o.memory_cap_mb * 1024 * 1024);
  s.seed = o.seed;
  return s;
}

// One element of `probe run --slurm`: chunk `chunk` of the main capture.
int CaptureElement(const StudyOptions& study, int64_t chunk) {
  CaptureStats st = OrExit(CaptureStudyChunk(study, chunk));
  std::cout << fmt::format("chunk {}: {}\n", chunk,
                           st.captured ? fmt::format("{} prompts captured in {:.1f} s", st.captured, st.capture_seconds)
                                       : std::string("already captured"));
  return 0;
}

enum class Next { kStudy, kStop };

// --slurm: the main capture's chunks as a Slurm array, each element this
// very command with --capture-chunk; RunStudy then assembles them.
Next CaptureOnSlurm(const RunOptions& o, const StudyOptions& study, ProgressBar& bar) {
  if (study.memory_cap_bytes > 0)
    throw UsageError("--memory-cap: a --slurm capture is sharded by --chunk; leave --memory-cap out");
  StudyCapturePlan plan = OrExit(PlanStudyCapture(study));
  if (plan.chunks == 0) {
    if (!o.slurm.dry_run) return Next::kStudy;
    std::cout << "# " << plan.entry.string() << " is complete: nothing to submit\n";
    return Next::kStop;
  }
  sched::ArrayJob job;
  job.name = "lmlab-probe-capture";
  job.command = ElementCommandFromSelf({"--capture-chunk", "{element}"});
  job.size = int(plan.chunks);
  job.state_dir = fs::absolute(plan.entry / "partial" / "slurm");  // removed with the chunks once assembled
  job.work_dir = fs::current_path();                 // the command's relative paths
  sched::FollowOptions follow;
  follow.result_exists = [entry = plan.entry](int c) { return fs::exists(ChunkFile(entry, c)); };
  if (o.slurm.dry_run) {
    PrintDryRun(o.slurm, job, follow);
    return Next::kStop;
  }
  follow.progress = bar.Callback();
  RunElementsOrExit(o.slurm, job, follow);
  return Next::kStudy;
}

int RunProbe(const RunOptions& o) {
  StudyOptions study = ToStudy(o);
  if (!o.model.spec.endpoint.empty())
    throw UsageError("probe reads activations inside the model: pass a local GGUF with --model, not --endpoint");
  ProgressBar bar;
  ModelFlags flags = o.model;
  UseDefaultModelIfNone(flags, bar);
  CheckModelFlags(flags);
  study.model = flags.spec;
  study.progress = bar.Callback();
  study.cancel = &g_cancel;
  std::signal(SIGINT, OnSigint);
  if (o.capture_chunk >= 0) return CaptureElement(study, o.capture_chunk);
  if (o.slurm.Enabled() && CaptureOnSlurm(o, study, bar) == Next::kStop) return 0;
  auto report = RunStudy(study);
  bar.Finish();
  if (!report && report.error().code == ErrorCode::kInvalidArgument) {
    // Settings the data or model cannot take: say which flag.
    const std::string& m = report.error().message;
    if (m.starts_with("hold-out column")) throw UsageError("--holdout: " + m);
    if (m.starts_with("neuron layer")) throw UsageError("--neuron-layers: " + m);
    if (m.starts_with("layer ")) throw UsageError("--layers: " + m);
    if (m.starts_with("dataset '")) throw UsageError("--dataset: " + m);
    if (m.find("memory cap") != std::string::npos) throw UsageError("--memory-cap: " + m);
  }
  ProbeReport r = OrExit(std::move(report));
  auto files = OrExit(WriteReportFiles(r, o.out));
  const std::vector<std::string> warnings = DegenerateFindings(r);
  if (o.json) {
    nlohmann::json j = r;
    j["warnings"] = warnings;
    // The whole process's high-water mark (model, llama.cpp buffers and all),
    // next to the library's count of activation bytes (peak_activation_bytes).
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    j["process_peak_rss_bytes"] = static_cast<int64_t>(usage.ru_maxrss) * 1024;
    PrintJson(j);
    return 0;
  }
  std::cout << RenderReportText(r);
  for (const std::string& w : warnings) std::cout << "warning: " << w << "\n";
  std::cout << fmt::format("\nActivations: {} ({} prompts captured now in {:.1f} s{})\n", r.cache_dir,
                           r.captured_prompts, r.capture_seconds, r.capture_from_cache ? ", all from the cache" : "");
  if (!r.mlp_capture.empty()) std::cout << r.mlp_capture << "\n";
  std::cout << fmt::format("Wrote {} files to {}; open {}\n", files.size(), o.out, (fs::path(o.out) / "index.html").string());
  return 0;
}

struct LadderCliOptions {
  std::vector<std::string> rungs;
  std::vector<std::string> datasets = {"world-model-places", "world-model-people"};
  std::string protocol = "paper";
  bool no_mlp = false;
  bool no_holdout = false;
  std::string cache_dir;
  int threads = 0;
  double memory_cap_mb = 0;
  uint64_t seed = 0;
  std::string out = "probe-ladder";
  bool json = false;
};

int RunLadderCommand(const LadderCliOptions& o) {
  if (o.memory_cap_mb < 0) throw UsageError("--memory-cap must be 0 (none) or positive");
  LadderOptions l;
  l.rungs = o.rungs;
  l.datasets = o.datasets;
  l.protocol = OrUsage(ParseProtocol(o.protocol), "--protocol");
  l.mlp = o.no_mlp ? MlpControl::kOff : MlpControl::kOn;
  l.holdout = !o.no_holdout;
  if (!o.cache_dir.empty()) l.cache_root = o.cache_dir;
  l.threads = o.threads;
  l.memory_cap_bytes = static_cast<uint64_t>(o.memory_cap_mb * 1024 * 1024);
  l.seed = o.seed;
  ProgressBar bar;
  l.progress = bar.Callback();
  std::signal(SIGINT, OnSigint);
  auto report = RunLadder(l);
  bar.Finish();
  if (!report && report.error().message.starts_with("no world-model rung")) throw UsageError("--rung: " + report.error().message);
  LadderReport r = OrExit(std::move(report));
  OrExit(WriteLadderFiles(r, o.out));
  if (o.json) {
    PrintJson(nlohmann::json(r));
    return 0;
  }
  std::cout << RenderLadderText(r);
  std::cout << fmt::format("Wrote {}; open {}\n", (fs::path(o.out) / "ladder.json").string(),
                           (fs::path(o.out) / "ladder.html").string());
  return 0;
}

struct QuantCliOptions {
  RunOptions run;
  std::vector<std::string> types = {"F32", "F16", "Q8_0", "Q4_K"};
  std::string models_dir;
  bool json = false;
};

int RunQuantCommand(const QuantCliOptions& o) {
  QuantStudyOptions q;
  q.study = ToStudy(o.run);
  q.study.random_model = RandomModelControl::kOff;  // one twin would serve every type: skipped for time
  q.types.clear();
  for (const auto& t : o.types) q.types.push_back(OrUsage(runtime::ParseQuantType(t), "--types"));
  if (!o.models_dir.empty()) q.models_dir = o.models_dir;
  ProgressBar bar;
  ModelFlags flags = o.run.model;
  UseDefaultModelIfNone(flags, bar);
  CheckModelFlags(flags);
  q.study.model = flags.spec;
  q.study.progress = bar.Callback();
  auto report = RunQuantStudy(q);
  bar.Finish();
  if (!report && report.error().message.find("is quantised") != std::string::npos)
    throw UsageError("--model: " + report.error().message);
  QuantStudyReport r = OrExit(std::move(report));
  if (o.json) {
    PrintJson(nlohmann::json(r));
    return 0;
  }
  std::cout << RenderQuantText(r);
  return 0;
}

int RunReport(const ReportOptions& o) {
  fs::path dir = o.dir;
  fs::path json_path = fs::is_directory(dir) ? dir / "report.json" : dir;
  std::string text = OrExit(ReadFile(json_path));
  ProbeReport report = OrExit(ParseReport(text));
  if (!o.out.empty()) OrExit(WriteReportFiles(report, o.out));
  if (o.json) {
    PrintJson(nlohmann::json(report));
    return 0;
  }
  std::cout << RenderReportText(report);
  if (!o.out.empty()) std::cout << "\nWrote " << (fs::path(o.out) / "index.html").string() << "\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* probe = AddCommand(
      app, "probe", "Find space and time inside a model: linear probes on every layer's activations",
      "  lmlab probe run                                       # default model, 2,000 world cities\n"
      "  lmlab probe run --model m.gguf --dataset people --prompt question --mlp\n"
      "  lmlab probe run --model m.gguf --dataset world_place.csv \\\n"
      "      --duplicates first --limit 5000 --holdout country\n"
      "  lmlab probe ladder                                    # lmlab's world models, every size\n"
      "  lmlab probe quant --model m.gguf                      # F32, F16, Q8_0, Q4_K of one model\n"
      "  lmlab probe report probe-out\n");
  probe->require_subcommand(1, 1);
  {
    auto o = std::make_shared<RunOptions>();
    CLI::App* sub = AddCommand(
        *probe, "run", "Capture activations, fit a probe per layer, compare with controls, write plots",
        "  lmlab probe run --model tiny.gguf --dataset world-cities --limit 500\n"
        "  lmlab probe run --model m.gguf --dataset events --prompt question --mlp --json\n"
        "  lmlab probe run --model m.gguf --dataset us-places --holdout state --protocol lmlab\n"
        "  lmlab probe run --model m.gguf --dataset art.csv --name-format \"{title} by {creator}\" \\\n"
        "      --duplicates first --holdout decade --cross-prompt caps --neurons 5\n"
        "Datasets: world-cities, us-places, people, events, world-model-places, world-model-people\n"
        "(installed packages), or a CSV with a name column and latitude+longitude or a year/date column.\n"
        "Controls (shuffled targets, random-init twin, static embedding) run by default. Ctrl-C during\n"
        "capture keeps what was captured; run the same command again to resume.\n");
    AddModelFlags(sub, o->model);
    AddSlurmFlags(sub, o->slurm);
    sub->add_option("--capture-chunk", o->capture_chunk,
                    "Capture only this chunk of the activations and stop (an element of a --slurm run)")
        ->group("");
    sub->option_defaults()->group("Data");
    sub->add_option("--dataset,-d", o->dataset, "Built-in dataset or CSV file")->capture_default_str();
    sub->add_option("--limit", o->limit, "Entities to use (the most prominent first; 0 = all)")->capture_default_str();
    sub->add_option("--name-column", o->name_column, "CSV: column with the entity name")->capture_default_str();
    sub->add_option("--name-format", o->name_format, "CSV: entity text from columns, e.g. \"{title} by {creator}\"");
    sub->add_option("--target", o->target, "CSV: target columns (latitude longitude, or one year/date column)");
    sub->add_option("--group", o->group, "CSV: group columns kept for hold-outs (default: known ones)");
    sub->add_option("--duplicates", o->duplicates, "CSV: repeated names: error, first (keep the first), drop")
        ->capture_default_str();
    sub->add_option("--missing", o->missing, "CSV: rows with empty/NaN targets: error or drop")->capture_default_str();
    sub->add_option("--prompt", o->prompt, "Prompt template: bare, question, caps, random")->capture_default_str();
    sub->option_defaults()->group("Experiments");
    sub->add_option("--protocol", o->protocol,
                    "paper: Gurnee & Tegmark's prompts, name rewrites, penalty grid by model size and hold-out "
                    "(fixed penalty, 20 blocks, standard-split baseline); lmlab: lmlab's variants (docs/probe.md)")
        ->capture_default_str();
    sub->add_option("--layers", o->layers, "Layers to probe (default: all)");
    sub->add_flag("--mlp", o->mlp, "Also fit the MLP control probe (256 ReLU, AdamW)");
    sub->add_flag("--no-shuffle", o->no_shuffle, "Skip the shuffled-target control");
    sub->add_flag("--no-random-model", o->no_random_model,
                  "Skip the random-init control (the same prompts through a twin of the model with random weights)");
    sub->add_flag("--no-static-embedding", o->no_static_embedding,
                  "Skip the static-embedding control (the probe on the mean of the name's token embeddings)");
    sub->add_option("--grid", o->grid,
                    "Penalty grid edges: keep (RidgeCV, the paper's default) or extend past an end while the "
                    "leave-one-out error falls (lmlab's default)");
    sub->add_flag("--paper-grid", o->paper_grid, "Same as --grid keep")->group("");
    sub->add_flag("--random-model-control", o->random_model, "On by default now (see --no-random-model)")->group("");
    sub->add_option("--holdout", o->holdout, "Block hold-out by this group column (country, state, decade, ...)");
    sub->add_option("--holdout-baseline", o->holdout_baseline,
                    "What a held-out block is compared with: standard (the paper: the train/test split's probe) or "
                    "kfold (lmlab: 5-fold cross-fitted); default: the protocol's");
    sub->add_option("--holdout-layer", o->holdout_layer, "Layer of the hold-out (default: the best probe layer)");
    sub->add_option("--cross-prompt", o->cross_prompt, "Test the probe on activations of another template");
    sub->add_option("--neurons", o->neurons,
                    "Top-k per target: residual units and MLP neurons by activation correlation, and by probe "
                    "weight alignment (0 = off)")
        ->capture_default_str();
    sub->add_option("--neuron-layers", o->neuron_layers,
                    "Blocks whose MLP neurons to rank by activation (default: the best probe layer). Their "
                    "n_ff-wide activations are captured (and cached) for these blocks only, in a second pass");
    sub->add_option("--seed", o->seed, "Seed for splits, prompts and controls")->capture_default_str();
    sub->option_defaults()->group("Output");
    sub->add_option("--cache-dir", o->cache_dir, "Activation cache root (default: <cache>/lmlab/probe)");
    sub->add_flag("--float16", o->float16, "Store cached activations as float16");
    sub->add_option("--chunk", o->chunk, "Prompts per resumable capture chunk")->capture_default_str();
    sub->add_option("--memory-cap", o->memory_cap_mb,
                    "MB of activations held at once (0 = no cap): capture streams to disk chunk by chunk and layers "
                    "too big for it are probed from streamed rows (docs/probe.md: memory)")
        ->capture_default_str();
    sub->add_option("--out,-o", o->out, "Directory for report.json, SVG plots and index.html")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the report as JSON");
    SetRun(sub, [o] { return RunProbe(*o); });
  }
  {
    auto o = std::make_shared<LadderCliOptions>();
    CLI::App* sub = AddCommand(
        *probe, "ladder",
        "Probe every size of lmlab's world models (trained on relations only) for a map and a timeline, with the "
        "controls, the MLP probe and block hold-outs; missing rungs are trained first",
        "  lmlab probe ladder                          # every rung, places and people\n"
        "  lmlab probe ladder --rung s --rung m --dataset world-model-places --json\n"
        "Writes <out>/ladder.json, <out>/ladder.html and a report directory per run. See docs/probe.md.\n");
    sub->add_option("--rung", o->rungs, "Rungs to probe (default: all, smallest first)");
    sub->add_option("--dataset", o->datasets, "Datasets (default: world-model-places world-model-people)");
    sub->add_option("--protocol", o->protocol, "paper or lmlab (see probe run --help)")->capture_default_str();
    sub->add_flag("--no-mlp", o->no_mlp, "Skip the MLP probe");
    sub->add_flag("--no-holdout", o->no_holdout, "Skip the block hold-outs");
    sub->add_option("--cache-dir", o->cache_dir, "Activation cache root (default: <cache>/lmlab/probe)");
    sub->add_option("--threads", o->threads, "Threads for training and llama.cpp (0 = defaults)")->capture_default_str();
    sub->add_option("--memory-cap", o->memory_cap_mb, "MB of activations held at once (0 = no cap)")->capture_default_str();
    sub->add_option("--seed", o->seed, "Seed for prompts, controls and folds")->capture_default_str();
    sub->add_option("--out,-o", o->out, "Output directory")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the ladder as JSON");
    SetRun(sub, [o] { return RunLadderCommand(*o); });
  }
  {
    auto o = std::make_shared<QuantCliOptions>();
    CLI::App* sub = AddCommand(
        *probe, "quant",
        "Probe the same model at F32, F16, Q8_0 and Q4_K (llama.cpp's quantiser) on the same entities: R^2 and "
        "probe-direction cosine per layer",
        "  lmlab probe quant --model world-l.gguf --dataset world-model-places --limit 0\n"
        "  lmlab probe quant --model m-f16.gguf --types F16 Q8_0 Q4_K --json\n");
    AddModelFlags(sub, o->run.model);
    sub->add_option("--dataset,-d", o->run.dataset, "Built-in dataset or CSV file")->capture_default_str();
    sub->add_option("--limit", o->run.limit, "Entities to use (0 = all)")->capture_default_str();
    sub->add_option("--protocol", o->run.protocol, "paper or lmlab")->capture_default_str();
    sub->add_option("--prompt", o->run.prompt, "Prompt template")->capture_default_str();
    sub->add_option("--types", o->types, "Types to compare, the first is the reference")->capture_default_str();
    sub->add_option("--models-dir", o->models_dir, "Where the quantised copies go (default: <cache>/probe/quantised)");
    sub->add_option("--cache-dir", o->run.cache_dir, "Activation cache root (default: <cache>/lmlab/probe)");
    sub->add_option("--seed", o->run.seed, "Seed")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the study as JSON");
    SetRun(sub, [o] { return RunQuantCommand(*o); });
  }
  {
    auto o = std::make_shared<ReportOptions>();
    CLI::App* sub = AddCommand(*probe, "report", "Show a saved probe run again (tables, JSON, or new plots)",
                               "  lmlab probe report probe-out\n"
                               "  lmlab probe report probe-out/report.json --json\n"
                               "  lmlab probe report probe-out --out elsewhere\n");
    sub->add_option("dir", o->dir, "Output directory of 'probe run' (or its report.json)")->required();
    sub->add_option("--out,-o", o->out, "Write the plots and page again into this directory");
    sub->add_flag("--json", o->json, "Print the report as JSON");
    SetRun(sub, [o] { return RunReport(*o); });
  }
}

}  // namespace lmlab::cli::probe_cmd
