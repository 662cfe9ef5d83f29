// `lmlab probe`: find space and time inside a GGUF model (Gurnee & Tegmark
// 2023). `run` captures residual-stream activations (cached as .npy), fits a
// ridge probe per layer with controls, and writes tables, SVG plots and an
// animated HTML page; with --neurons it also ranks MLP neurons of chosen
// blocks by their activations (captured for those blocks only) and by weight
// alignment. `report` re-renders a saved run. See docs/probe.md.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/core/text.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/probe/experiment.h"
#include "lmlab/probe/render.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/runtime/tiny_model.h"
#include "lmlab/train/default_model.h"

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
  std::string prompt = "bare";
  std::vector<int64_t> layers;
  bool mlp = false;
  bool no_shuffle = false;
  bool paper_grid = false;
  bool random_model = false;
  std::vector<std::string> holdout;
  std::string cross_prompt;
  int neurons = 0;
  std::vector<int64_t> neuron_layers;
  std::string cache_dir;
  bool float16 = false;
  int64_t chunk = 256;
  std::string out = "probe-out";
  uint64_t seed = 0;
  bool json = false;
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

EntityDataset LoadDataset(const RunOptions& o) {
  if (o.limit < 0) throw UsageError("--limit must be 0 (all) or positive");
  for (const auto& name : BuiltinDatasetNames())
    if (o.dataset == name) return OrExit(BuildBuiltin(name, {.limit = o.limit, .seed = o.seed}));
  if (!fs::exists(o.dataset))
    throw UsageError("--dataset '" + o.dataset +
                     "' is neither a built-in dataset (world-cities, us-places, people, events) nor a CSV file");
  CsvSchema s;
  s.name_column = o.name_column;
  s.name_format = o.name_format;
  s.target_columns = o.target;
  s.group_columns = o.group;
  s.duplicates = ParseDuplicates(o.duplicates);
  s.missing = ParseMissing(o.missing);
  s.limit = o.limit;
  return OrExit(LoadEntityCsv(o.dataset, s));
}

// The model to probe: --model, else the embedded default model (trained on
// first use). Activations need a local file, not an endpoint.
fs::path ResolveModel(const RunOptions& o, ProgressBar& bar, bool* is_default) {
  const auto& spec = o.model.spec;
  if (!spec.endpoint.empty())
    throw UsageError("probe reads activations inside the model: pass a local GGUF with --model, not --endpoint");
  ModelFlags flags = o.model;
  *is_default = UseDefaultModelIfNone(flags, bar);
  CheckModelFlags(flags);
  return flags.spec.gguf_path;
}

// Where and how the activations of `ds`'s prompts are cached.
CaptureOptions CacheOptionsFor(const fs::path& model_path, const EntityDataset& ds, PromptTemplate t,
                               const std::vector<std::string>& prompts, const RunOptions& o,
                               const fs::path& cache_root, ProgressBar& bar) {
  CaptureOptions c;
  c.dir = CacheEntryDir(cache_root, model_path, ds.name, std::string(PromptTemplateName(t)), prompts);
  c.dtype = o.float16 ? StoreDtype::kFloat16 : StoreDtype::kFloat32;
  c.chunk_prompts = o.chunk;
  c.progress = bar.Callback();
  c.cancel = &g_cancel;
  c.model = model_path.filename().string();
  c.dataset = ds.name;
  c.prompt_template = std::string(PromptTemplateName(t));
  return c;
}

// `prompts` are MakePrompts(ds, t, o.seed).
LayerActivations Capture(runtime::ActivationModel& model, const fs::path& model_path, const EntityDataset& ds,
                         PromptTemplate t, const std::vector<std::string>& prompts, const RunOptions& o,
                         const fs::path& cache_root, ProgressBar& bar, CaptureStats* stats) {
  CaptureOptions c = CacheOptionsFor(model_path, ds, t, prompts, o, cache_root, bar);
  auto acts = CaptureCached(model, prompts, c, stats);
  bar.Finish();
  if (!acts && acts.error().code == ErrorCode::kCancelled)
    throw CommandError(acts.error().WithContext("interrupted (activations so far are kept in " + c.dir.string() + ")"));
  return OrExit(std::move(acts));
}

// The MLP hidden activations of `layers` for the same prompts, cached in the same entry.
MlpActivations CaptureMlp(runtime::ActivationModel& model, const fs::path& model_path, const EntityDataset& ds,
                          PromptTemplate t, const std::vector<std::string>& prompts, const std::vector<int64_t>& layers,
                          const RunOptions& o, const fs::path& cache_root, ProgressBar& bar, CaptureStats* stats) {
  CaptureOptions c = CacheOptionsFor(model_path, ds, t, prompts, o, cache_root, bar);
  auto mlp = CaptureMlpCached(model, prompts, layers, c, stats);
  bar.Finish();
  if (!mlp && mlp.error().code == ErrorCode::kCancelled) throw CommandError(mlp.error().WithContext("interrupted"));
  return OrExit(std::move(mlp));
}

// A model of the same width and depth with random weights (lmlab's tiny
// tokenizer): what a probe finds there is what the probe alone can do.
fs::path WriteRandomModel(int64_t n_layers, int64_t n_embd, bool is_default, const fs::path& cache_root, uint64_t seed) {
  runtime::TinyModelOptions t;
  t.n_embd = n_embd;
  t.n_layer = n_layers;
  t.seed = seed + 1;
  if (is_default) {
    train::DefaultRecipe recipe = train::DefaultModelRecipe();
    t.n_head = recipe.train.model.n_head;
    t.n_ff = recipe.train.model.n_ff > 0 ? recipe.train.model.n_ff : (8 * n_embd / 3 + 31) / 32 * 32;
  } else {
    t.n_head = n_embd % 64 == 0 ? n_embd / 64 : (n_embd % 16 == 0 ? n_embd / 16 : 1);
    t.n_ff = 4 * n_embd;
  }
  t.n_head_kv = t.n_head;
  fs::path p = cache_root / "random-models" / fmt::format("random-{}x{}-ff{}-h{}-s{}.gguf", n_layers, n_embd, t.n_ff, t.n_head, t.seed);
  if (!fs::exists(p)) OrExit(runtime::WriteTinyModel(p, t));
  return p;
}

// One weight tensor of the model as [ne1, ne0] (row r is ggml row r; a
// vector is one row), dequantised by runtime when the file is quantised.
Result<Eigen::MatrixXd> ReadWeights(const fs::path& model_path, const std::string& name) {
  LMLAB_ASSIGN_OR_RETURN(runtime::GgufMatrix m, runtime::ReadGgufMatrix(model_path, name));
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(m.data.data(), m.rows, m.cols).cast<double>();
}

int RunProbe(const RunOptions& o) {
  if (o.chunk <= 0) throw UsageError("--chunk must be positive");
  if (o.neurons < 0) throw UsageError("--neurons must be 0 (off) or positive");
  if (!o.neuron_layers.empty() && o.neurons == 0) throw UsageError("--neuron-layers needs --neurons K");
  PromptTemplate tmpl = [&] {
    auto t = ParsePromptTemplate(o.prompt);
    if (!t) throw UsageError(t.error().message);
    return *t;
  }();
  std::optional<PromptTemplate> cross;
  if (!o.cross_prompt.empty()) {
    auto t = ParsePromptTemplate(o.cross_prompt);
    if (!t) throw UsageError("--cross-prompt: " + t.error().message);
    cross = *t;
  }
  EntityDataset ds = LoadDataset(o);
  OrExit(ValidateDataset(ds));
  for (const auto& h : o.holdout)
    if (ds.group_index(h) < 0) {
      throw UsageError("--holdout " + h + ": the dataset has no such group column (it has: " +
                       (ds.group_names.empty() ? "none" : Join(ds.group_names, ", ")) + ")");
    }

  ProgressBar bar;
  bool is_default = false;
  fs::path model_path = ResolveModel(o, bar, &is_default);
  fs::path cache_root = o.cache_dir.empty() ? OrExit(CacheDir()) / "probe" : fs::path(o.cache_dir);
  runtime::ModelSpec spec = o.model.spec;
  spec.gguf_path = model_path.string();
  std::unique_ptr<runtime::ActivationModel> model = OrExit(runtime::OpenActivationModel(spec));

  std::signal(SIGINT, OnSigint);
  CaptureStats stats;
  const std::vector<std::string> prompts = MakePrompts(ds, tmpl, o.seed);
  LayerActivations acts = Capture(*model, model_path, ds, tmpl, prompts, o, cache_root, bar, &stats);
  for (int64_t l : o.neuron_layers)
    if (l < 0 || l >= acts.n_layers)
      throw UsageError(
          fmt::format("--neuron-layers {}: the model has {} blocks (0..{})", l, acts.n_layers, acts.n_layers - 1));

  ProbeReport report;
  report.model = model_path.filename().string();
  report.dataset = ds.name;
  report.prompt_template = std::string(PromptTemplateName(tmpl));
  report.n_entities = ds.size();
  report.n_layers = acts.n_layers;
  report.n_embd = acts.n_embd;
  report.capture_seconds = stats.capture_seconds;
  report.captured_prompts = stats.captured;
  report.cache_dir = CacheEntryDir(cache_root, model_path, ds.name, report.prompt_template, prompts).string();

  RidgeOptions ridge;
  ridge.edge = o.paper_grid ? GridEdge::kKeep : GridEdge::kExtend;
  SweepOptions so;
  so.ridge = ridge;
  so.layers = o.layers;
  so.mlp = o.mlp ? MlpControl::kOn : MlpControl::kOff;
  so.shuffle = o.no_shuffle ? ShuffleControl::kOff : ShuffleControl::kOn;
  so.seed = o.seed;
  so.progress = bar.Callback();
  report.sweep = OrExit(RunLayerSweep(acts, ds, so));
  bar.Finish();

  if (o.random_model) {
    fs::path random_path = WriteRandomModel(acts.n_layers, acts.n_embd, is_default, cache_root, o.seed);
    runtime::ModelSpec rs = spec;
    rs.gguf_path = random_path.string();
    auto random_model = OrExit(runtime::OpenActivationModel(rs));
    LayerActivations racts = Capture(*random_model, random_path, ds, tmpl, prompts, o, cache_root, bar, nullptr);
    SweepOptions ro = so;
    ro.mlp = MlpControl::kOff;
    ro.shuffle = ShuffleControl::kOff;
    SweepResult rsweep = OrExit(RunLayerSweep(racts, ds, ro));
    bar.Finish();
    ControlRun c{"random-init model", {}};
    for (const auto& l : rsweep.layers) c.test_r2.push_back(l.test.r2);
    report.controls.push_back(c);
  }

  for (const auto& h : o.holdout) {
    HoldoutOptions ho;
    ho.group_column = h;
    ho.ridge = ridge;
    ho.layer = report.sweep.best_layer;
    ho.seed = o.seed;
    ho.progress = bar.Callback();
    report.holdouts.push_back(OrExit(RunBlockHoldout(acts, ds, ho)));
    bar.Finish();
  }

  if (cross) {
    LayerActivations other =
        Capture(*model, model_path, ds, *cross, MakePrompts(ds, *cross, o.seed), o, cache_root, bar, nullptr);
    report.cross_prompt.push_back(OrExit(RunCrossPrompt(acts, other, ds, report.prompt_template,
                                                        std::string(PromptTemplateName(*cross)), ridge, o.seed)));
  }

  CaptureStats mlp_stats;
  std::string mlp_summary;
  if (o.neurons > 0) {
    NeuronSearchResult n;
    n.layer = report.sweep.best_layer;
    Eigen::MatrixXd x = acts.LayerMatrix(n.layer);
    Eigen::MatrixXd y(ds.size(), ds.n_targets());
    for (int64_t i = 0; i < ds.size(); ++i)
      for (int64_t t = 0; t < ds.n_targets(); ++t) y(i, t) = ds.target(i, t);
    n.by_activation = TopCorrelatedUnits(x, y, ds.target_names, o.neurons);
    // The probe's own direction against the residual basis: the units it leans on most.
    auto fit_probe = [&](int64_t layer) {
      Eigen::MatrixXd yt(static_cast<Eigen::Index>(report.sweep.train_rows.size()), ds.n_targets());
      for (size_t r = 0; r < report.sweep.train_rows.size(); ++r)
        yt.row(static_cast<Eigen::Index>(r)) = y.row(report.sweep.train_rows[r]);
      return OrExit(FitRidge(acts.LayerMatrix(layer, report.sweep.train_rows), yt, ridge));
    };
    RidgeProbe p = fit_probe(n.layer);
    n.by_weight = AlignWeights(Eigen::MatrixXd::Identity(acts.n_embd, acts.n_embd), p.coef, ds.target_names, o.neurons);
    n.weights = "residual basis (probe coefficients)";
    report.neurons.push_back(n);
    // MLP neurons: block L's ffn_down columns write into the residual stream
    // the probe reads; block L+1's ffn_up rows (scaled by its RMSNorm weight)
    // read from it.
    auto down = ReadWeights(model_path, fmt::format("blk.{}.ffn_down.weight", n.layer));  // [n_embd, n_ff]
    if (down && down->rows() == acts.n_embd) {
      NeuronSearchResult w;
      w.layer = n.layer;
      w.weights = fmt::format("blk.{}.ffn_down (output weights)", n.layer);
      w.by_weight = AlignWeights(down->transpose(), p.coef, ds.target_names, o.neurons);
      report.neurons.push_back(w);
    } else if (!down) {
      std::cerr << "Neuron weight search skipped: " << InCliTerms(down.error().message) << "\n";
    }
    auto up = ReadWeights(model_path, fmt::format("blk.{}.ffn_up.weight", n.layer + 1));      // [n_ff, n_embd]
    auto norm = ReadWeights(model_path, fmt::format("blk.{}.ffn_norm.weight", n.layer + 1));  // [1, n_embd]
    if (up && norm && up->cols() == acts.n_embd && norm->cols() == acts.n_embd) {
      NeuronSearchResult w;
      w.layer = n.layer;
      w.weights = fmt::format("blk.{}.ffn_up (input weights x ffn_norm)", n.layer + 1);
      w.by_weight = AlignWeights(*up * norm->row(0).asDiagonal(), p.coef, ds.target_names, o.neurons);
      report.neurons.push_back(w);
    }
    // The paper's neuron analysis: MLP neurons whose activations correlate
    // with the target. Their activations (n_ff per entity and block) are
    // captured in a second pass, only for --neuron-layers (default: the best
    // layer), and cached next to the residual stream.
    std::vector<int64_t> mlp_layers = o.neuron_layers.empty() ? std::vector<int64_t>{n.layer} : o.neuron_layers;
    MlpActivations mlp = CaptureMlp(*model, model_path, ds, tmpl, prompts, mlp_layers, o, cache_root, bar, &mlp_stats);
    for (int64_t l : mlp.layers) {
      NeuronSearchResult m = OrExit(SearchMlpNeurons(mlp, l, ds, o.neurons));
      // Each neuron's output direction (ffn_down column) against the probe
      // direction of the residual stream it writes into.
      // Block n.layer's ffn_down is `down`, read above.
      std::optional<Result<Eigen::MatrixXd>> other_down;
      if (l != n.layer) other_down = ReadWeights(model_path, fmt::format("blk.{}.ffn_down.weight", l));
      const Result<Eigen::MatrixXd>& mdown = other_down ? *other_down : down;  // [n_embd, n_ff]
      if (mdown && mdown->rows() == acts.n_embd && mdown->cols() == mlp.n_ff) {
        SetWeightCosines(m.by_activation, mdown->transpose(), l == n.layer ? p.coef : fit_probe(l).coef,
                         ds.target_names);
        m.weights = fmt::format("blk.{}.ffn_down", l);
      }
      report.neurons.push_back(std::move(m));
    }
    mlp_summary = fmt::format("MLP activations of block{} {}: {} prompts captured now in {:.1f} s{}\n",
                              mlp.layers.size() == 1 ? "" : "s", fmt::join(mlp.layers, ", "), mlp_stats.captured,
                              mlp_stats.capture_seconds, mlp_stats.from_cache ? ", all from the cache" : "");
  }

  auto files = OrExit(WriteReportFiles(report, o.out));
  const std::vector<std::string> warnings = DegenerateFindings(report);
  if (o.json) {
    nlohmann::json j = report;
    j["warnings"] = warnings;
    PrintJson(j);
    return 0;
  }
  std::cout << RenderReportText(report);
  for (const std::string& w : warnings) std::cout << "warning: " << w << "\n";
  std::cout << fmt::format("\nActivations: {} ({} prompts captured now in {:.1f} s{})\n", report.cache_dir,
                           stats.captured, stats.capture_seconds, stats.from_cache ? ", all from the cache" : "");
  std::cout << mlp_summary;
  std::cout << fmt::format("Wrote {} files to {}; open {}\n", files.size(), o.out, (fs::path(o.out) / "index.html").string());
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
      "      --duplicates first --limit 5000 --holdout country --random-model-control\n"
      "  lmlab probe report probe-out\n");
  probe->require_subcommand(1, 1);
  {
    auto o = std::make_shared<RunOptions>();
    CLI::App* sub = AddCommand(
        *probe, "run", "Capture activations, fit a probe per layer, compare with controls, write plots",
        "  lmlab probe run --model tiny.gguf --dataset world-cities --limit 500\n"
        "  lmlab probe run --model m.gguf --dataset events --prompt question --mlp --json\n"
        "  lmlab probe run --model m.gguf --dataset us-places --holdout state --random-model-control\n"
        "  lmlab probe run --model m.gguf --dataset art.csv --name-format \"{title} by {creator}\" \\\n"
        "      --duplicates first --holdout decade --cross-prompt caps --neurons 5\n"
        "Datasets: world-cities, us-places, people, events (installed packages), or a CSV with a name\n"
        "column and latitude+longitude or a year/date column. Ctrl-C during capture keeps what was\n"
        "captured; run the same command again to resume.\n");
    AddModelFlags(sub, o->model);
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
    sub->add_option("--layers", o->layers, "Layers to probe (default: all)");
    sub->add_flag("--mlp", o->mlp, "Also fit the MLP control probe (256 ReLU, AdamW)");
    sub->add_flag("--no-shuffle", o->no_shuffle, "Skip the shuffled-target control");
    sub->add_flag("--paper-grid", o->paper_grid,
                  "Penalties only from logspace(0.8, 4.1, 12); by default the grid is extended past an end "
                  "when the best penalty sits there");
    sub->add_flag("--random-model-control", o->random_model,
                  "Also probe a randomly initialised model of the same width and depth");
    sub->add_option("--holdout", o->holdout, "Block hold-out by this group column (country, state, decade, ...)");
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
    sub->add_option("--out,-o", o->out, "Directory for report.json, SVG plots and index.html")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the report as JSON");
    SetRun(sub, [o] { return RunProbe(*o); });
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
