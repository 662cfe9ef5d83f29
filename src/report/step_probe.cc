// Step 5: the probe study (Gurnee & Tegmark 2023) through probe::RunStudy,
// the same library call as `lmlab probe run`. The full demo probes the
// smallest of lmlab's world models (train/world_model.h: trained on relations
// only, no coordinates or dates; built here on first use) for the map of its
// cities and the timeline of its people; --quick probes the demo's quick model
// on 300 world cities. Every control is on: shuffled targets, the random-init
// twin of the model, the static token embeddings. The section's rerun line is
// the CLI command that gives the same numbers (tests/report/probe_step_test.cc
// runs both and compares).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "lmlab/core/format.h"
#include "lmlab/probe/render.h"
#include "lmlab/probe/study.h"
#include "lmlab/report/html.h"
#include "lmlab/train/world_model.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {
namespace {
namespace fs = std::filesystem;
using namespace lmlab::probe;

// The paper's figures for scale, as quoted in lmlab's issue 17 (Llama-2, world places, test R^2).
constexpr const char* kPaperWorldR2 = "0.881 (Llama-2-7B), 0.911 (Llama-2-70B)";

// The world-model rung the full demo probes.
constexpr const char* kDemoRung = "s";

std::string Quote(const std::string& s) {
  return s.find_first_of(" \"'$\\") == std::string::npos ? s : "\"" + s + "\"";
}

}  // namespace

std::vector<StudyOptions> DemoProbeStudies(const StepContext& ctx, const fs::path& model_path) {
  StudyOptions o;
  o.model.gguf_path = model_path.string();
  o.model.threads = ModelThreads(ctx);
  o.protocol = Protocol::kPaper;
  o.prompt = PromptTemplate::kBare;
  o.cache_root = ctx.out_dir / "cache" / "probe";
  o.neurons = 5;
  o.progress = ctx.progress;
  if (ctx.quick) {
    o.dataset.source = "world-cities";
    o.dataset.limit = 300;
    return {o};
  }
  o.dataset.source = "world-model-places";
  o.dataset.limit = 0;
  o.mlp = MlpControl::kOn;
  o.holdout = {"country"};
  StudyOptions people = o;
  people.dataset.source = "world-model-people";
  people.holdout = {"century"};
  people.neurons = 0;
  return {o, people};
}

std::string StudyCommandLine(const StudyOptions& o) {
  std::string cmd = fmt::format("lmlab probe run --model {} --dataset {} --limit {} --protocol {} --prompt {}",
                                Quote(o.model.gguf_path), Quote(o.dataset.source), o.dataset.limit,
                                ProtocolName(o.protocol), PromptTemplateName(o.prompt));
  if (o.model.threads > 0) cmd += fmt::format(" --threads {}", o.model.threads);
  if (o.mlp == MlpControl::kOn) cmd += " --mlp";
  for (const auto& h : o.holdout) cmd += " --holdout " + h;
  if (o.neurons > 0) cmd += fmt::format(" --neurons {}", o.neurons);
  if (!o.cache_root.empty()) cmd += " --cache-dir " + Quote(o.cache_root.string());
  if (o.seed != 0) cmd += fmt::format(" --seed {}", o.seed);
  return cmd;
}

Result<Section> ProbeStep(StepContext& ctx) {
  fs::path model_path;
  std::string model_words;
  if (ctx.quick) {
    LMLAB_ASSIGN_OR_RETURN(model_path, RequireModel(ctx));
    model_words = "the demo's quick model";
  } else {
    LMLAB_ASSIGN_OR_RETURN(train::WorldModelBuild w, train::BuildWorldModel(train::WorldModelRecipe(), kDemoRung,
                                                                             train::Rebuild::kIfMissing, ctx.progress));
    model_path = w.path;
    model_words = fmt::format("lmlab's world model '{}' ({} layers x {}; trained on relations only{})", w.rung.name,
                              w.rung.n_layer, w.rung.n_embd,
                              w.built ? fmt::format(", in {} s in this run", FormatFixed(w.training.seconds, 0)) : "");
  }
  std::vector<StudyOptions> studies = DemoProbeStudies(ctx, model_path);
  std::vector<ProbeReport> reports;
  for (const StudyOptions& o : studies) {
    LMLAB_ASSIGN_OR_RETURN(ProbeReport r, RunStudy(o));
    reports.push_back(std::move(r));
  }
  const ProbeReport& report = reports.front();

  Section s;
  s.title = ctx.quick ? "Probes for space in the demo's model" : "Probes for a map and a timeline in a world model";
  s.citation = "Gurnee & Tegmark 2023, \"Language Models Represent Space and Time\", arXiv:2310.02207.";
  const auto& l0 = report.sweep;
  s.measured = fmt::format(
      "Captured the residual stream at the last token of {} names ({}; protocol {}: prompt \"{}\") in every layer of "
      "{} ({} layers x {}), fitted a ridge probe per layer on {} of them (penalty by leave-one-out over the paper's "
      "grid) and scored it on the {} held out; controls: the same probe on shuffled targets, on a random-init twin of "
      "the model (same tensors and tokenizer, random weights), and on the mean of each name's token embeddings.",
      report.n_entities, report.dataset, report.protocol, report.prompt_example, model_words, report.n_layers,
      report.n_embd, l0.train_rows.size(), l0.test_rows.size());
  for (const ProbeReport& r : reports) {
    s.comparisons.push_back(
        {fmt::format("best-layer test R^2, {}", r.dataset),
         r.sweep.kind == TargetKind::kPlace ? fmt::format("{}, quoted in lmlab's issue 17", kPaperWorldR2)
                                            : "the paper's historical figures (death year) on Llama-2",
         fmt::format("{} at layer {} (this model)", FormatFixed(r.headline.r2, 3), r.headline.layer),
         "a model thousands of times smaller, trained for minutes"});
    s.comparisons.push_back({fmt::format("gap to the strongest control, {}", r.dataset),
                             "a probe result must beat what the names' tokens alone give",
                             fmt::format("{:+.3f} ({}: {})", r.headline.gap, r.headline.strongest_control,
                                         FormatFixed(r.headline.control_r2, 3)),
                             HeadlineText(r)});
  }
  for (const ProbeReport& r : reports) {
    const LayerResult* best = nullptr;
    for (const auto& l : r.sweep.layers)
      if (l.layer == r.sweep.best_layer) best = &l;
    if (best)
      s.headline.push_back(fmt::format("{}: best layer {}, test R^2 {}{}, proximity error {}; {}", r.dataset,
                                       best->layer, FormatFixed(best->test.r2, 3),
                                       best->test.mean_km >= 0
                                           ? fmt::format(", mean error {} km", FormatThousands(best->test.mean_km))
                                           : "",
                                       FormatFixed(best->test.proximity_error, 3), HeadlineText(r)));
    for (const auto& h : r.holdouts)
      s.headline.push_back(fmt::format(
          "{}: block hold-out by {} (layer {}): proximity error {} for held-out blocks vs {} under the {} (paper: "
          "within a few points)",
          r.dataset, h.group_column, h.layer, FormatFixed(h.mean_block_proximity, 3),
          FormatFixed(h.mean_random_proximity, 3), h.baseline));
  }
  for (const NeuronSearchResult& n : report.neurons) {
    if (n.stream != "mlp") continue;
    std::string strongest;
    for (const std::string& target : report.sweep.target_names) {
      const NeuronHit* top = nullptr;
      for (const auto& h : n.by_activation)
        if (h.target == target && (!top || std::abs(h.correlation) > std::abs(top->correlation))) top = &h;
      if (top)
        strongest += fmt::format("{}{} r = {} (neuron {})", strongest.empty() ? "" : ", ", target,
                                 FormatFixed(top->correlation, 2), top->index);
    }
    if (!strongest.empty())
      s.headline.push_back(fmt::format("MLP neurons of block {} most correlated with the target: {}", n.layer, strongest));
  }
  // One row per layer and dataset: the probe against each control.
  std::vector<std::vector<std::string>> rows;
  for (const ProbeReport& r : reports)
    for (const LayerResult& l : r.sweep.layers) {
      auto control = [&](const std::string& name) -> std::string {
        for (const ControlRun& c : r.controls)
          if (c.name == name)
            for (size_t i = 0; i < c.layers.size() && i < c.test_r2.size(); ++i)
              if (c.layers[i] == l.layer || c.layers[i] < 0) return FormatFixed(c.test_r2[i], 3);
        return "-";
      };
      rows.push_back({r.dataset, std::to_string(l.layer), FormatFixed(l.test.r2, 3),
                      l.mlp_test.n ? FormatFixed(l.mlp_test.r2, 3) : "-", control("shuffled targets"),
                      control("random-init model"), control("static embedding"),
                      FormatFixed(l.test.proximity_error, 3)});
    }
  s.table_html = HtmlTable({"dataset", "layer", "test R^2", "MLP probe R^2", "shuffled targets", "random-init model",
                            "static embedding", "proximity error"},
                           rows);
  s.figures.push_back({"Test R^2 of the probe at each layer, with the controls.", R2ByLayerSvg(report)});
  size_t best_index = 0;
  for (size_t i = 0; i < report.sweep.layers.size(); ++i)
    if (report.sweep.layers[i].layer == report.sweep.best_layer) best_index = i;
  s.figures.push_back({fmt::format("Predicted positions of the held-out entities at layer {} (true positions grey).",
                                   report.sweep.best_layer),
                       MapSvg(report.sweep, best_index)});
  s.figures.push_back({"The same, layer by layer (the map cycles through the layers).", AnimatedMapSvg(report.sweep)});
  for (size_t i = 1; i < reports.size(); ++i)
    s.figures.push_back({fmt::format("Test R^2 by layer for {}, with the controls.", reports[i].dataset),
                         R2ByLayerSvg(reports[i])});
  for (const StudyOptions& o : studies) s.rerun.push_back(StudyCommandLine(o));
  s.rerun.push_back("lmlab probe ladder    # every world-model size, with the controls and hold-outs");
  s.rerun.push_back("lmlab probe run --model llama-2-7b.Q8_0.gguf --dataset world_place.csv --duplicates first "
                    "--holdout country   # the paper's data on a real model");
  for (const ProbeReport& r : reports)
    for (std::string& w : DegenerateFindings(r)) AddWarning(s, r.dataset + ": " + std::move(w));
  nlohmann::json j;
  to_json(j, report);
  if (reports.size() > 1) {
    nlohmann::json more = nlohmann::json::array();
    for (size_t i = 1; i < reports.size(); ++i) more.push_back(reports[i]);
    j["more_studies"] = more;
  }
  s.data = j;
  return s;
}

}  // namespace lmlab::report::internal
