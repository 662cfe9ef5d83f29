#include "lmlab/probe/study.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "lmlab/core/file.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/gguf_reader.h"
#include "lmlab/runtime/model_files.h"

namespace lmlab::probe {
namespace fs = std::filesystem;
namespace {

std::string GroupList(const EntityDataset& ds) {
  std::string known;
  for (const auto& g : ds.group_names) known += (known.empty() ? "" : ", ") + g;
  return known.empty() ? "none" : known;
}

// What a study's capture of one prompt set needs.
struct Capture {
  CacheEntryInfo info;
  CaptureStats stats;
};

// How a study's prompts are captured into the cache entry `dir`.
CaptureOptions StudyCapture(const fs::path& dir, const fs::path& model_path, const EntityDataset& ds,
                            const std::string& entry_name, const StudyPrompts& prompts, const StudyOptions& o) {
  CaptureOptions c;
  c.dir = dir;
  c.dtype = o.dtype;
  c.chunk_prompts = o.chunk_prompts;
  c.prefix_tokens = prompts.prefix_tokens;
  c.memory_cap_bytes = o.memory_cap_bytes;
  c.progress = o.progress;
  c.cancel = o.cancel;
  c.model = model_path.filename().string();
  c.dataset = ds.name;
  c.prompt_template = entry_name;
  return c;
}

// The cache entry of the study's main capture and its options.
CaptureOptions MainCapture(const fs::path& model_path, const EntityDataset& ds, PromptTemplate t,
                           const StudyPrompts& prompts, const StudyOptions& o, const fs::path& cache_root) {
  const std::string tmpl(PromptTemplateName(t));
  // Paper and lmlab prompts differ; the entry name says which.
  const std::string name = o.protocol == Protocol::kPaper ? tmpl + "-paper" : tmpl;
  return StudyCapture(CacheEntryDir(cache_root, model_path, ds.name, name, prompts.text, runtime::TokenPosition::kLast,
                                    prompts.prefix_tokens),
                      model_path, ds, name, prompts, o);
}

Result<Capture> CaptureStudy(runtime::ActivationModel& model, const fs::path& model_path, const EntityDataset& ds,
                             PromptTemplate t, const StudyPrompts& prompts, const StudyOptions& o,
                             const fs::path& cache_root) {
  const CaptureOptions c = MainCapture(model_path, ds, t, prompts, o, cache_root);
  Capture out;
  auto info = CaptureToCache(model, prompts.text, c, &out.stats);
  if (!info && info.error().code == ErrorCode::kCancelled)
    return std::unexpected(info.error().WithContext("interrupted (activations so far are kept in " + c.dir.string() + ")"));
  if (!info) return std::unexpected(info.error());
  out.info = *info;
  return out;
}

ControlRun ControlFromSweep(std::string name, const SweepResult& s, std::string detail) {
  ControlRun c;
  c.name = std::move(name);
  c.detail = std::move(detail);
  for (const LayerResult& l : s.layers) {
    c.layers.push_back(l.layer);
    c.test_r2.push_back(l.test.r2);
    c.test_proximity.push_back(l.test.proximity_error);
  }
  c.best_r2 = s.best_r2;
  c.best_layer = s.best_layer;
  return c;
}

// The static-embedding features: per entity, the mean of the model's
// token-embedding rows of the entity's tokens (as it stands in the prompt).
Result<LayerActivations> StaticEmbeddings(runtime::ActivationModel& model, const fs::path& model_path,
                                          const StudyPrompts& prompts, int64_t n_embd) {
  LMLAB_ASSIGN_OR_RETURN(runtime::GgufMatrix emb, runtime::ReadGgufMatrix(model_path, "token_embd.weight"));
  if (emb.cols != n_embd)
    return Unsupported(fmt::format("token_embd.weight is {} wide, the residual stream {}: no static-embedding control",
                                   emb.cols, n_embd));
  LayerActivations a;
  a.n = static_cast<int64_t>(prompts.entity_text.size());
  a.n_layers = 1;
  a.n_embd = n_embd;
  a.data.assign(static_cast<size_t>(a.n * n_embd), 0.0f);
  for (int64_t i = 0; i < a.n; ++i) {
    LMLAB_ASSIGN_OR_RETURN(std::vector<int32_t> ids, model.Tokenize(prompts.entity_text[i], runtime::AddBos::kNo));
    if (ids.empty()) return InvalidArgument(fmt::format("entity {} ('{}') has no tokens", i, prompts.entity_text[i]));
    float* row = a.data.data() + i * n_embd;
    for (int32_t id : ids) {
      if (id < 0 || id >= emb.rows) return Internal(fmt::format("token id {} is outside token_embd", id));
      for (int64_t e = 0; e < n_embd; ++e) row[e] += emb.at(id, e);
    }
    for (int64_t e = 0; e < n_embd; ++e) row[e] /= static_cast<float>(ids.size());
  }
  return a;
}

// One weight tensor of the model as [ne1, ne0] doubles (dequantised).
Result<Eigen::MatrixXd> ReadWeights(const fs::path& model_path, const std::string& name) {
  LMLAB_ASSIGN_OR_RETURN(runtime::GgufMatrix m, runtime::ReadGgufMatrix(model_path, name));
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(m.data.data(), m.rows, m.cols).cast<double>();
}

Eigen::MatrixXd Targets(const EntityDataset& ds, const std::vector<int64_t>& rows) {
  Eigen::MatrixXd y(static_cast<Eigen::Index>(rows.size()), ds.n_targets());
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t t = 0; t < ds.n_targets(); ++t) y(static_cast<Eigen::Index>(r), t) = ds.target(rows[r], t);
  return y;
}

// The neuron search: residual units and MLP neurons by activation correlation
// and by weight alignment with the probe direction.
Status SearchNeurons(runtime::ActivationModel& model, const fs::path& model_path, const EntityDataset& ds,
                     const StudyPrompts& prompts, const CachedLayers& acts, const RidgeOptions& ridge,
                     const StudyOptions& o, const fs::path& entry_dir, ProbeReport& report) {
  NeuronSearchResult n;
  n.layer = report.sweep.best_layer;
  LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd x, acts.Matrix(n.layer));
  std::vector<int64_t> all(static_cast<size_t>(ds.size()));
  std::iota(all.begin(), all.end(), 0);
  const Eigen::MatrixXd y = Targets(ds, all);
  n.by_activation = TopCorrelatedUnits(x, y, ds.target_names, o.neurons);
  auto fit_probe = [&](int64_t layer) -> Result<RidgeProbe> {
    LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd xt, acts.Matrix(layer, report.sweep.train_rows));
    return FitRidge(xt, Targets(ds, report.sweep.train_rows), ridge);
  };
  LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, fit_probe(n.layer));
  // The probe's own direction against the residual basis: the units it leans on most.
  n.by_weight = AlignWeights(Eigen::MatrixXd::Identity(acts.width(), acts.width()), p.coef, ds.target_names, o.neurons);
  n.weights = "residual basis (probe coefficients)";
  report.neurons.push_back(n);
  // Block L's ffn_down columns write into the residual stream the probe
  // reads; block L+1's ffn_up rows (scaled by its RMSNorm weight) read from it.
  auto down = ReadWeights(model_path, fmt::format("blk.{}.ffn_down.weight", n.layer));  // [n_embd, n_ff]
  if (down && down->rows() == acts.width()) {
    NeuronSearchResult w;
    w.layer = n.layer;
    w.weights = fmt::format("blk.{}.ffn_down (output weights)", n.layer);
    w.by_weight = AlignWeights(down->transpose(), p.coef, ds.target_names, o.neurons);
    report.neurons.push_back(w);
  } else if (!down) {
    report.notes.push_back("neuron weight search skipped: " + down.error().message);
  }
  auto up = ReadWeights(model_path, fmt::format("blk.{}.ffn_up.weight", n.layer + 1));      // [n_ff, n_embd]
  auto norm = ReadWeights(model_path, fmt::format("blk.{}.ffn_norm.weight", n.layer + 1));  // [1, n_embd]
  if (up && norm && up->cols() == acts.width() && norm->cols() == acts.width()) {
    NeuronSearchResult w;
    w.layer = n.layer;
    w.weights = fmt::format("blk.{}.ffn_up (input weights x ffn_norm)", n.layer + 1);
    w.by_weight = AlignWeights(*up * norm->row(0).asDiagonal(), p.coef, ds.target_names, o.neurons);
    report.neurons.push_back(w);
  }
  // The paper's neuron analysis: MLP neurons whose activations correlate with
  // the target, captured in a second pass for the chosen blocks only.
  std::vector<int64_t> mlp_layers = o.neuron_layers.empty() ? std::vector<int64_t>{n.layer} : o.neuron_layers;
  const CaptureOptions c = StudyCapture(entry_dir, model_path, ds, report.prompt_template, prompts, o);
  CaptureStats st;
  auto mlp_or = CaptureMlpCached(model, prompts.text, mlp_layers, c, &st);
  if (!mlp_or && mlp_or.error().code == ErrorCode::kCancelled)
    return std::unexpected(mlp_or.error().WithContext("interrupted"));
  if (!mlp_or) return std::unexpected(mlp_or.error());
  const MlpActivations& mlp = *mlp_or;
  for (int64_t l : mlp.layers) {
    LMLAB_ASSIGN_OR_RETURN(NeuronSearchResult m, SearchMlpNeurons(mlp, l, ds, o.neurons));
    // Each neuron's output direction (ffn_down column) against the probe
    // direction of the residual stream it writes into.
    std::optional<Result<Eigen::MatrixXd>> other_down;
    if (l != n.layer) other_down = ReadWeights(model_path, fmt::format("blk.{}.ffn_down.weight", l));
    const Result<Eigen::MatrixXd>& mdown = other_down ? *other_down : down;  // [n_embd, n_ff]
    if (mdown && mdown->rows() == acts.width() && mdown->cols() == mlp.n_ff) {
      Eigen::MatrixXd dir = p.coef;
      if (l != n.layer) {
        LMLAB_ASSIGN_OR_RETURN(RidgeProbe pl, fit_probe(l));
        dir = pl.coef;
      }
      SetWeightCosines(m.by_activation, mdown->transpose(), dir, ds.target_names);
      m.weights = fmt::format("blk.{}.ffn_down", l);
    }
    report.neurons.push_back(std::move(m));
  }
  report.mlp_capture = fmt::format("MLP activations of block{} {}: {} prompts captured now in {:.1f} s{}",
                                   mlp.layers.size() == 1 ? "" : "s", fmt::join(mlp.layers, ", "), st.captured,
                                   st.capture_seconds, st.from_cache ? ", all from the cache" : "");
  return {};
}

}  // namespace

RidgeOptions StudyRidge(Protocol protocol, int64_t n_embd, std::optional<GridEdge> edge) {
  RidgeOptions r;
  if (protocol == Protocol::kPaper) {
    r.alphas = PaperAlphaGrid(n_embd);
    r.edge = edge.value_or(GridEdge::kKeep);
  } else {
    r.alphas = LogSpace(0.8, 4.1, 12);
    r.edge = edge.value_or(GridEdge::kExtend);
  }
  return r;
}

fs::path RandomTwinPath(const fs::path& cache_root, const fs::path& model, uint64_t seed) {
  // The entry directory is keyed by the model's path, size and mtime.
  return CacheEntryDir(cache_root, model, "random-init", fmt::format("seed{}", seed), {}) / "model.gguf";
}

// What every entry of a study starts from: the options checked, the dataset,
// the cache root, the model and the prompts.
struct StudyStart {
  EntityDataset ds;
  fs::path cache_root;
  std::unique_ptr<runtime::ActivationModel> model;
  StudyPrompts prompts;
};

Result<StudyStart> StartStudy(const StudyOptions& o) {
  if (o.chunk_prompts <= 0) return InvalidArgument("the capture chunk must be positive");
  if (o.neurons < 0) return InvalidArgument("the neuron count must be 0 (off) or positive");
  if (!o.neuron_layers.empty() && o.neurons == 0) return InvalidArgument("neuron layers need a neuron count");
  if (o.model.gguf_path.empty()) return InvalidArgument("a probe study needs a local GGUF model");
  StudyStart s;
  LMLAB_ASSIGN_OR_RETURN(s.ds, LoadDataset(o.dataset));
  for (const auto& h : o.holdout)
    if (s.ds.group_index(h) < 0)
      return InvalidArgument(fmt::format("hold-out column '{}': the dataset has no such group column (it has: {})", h,
                                         GroupList(s.ds)));
  s.cache_root = o.cache_root;
  if (s.cache_root.empty()) {
    LMLAB_ASSIGN_OR_RETURN(fs::path cache, CacheDir());
    s.cache_root = cache / "probe";
  }
  LMLAB_ASSIGN_OR_RETURN(s.model, runtime::OpenActivationModel(o.model));
  s.prompts = MakeStudyPrompts(s.ds, o.prompt, o.protocol, s.model->n_vocab(), o.seed);
  return s;
}

Result<StudyCapturePlan> PlanStudyCapture(const StudyOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(StudyStart s, StartStudy(o));
  const CaptureOptions c = MainCapture(o.model.gguf_path, s.ds, o.prompt, s.prompts, o, s.cache_root);
  LMLAB_ASSIGN_OR_RETURN(int64_t chunks, PlanChunks(s.prompts.text, c));
  return StudyCapturePlan{c.dir, chunks};
}

Result<CaptureStats> CaptureStudyChunk(const StudyOptions& o, int64_t chunk) {
  LMLAB_ASSIGN_OR_RETURN(StudyStart s, StartStudy(o));
  const CaptureOptions c = MainCapture(o.model.gguf_path, s.ds, o.prompt, s.prompts, o, s.cache_root);
  CaptureStats st;
  LMLAB_RETURN_IF_ERROR(CaptureOneChunk(*s.model, s.prompts.text, c, chunk, &st));
  return st;
}

Result<ProbeReport> RunStudy(const StudyOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(StudyStart start, StartStudy(o));
  const fs::path model_path = o.model.gguf_path;
  EntityDataset& ds = start.ds;
  const fs::path& cache_root = start.cache_root;
  std::unique_ptr<runtime::ActivationModel>& model = start.model;
  const StudyPrompts& prompts = start.prompts;
  LMLAB_ASSIGN_OR_RETURN(Capture cap, CaptureStudy(*model, model_path, ds, o.prompt, prompts, o, cache_root));
  LMLAB_ASSIGN_OR_RETURN(CachedLayers acts, CachedLayers::Open(cap.info.dir));
  for (int64_t l : o.neuron_layers)
    if (l < 0 || l >= acts.layers())
      return InvalidArgument(
          fmt::format("neuron layer {}: the model has {} blocks (0..{})", l, acts.layers(), acts.layers() - 1));
  for (int64_t l : o.layers)
    if (l < 0 || l >= acts.layers())
      return InvalidArgument(fmt::format("layer {}: the model has layers 0..{}", l, acts.layers() - 1));

  ProbeReport report;
  report.model = model_path.filename().string();
  report.dataset = ds.name;
  report.prompt_template = std::string(PromptTemplateName(o.prompt));
  report.protocol = std::string(ProtocolName(o.protocol));
  report.entity_kind = std::string(EntityKindName(ds.entity_kind));
  report.target_note = ds.target_note;
  if (!prompts.text.empty()) {
    report.prompt_example = prompts.text[0];
    if (!prompts.prefix_tokens.empty())
      report.prompt_example = fmt::format("<{} random token ids: {}> {}", prompts.prefix_tokens[0].size(),
                                          fmt::join(prompts.prefix_tokens[0], " "), prompts.text[0]);
  }
  report.n_entities = ds.size();
  report.n_layers = acts.layers();
  report.n_embd = acts.width();
  report.capture_seconds = cap.stats.capture_seconds;
  report.captured_prompts = cap.stats.captured;
  report.resumed_prompts = cap.stats.resumed;
  report.capture_from_cache = cap.stats.from_cache ? 1 : 0;
  report.cache_dir = cap.info.dir.string();
  report.memory_cap_bytes = o.memory_cap_bytes;
  report.peak_activation_bytes = cap.info.peak_bytes;

  const RidgeOptions ridge = StudyRidge(o.protocol, acts.width(), o.grid_edge);
  report.alphas = ridge.alphas;
  report.grid_edge = ridge.edge == GridEdge::kKeep ? "keep" : "extend";
  SweepOptions so;
  so.ridge = ridge;
  so.layers = o.layers;
  so.mlp = o.mlp;
  so.shuffle = o.shuffle;
  so.seed = o.seed;
  so.memory_cap_bytes = o.memory_cap_bytes;
  so.keep_directions = o.keep_directions;
  so.progress = o.progress;
  LMLAB_ASSIGN_OR_RETURN(report.sweep, RunLayerSweep(acts, ds, so));
  so.keep_directions = false;
  report.peak_activation_bytes = std::max(report.peak_activation_bytes, report.sweep.peak_bytes);

  // Controls.
  SweepOptions control = so;
  control.mlp = MlpControl::kOff;
  control.shuffle = ShuffleControl::kOff;
  if (o.shuffle == ShuffleControl::kOn) {
    ControlRun c;
    c.name = "shuffled targets";
    c.detail = "the same probe fitted to targets permuted across entities";
    for (const LayerResult& l : report.sweep.layers) {
      c.layers.push_back(l.layer);
      c.test_r2.push_back(l.shuffled_test_r2);
      if (c.layers.size() == 1 || l.shuffled_test_r2 > c.best_r2) {
        c.best_r2 = l.shuffled_test_r2;
        c.best_layer = l.layer;
      }
    }
    report.controls.push_back(std::move(c));
  }
  if (o.random_model == RandomModelControl::kOn) {
    const fs::path twin = RandomTwinPath(cache_root, model_path, o.seed);
    std::error_code ec;
    if (!fs::exists(twin, ec)) {
      Report(o.progress, {"writing the random-init twin", 0, 0, "", twin.filename().string()});
      LMLAB_RETURN_IF_ERROR(runtime::WriteRandomInitGguf(model_path, twin, {.seed = o.seed + 1}));
    }
    runtime::ModelSpec spec = o.model;
    spec.gguf_path = twin.string();
    LMLAB_ASSIGN_OR_RETURN(std::unique_ptr<runtime::ActivationModel> random_model, runtime::OpenActivationModel(spec));
    LMLAB_ASSIGN_OR_RETURN(Capture rcap, CaptureStudy(*random_model, twin, ds, o.prompt, prompts, o, cache_root));
    LMLAB_ASSIGN_OR_RETURN(CachedLayers racts, CachedLayers::Open(rcap.info.dir));
    LMLAB_ASSIGN_OR_RETURN(SweepResult rs, RunLayerSweep(racts, ds, control));
    report.controls.push_back(ControlFromSweep(
        "random-init model", rs,
        fmt::format("the same prompts through {}: the model's tensors, metadata and tokenizer with random weights",
                    twin.string())));
    report.peak_activation_bytes = std::max({report.peak_activation_bytes, rcap.info.peak_bytes, rs.peak_bytes});
  }
  if (o.static_embedding == StaticEmbeddingControl::kOn) {
    auto emb = StaticEmbeddings(*model, model_path, prompts, acts.width());
    if (emb) {
      SweepOptions eo = control;
      eo.layers = {};
      LMLAB_ASSIGN_OR_RETURN(SweepResult es, RunLayerSweep(*emb, ds, eo));
      ControlRun c = ControlFromSweep("static embedding", es,
                                      "the same probe on the mean of the model's token-embedding rows of each "
                                      "entity's tokens (token_embd.weight)");
      c.layers = {-1};
      c.best_layer = -1;
      report.controls.push_back(std::move(c));
    } else if (emb.error().code == ErrorCode::kNotFound || emb.error().code == ErrorCode::kUnsupported) {
      report.notes.push_back("no static-embedding control: " + emb.error().message);
    } else {
      return std::unexpected(emb.error());
    }
  }
  report.headline = MakeHeadline(report.sweep, report.controls);

  // Layers whose penalty sits at the grid's edge.
  std::vector<int64_t> edge;
  for (const LayerResult& l : report.sweep.layers)
    if (l.alpha_at_edge) edge.push_back(l.layer);
  if (!edge.empty())
    report.notes.push_back(fmt::format(
        "the chosen penalty sits at an end of the grid ({:.3g}..{:.3g}) at layer{} {}{}", ridge.alphas.front(),
        ridge.alphas.back(), edge.size() == 1 ? "" : "s", fmt::join(edge, ", "),
        ridge.edge == GridEdge::kKeep ? " (the paper's RidgeCV keeps the edge; --grid extend searches past it)" : ""));

  const uint64_t layer_bytes = static_cast<uint64_t>(acts.rows() * acts.width()) * 12;
  auto fits_cap = [&](const std::string& what) -> Status {
    if (o.memory_cap_bytes == 0 || layer_bytes <= o.memory_cap_bytes / 2) return {};
    return InvalidArgument(fmt::format("{} needs a layer in memory ({} MB), more than half the memory cap ({} MB)", what,
                                       layer_bytes >> 20, o.memory_cap_bytes >> 20));
  };
  for (const auto& column : o.holdout) {
    LMLAB_RETURN_IF_ERROR(fits_cap("the block hold-out"));
    HoldoutOptions ho;
    ho.group_column = column;
    ho.layer = o.holdout_layer >= 0 ? o.holdout_layer : report.sweep.best_layer;
    if (ho.layer >= acts.layers()) return InvalidArgument(fmt::format("hold-out layer {} does not exist", ho.layer));
    ho.baseline = o.holdout_baseline.value_or(o.protocol == Protocol::kPaper ? HoldoutBaseline::kStandardSplit
                                                                            : HoldoutBaseline::kKFold);
    ho.max_blocks = o.protocol == Protocol::kPaper ? 20 : 12;
    ho.ridge = ridge;
    if (o.protocol == Protocol::kPaper) {
      // The paper's fixed penalty for its sizes; otherwise the one the
      // standard-split probe chose at this layer.
      if (auto a = PaperFixedAlpha(acts.width())) {
        ho.fixed_alpha = *a;
      } else {
        for (const LayerResult& l : report.sweep.layers)
          if (l.layer == ho.layer) ho.fixed_alpha = l.alpha;
        if (!ho.fixed_alpha) {
          LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd xt, acts.Matrix(ho.layer, report.sweep.train_rows));
          LMLAB_ASSIGN_OR_RETURN(RidgeProbe p, FitRidge(xt, Targets(ds, report.sweep.train_rows), ridge));
          ho.fixed_alpha = p.alpha;
        }
      }
    }
    ho.seed = o.seed;
    ho.progress = o.progress;
    LMLAB_ASSIGN_OR_RETURN(HoldoutResult h, RunBlockHoldout(acts, ds, ho));
    report.holdouts.push_back(std::move(h));
  }

  if (o.cross_prompt) {
    LMLAB_RETURN_IF_ERROR(fits_cap("prompt transfer"));
    const StudyPrompts other = MakeStudyPrompts(ds, *o.cross_prompt, o.protocol, model->n_vocab(), o.seed);
    LMLAB_ASSIGN_OR_RETURN(Capture ocap, CaptureStudy(*model, model_path, ds, *o.cross_prompt, other, o, cache_root));
    LMLAB_ASSIGN_OR_RETURN(LayerActivations train_acts, LoadCacheEntry(cap.info.dir));
    LMLAB_ASSIGN_OR_RETURN(LayerActivations test_acts, LoadCacheEntry(ocap.info.dir));
    LMLAB_ASSIGN_OR_RETURN(CrossPromptResult cr,
                           RunCrossPrompt(train_acts, test_acts, ds, report.prompt_template,
                                          std::string(PromptTemplateName(*o.cross_prompt)), ridge, o.seed));
    report.cross_prompt.push_back(std::move(cr));
  }

  if (o.neurons > 0) {
    LMLAB_RETURN_IF_ERROR(fits_cap("the neuron search"));
    LMLAB_RETURN_IF_ERROR(SearchNeurons(*model, model_path, ds, prompts, acts, ridge, o, cap.info.dir, report));
  }
  return report;
}

}  // namespace lmlab::probe
