// Step 2: the embedded default model. The full demo builds (or reuses) the
// model every other command uses by default; --quick trains a much smaller
// model of the same recipe on a slice of the same corpus, in seconds, so the
// later sections run end to end on a model trained in this run.
#include <fmt/format.h>

#include <cmath>

#include "lmlab/core/format.h"
#include "lmlab/report/html.h"
#include "lmlab/train/default_model.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report::internal {
namespace {

namespace fs = std::filesystem;
using namespace lmlab::train;

}  // namespace

// The quick recipe: same corpus builder and schedule shape, a tiny model.
DefaultRecipe QuickRecipe() {
  DefaultRecipe r = DefaultModelRecipe();
  r.max_cities = 300;
  r.max_people = 300;
  TrainOptions& t = r.train;
  t.tokenizer.vocab_size = 512;
  t.model.n_ctx = 64;
  t.model.n_embd = 64;
  t.model.n_layer = 3;
  t.model.n_head = 2;
  t.model.n_ff = 0;
  t.batch = 8;
  t.steps = 160;
  t.warmup = 10;
  t.lr = 3e-3f;
  t.checkpoint_every = 0;
  return r;
}

namespace {

void AddTrainingFacts(Section& s, const TrainResult& t) {
  if (!std::isfinite(t.final_val_loss))
    AddWarning(s, "training diverged: the final validation loss is not a number");
  else if (!(t.final_val_loss < t.initial_val_loss))
    AddWarning(s, fmt::format("training did not lower the validation loss ({} -> {} nats/token): the model learned "
                              "nothing the later steps could measure",
                              FormatFixed(t.initial_val_loss, 3), FormatFixed(t.final_val_loss, 3)));
  s.headline.push_back(fmt::format("validation loss {} -> {} nats/token over {} steps", FormatFixed(t.initial_val_loss, 3),
                                   FormatFixed(t.final_val_loss, 3), t.steps));
  s.headline.push_back(fmt::format("{} parameters; {} corpus tokens; {} tokens/s on this machine",
                                   FormatThousands(static_cast<double>(t.model.NumParams())),
                                   FormatThousands(static_cast<double>(t.corpus_tokens)),
                                   FormatThousands(t.tokens_per_second)));
  ChartSeries train{"training loss", {}, {}};
  for (size_t i = 0; i < t.losses.size(); ++i) {
    train.x.push_back(static_cast<double>(i + 1));
    train.y.push_back(t.losses[i]);
  }
  ChartSeries val{"validation loss", {0}, {t.initial_val_loss}};
  for (const auto& e : t.epochs) {
    val.x.push_back(static_cast<double>(e.step));
    val.y.push_back(e.val_loss);
  }
  s.figures.push_back({"Next-token cross-entropy while training (nats/token): every step, and the held-out windows.",
                       LineChartSvg({.title = "Training the default model", .x_label = "optimizer step",
                                     .y_label = "loss (nats/token)"},
                                    {train, val})});
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : t.epochs)
    epochs.push_back({{"epoch", e.epoch}, {"step", e.step}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss}});
  s.data["training"] = {{"steps", t.steps},
                        {"corpus_tokens", t.corpus_tokens},
                        {"parameters", t.model.NumParams()},
                        {"initial_val_loss", t.initial_val_loss},
                        {"final_val_loss", t.final_val_loss},
                        {"losses", t.losses},
                        {"epochs", epochs},
                        {"seconds", t.seconds},
                        {"tokens_per_second", t.tokens_per_second}};
}

void AddSections(Section& s, const std::vector<CorpusSection>& sections) {
  std::vector<std::vector<std::string>> rows;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : sections) {
    rows.push_back({c.name, c.source, FormatThousands(static_cast<double>(c.documents))});
    j.push_back({{"name", c.name}, {"source", c.source}, {"documents", c.documents}});
  }
  s.table_html = HtmlTable({"corpus section", "source", "documents"}, rows);
  s.data["corpus"] = j;
}

std::string Shape(const ModelConfig& m) {
  return fmt::format("{} layers, width {}, {} heads, context {}", m.n_layer, m.n_embd, m.n_head, m.n_ctx);
}

}  // namespace

Result<Section> TrainStep(StepContext& ctx) {
  Section s;
  s.title = "The embedded default model";
  s.citation = "A llama-architecture model lmlab trains itself from text in Debian and npm data packages "
               "(docs/models.md); AdamW (Loshchilov & Hutter 2019), warm-up and cosine decay.";
  s.rerun = {"lmlab train default            # build or reuse the default model in the cache",
             "lmlab probe run --model your-model.gguf   # any later step with a real GGUF instead"};
  if (ctx.quick) {
    DefaultRecipe recipe = QuickRecipe();
    std::vector<CorpusSection> sections;
    LMLAB_ASSIGN_OR_RETURN(std::vector<std::string> docs, BuildDefaultCorpus(recipe, &sections));
    TrainOptions t = recipe.train;
    t.progress = ctx.progress;
    LMLAB_ASSIGN_OR_RETURN(TrainResult trained, Train(docs, t));
    fs::path path = ctx.out_dir / "models" / ("quick-" + RecipeHash(recipe) + ".gguf");
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return IoError("cannot create " + path.parent_path().string() + ": " + ec.message());
    LMLAB_RETURN_IF_ERROR(ExportGguf(trained.model, path));
    s.label = "Quick settings: a much smaller model than the default, trained on a slice of its corpus in this run.";
    s.measured = fmt::format(
        "Built the default model's corpus from installed data packages ({} documents, cities and people capped at "
        "{}), learned a {}-token tokenizer, and trained a {} model from scratch for {} steps; exported to GGUF and "
        "loaded by llama.cpp in the steps below.",
        FormatThousands(static_cast<double>(docs.size())), recipe.max_cities, recipe.train.tokenizer.vocab_size,
        Shape(trained.model.config), trained.steps);
    AddTrainingFacts(s, trained);
    AddSections(s, sections);
    s.data["model_path"] = fs::absolute(path).string();
    s.data["recipe_hash"] = RecipeHash(recipe);
    s.data["built"] = true;
    return s;
  }
  LMLAB_ASSIGN_OR_RETURN(DefaultModelBuild b, BuildDefaultModel(Rebuild::kIfMissing, ctx.progress));
  DefaultRecipe recipe = DefaultModelRecipe();
  s.data["model_path"] = fs::absolute(b.path).string();
  s.data["recipe_hash"] = b.recipe_hash;
  s.data["built"] = b.built;
  if (b.built) {
    s.measured = fmt::format("Trained the default model ({}) from scratch in this run and exported it to {}.",
                             Shape(b.training.model.config), b.path.string());
    AddTrainingFacts(s, b.training);
    AddSections(s, b.sections);
  } else {
    s.measured = fmt::format(
        "Reused the default model already in the cache ({}, recipe {}): it was trained by an earlier command on "
        "this machine, so no training numbers are shown here. 'lmlab train default --rebuild' retrains it.",
        b.path.string(), b.recipe_hash);
    s.headline.push_back(fmt::format("model: {} ({})", b.path.filename().string(), Shape(recipe.train.model)));
  }
  return s;
}

}  // namespace lmlab::report::internal
