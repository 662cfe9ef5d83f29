// `lmlab train`: train small llama-architecture models from scratch, and build
// the embedded default model. See docs/models.md.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/train/corpus.h"
#include "lmlab/train/default_model.h"
#include "lmlab/train/trainer.h"
#include "lmlab/train/world_model.h"

namespace lmlab::cli::train_cmd {
namespace {

using namespace lmlab::train;

// The defaults of `train run`: a smaller model than TrainOptions' own, and
// checkpoints every 100 steps.
TrainOptions RunDefaults() {
  TrainOptions t;
  t.model = {.n_ctx = 64, .n_embd = 128, .n_layer = 2, .n_head = 4, .n_ff = 0};
  t.tokenizer.vocab_size = 1024;
  t.checkpoint_every = 100;
  return t;
}

struct RunOptions {
  std::string corpus;
  std::string out;
  TrainOptions train = RunDefaults();  // the flags bind to its fields
  std::string checkpoint;
  bool resume = false;
  bool json = false;
};

struct DefaultOptions {
  bool rebuild = false;
  bool json = false;
};

struct WorldOptions {
  std::vector<std::string> rungs;  // empty = the whole ladder
  bool rebuild = false;
  int threads = 0;
  std::string corpus_out;
  bool json = false;
};

nlohmann::json EpochsJson(const TrainResult& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const EpochStats& e : r.epochs)
    a.push_back({{"epoch", e.epoch}, {"step", e.step}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss}});
  return a;
}

nlohmann::json ResultJson(const TrainResult& r) {
  const ModelConfig& c = r.model.config;
  return {{"params", r.model.NumParams()},
          {"config",
           {{"vocab", c.n_vocab}, {"ctx", c.n_ctx}, {"width", c.n_embd}, {"layers", c.n_layer}, {"heads", c.n_head},
            {"ff", FeedForwardSize(c)}}},
          {"corpus_tokens", r.corpus_tokens},
          {"train_windows", r.train_windows},
          {"val_windows", r.val_windows},
          {"steps", r.steps},
          {"resumed_from_step", r.resumed_from_step},
          {"initial_val_loss", r.initial_val_loss},
          {"final_val_loss", r.final_val_loss},
          {"final_train_loss", r.losses.empty() ? 0.0 : r.losses.back()},
          {"epochs", EpochsJson(r)},
          {"seconds", r.seconds},
          {"tokens_per_second", r.tokens_per_second},
          {"threads", r.threads},
          {"model_flops_per_token", TrainingFlopsPerToken(c)},
          {"model_flops_per_second", r.model_flops_per_second},
          {"gemm_flops_per_second", r.gemm_flops_per_second},
          {"mfu", r.mfu}};
}

// "model-FLOP utilisation 52% (94.1 of 181.0 GFLOP/s, an fp32 GEMM measured on 2 threads)"
std::string MfuLine(const TrainResult& r) {
  if (r.gemm_flops_per_second <= 0)
    return fmt::format("{} GFLOP/s of model FLOPs (the GEMM reference could not be measured)",
                       FormatFixed(r.model_flops_per_second / 1e9, 1));
  return fmt::format("model-FLOP utilisation {:.0f}% ({} of {} GFLOP/s, an fp32 GEMM measured on {} thread{})",
                     100 * r.mfu, FormatFixed(r.model_flops_per_second / 1e9, 1),
                     FormatFixed(r.gemm_flops_per_second / 1e9, 1), r.threads, r.threads == 1 ? "" : "s");
}

void PrintEpochs(const TrainResult& r) {
  Table t({"epoch", "step", "train loss", "val loss"}, {Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  t.AddRow({"0", "0", "", FormatFixed(r.initial_val_loss, 3)});
  for (const EpochStats& e : r.epochs)
    t.AddRow({std::to_string(e.epoch), std::to_string(e.step), FormatFixed(e.train_loss, 3), FormatFixed(e.val_loss, 3)});
  std::cout << t.Render();
}

int Run(const RunOptions& o) {
  std::vector<std::string> docs = OrExit(LoadCorpus(o.corpus));
  TrainOptions t = o.train;
  t.checkpoint = o.checkpoint.empty() ? o.out + ".ckpt" : o.checkpoint;
  t.resume = o.resume ? Resume::kIfPresent : Resume::kNo;
  ProgressBar bar;
  t.progress = bar.Callback();
  TrainResult r = OrExit(Train(docs, t));
  bar.Finish();
  OrExit(ExportGguf(r.model, o.out));
  std::error_code ec;
  std::filesystem::remove(t.checkpoint, ec);  // the run is complete; the GGUF is its result

  if (o.json) {
    nlohmann::json j = ResultJson(r);
    j["out"] = o.out;
    j["documents"] = docs.size();
    PrintJson(j);
    return 0;
  }
  PrintEpochs(r);
  std::cout << fmt::format("\nWrote {}: {} parameters, vocabulary {}, {} steps{}, validation loss {} -> {}, {} tokens/s\n{}\n",
                           o.out, FormatThousands(static_cast<double>(r.model.NumParams())), r.model.config.n_vocab,
                           r.steps, r.resumed_from_step ? fmt::format(" (resumed at {})", r.resumed_from_step) : "",
                           FormatFixed(r.initial_val_loss, 3), FormatFixed(r.final_val_loss, 3),
                           FormatThousands(r.tokens_per_second), MfuLine(r));
  return 0;
}

int RunDefault(const DefaultOptions& o) {
  ProgressBar bar;
  DefaultModelBuild b = OrExit(BuildDefaultModel(o.rebuild ? Rebuild::kAlways : Rebuild::kIfMissing, bar.Callback()));
  bar.Finish();
  if (o.json) {
    nlohmann::json j = {{"path", b.path.string()}, {"built", b.built}, {"recipe_hash", b.recipe_hash}};
    if (b.built) {
      j["training"] = ResultJson(b.training);
      nlohmann::json s = nlohmann::json::array();
      for (const CorpusSection& c : b.sections) s.push_back({{"name", c.name}, {"source", c.source}, {"documents", c.documents}});
      j["corpus"] = s;
    }
    PrintJson(j);
    return 0;
  }
  if (!b.built) {
    std::cout << "The default model is up to date: " << b.path.string() << "\n";
    return 0;
  }
  Table t({"section", "documents", "source"}, {Align::kLeft, Align::kRight, Align::kLeft});
  for (const CorpusSection& c : b.sections) t.AddRow({c.name, FormatThousands(static_cast<double>(c.documents)), c.source});
  std::cout << t.Render() << "\n";
  PrintEpochs(b.training);
  std::cout << fmt::format("\nBuilt {} ({} parameters) in {} s, {} tokens/s, {}\n", b.path.string(),
                           FormatThousands(static_cast<double>(b.training.model.NumParams())),
                           FormatFixed(b.training.seconds, 0), FormatThousands(b.training.tokens_per_second),
                           MfuLine(b.training));
  return 0;
}

nlohmann::json SectionsJson(const std::vector<CorpusSection>& sections) {
  nlohmann::json s = nlohmann::json::array();
  for (const CorpusSection& c : sections) s.push_back({{"name", c.name}, {"source", c.source}, {"documents", c.documents}});
  return s;
}

void PrintSections(const std::vector<CorpusSection>& sections) {
  Table t({"section", "documents", "source"}, {Align::kLeft, Align::kRight, Align::kLeft});
  for (const CorpusSection& c : sections) t.AddRow({c.name, FormatThousands(static_cast<double>(c.documents)), c.source});
  std::cout << t.Render() << "\n";
}

int RunWorld(const WorldOptions& o) {
  const WorldRecipe recipe = WorldModelRecipe();
  std::vector<std::string> rungs = o.rungs;
  if (rungs.empty())
    for (const WorldRung& g : recipe.ladder) rungs.push_back(g.name);
  for (const std::string& r : rungs)
    if (auto g = FindRung(recipe, r); !g) throw UsageError("--rung: " + g.error().message);
  if (!o.corpus_out.empty()) {
    WorldEntities e = OrExit(LoadWorldEntities(recipe));
    std::vector<CorpusSection> sections;
    std::vector<std::string> docs = BuildWorldCorpus(recipe, e, &sections);
    std::string text;
    for (const std::string& d : docs) text += d + "\n\n";
    OrExit(WriteFileAtomic(o.corpus_out, text));
    if (!o.json) {
      PrintSections(sections);
      std::cout << fmt::format("Wrote {} documents ({} cities, {} people) to {}\n\n", docs.size(), e.places.size(),
                               e.people.size(), o.corpus_out);
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& r : rungs) {
    ProgressBar bar;
    WorldModelBuild b = OrExit(
        BuildWorldModel(recipe, r, o.rebuild ? Rebuild::kAlways : Rebuild::kIfMissing, bar.Callback(), o.threads));
    bar.Finish();
    const WorldRung& g = b.rung;
    nlohmann::json j = {{"rung", g.name}, {"path", b.path.string()}, {"built", b.built}, {"recipe_hash", b.recipe_hash},
                        {"layers", g.n_layer}, {"width", g.n_embd}, {"heads", g.n_head}, {"steps", g.steps}};
    if (b.built) {
      j["training"] = ResultJson(b.training);
      j["corpus"] = SectionsJson(b.sections);
      j["documents"] = b.corpus_documents;
    }
    out.push_back(j);
    if (o.json) continue;
    if (!b.built) {
      std::cout << fmt::format("World model {} ({} x {}) is up to date: {}\n", g.name, g.n_layer, g.n_embd,
                               b.path.string());
      continue;
    }
    PrintEpochs(b.training);
    std::cout << fmt::format("Built world model {} ({} layers x {}, {} parameters, {} documents) in {} s, {} tokens/s: {}\n\n",
                             g.name, g.n_layer, g.n_embd,
                             FormatThousands(static_cast<double>(b.training.model.NumParams())), b.corpus_documents,
                             FormatFixed(b.training.seconds, 0), FormatThousands(b.training.tokens_per_second),
                             b.path.string());
  }
  if (o.json) PrintJson(out);
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* train = AddCommand(app, "train", "Train small llama-architecture models from scratch (GGUF out)",
                               "  lmlab train run --corpus notes.txt --out notes.gguf --epochs 3\n"
                               "  lmlab train default                 # build the embedded default model\n"
                               "  lmlab train world --rung s          # a world model: relations only, no coordinates or dates\n");
  train->require_subcommand(1);

  auto o = std::make_shared<RunOptions>();
  CLI::App* run = AddCommand(
      *train, "run", "Train a model on a text file or directory and write a GGUF that llama.cpp loads",
      "  lmlab train run --corpus notes.txt --out notes.gguf\n"
      "  lmlab train run --corpus docs/ --out docs.gguf --layers 4 --width 256 --heads 4 --ctx 128 --epochs 3\n"
      "  lmlab train run --corpus docs/ --out docs.gguf --steps 2000 --checkpoint-every 200 --resume\n"
      "  lmlab train run --corpus notes.txt --out notes.gguf --json\n"
      "  llama-simple -m notes.gguf -n 20 \"Paris is\"      # the GGUF runs in stock llama.cpp tools\n");
  run->option_defaults()->group("Data");
  run->add_option("--corpus", o->corpus, "UTF-8 text file, or a directory of them; documents are separated by blank lines")
      ->required();
  run->add_option("--out", o->out, "GGUF file to write")->required();
  run->add_option("--vocab", o->train.tokenizer.vocab_size, "Vocabulary size (specials and 256 byte tokens included)")
      ->capture_default_str();
  run->option_defaults()->group("Model");
  run->add_option("--layers", o->train.model.n_layer, "Transformer blocks")->capture_default_str();
  run->add_option("--width", o->train.model.n_embd, "Embedding width")->capture_default_str();
  run->add_option("--heads", o->train.model.n_head, "Attention heads (must divide --width)")->capture_default_str();
  run->add_option("--ctx", o->train.model.n_ctx, "Context length (training window)")->capture_default_str();
  run->add_option("--ff", o->train.model.n_ff, "Feed-forward width (0 = 8/3 * width, rounded up to 32)")
      ->capture_default_str();
  run->option_defaults()->group("Schedule");
  run->add_option("--steps", o->train.steps, "Optimizer steps (0 = --epochs over the data)")->capture_default_str();
  run->add_option("--epochs", o->train.epochs, "Passes over the training windows")->capture_default_str();
  run->add_option("--batch", o->train.batch, "Windows per step")->capture_default_str();
  run->add_option("--lr", o->train.lr, "Peak learning rate (linear warm-up, cosine decay to 10%)")
      ->capture_default_str();
  run->add_option("--warmup", o->train.warmup, "Warm-up steps (-1 = 5% of the steps)")->capture_default_str();
  run->add_option("--weight-decay", o->train.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  run->add_option("--seed", o->train.seed, "Seed for weights, shuffles and batch order")->capture_default_str();
  run->add_option("--threads", o->train.threads, "CPU threads (0 = the idle cores: cores minus the load average)")
      ->capture_default_str();
  run->option_defaults()->group("Checkpoints");
  run->add_option("--checkpoint", o->checkpoint, "Checkpoint file (default: <out>.ckpt; removed after success)");
  run->add_option("--checkpoint-every", o->train.checkpoint_every, "Steps between checkpoints (0 = none)")
      ->capture_default_str();
  run->add_flag("--resume", o->resume, "Continue from the checkpoint if it exists (same flags and corpus)");
  run->option_defaults()->group("Output");
  run->add_flag("--json", o->json, "Print a JSON summary instead of tables");
  SetRun(run, [o] { return Run(*o); });

  auto d = std::make_shared<DefaultOptions>();
  CLI::App* def = AddCommand(*train, "default",
                             "Build the embedded default model into the cache directory (reused until its recipe changes)",
                             "  lmlab train default\n"
                             "  lmlab train default --rebuild --json\n");
  def->add_flag("--rebuild", d->rebuild, "Train again even if the cached model is up to date");
  def->add_flag("--json", d->json, "Print a JSON summary instead of tables");
  SetRun(def, [d] { return RunDefault(*d); });

  auto w = std::make_shared<WorldOptions>();
  CLI::App* world = AddCommand(
      *train, "world",
      "Build lmlab's world models: a ladder of sizes trained on relations between cities and people (no "
      "coordinates, no dates), for `lmlab probe ladder`",
      "  lmlab train world                        # every rung, smallest first (reused when up to date)\n"
      "  lmlab train world --rung s --json\n"
      "  lmlab train world --rung m --corpus-out world-corpus.txt   # also write the corpus to read it\n"
      "The models go to <cache>/models/world-<rung>-<hash>.gguf; see docs/probe.md.\n");
  world->add_option("--rung", w->rungs, "Rungs to build (default: all of the ladder)");
  world->add_flag("--rebuild", w->rebuild, "Train again even if the cached model is up to date");
  world->add_option("--threads", w->threads, "CPU threads (0 = idle cores)")->capture_default_str();
  world->add_option("--corpus-out", w->corpus_out, "Also write the corpus (documents separated by blank lines)");
  world->add_flag("--json", w->json, "Print a JSON summary instead of tables");
  SetRun(world, [w] { return RunWorld(*w); });
}

}  // namespace lmlab::cli::train_cmd
