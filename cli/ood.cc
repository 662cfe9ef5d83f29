// `lmlab ood`: reversion to the optimal constant solution (Kang et al. 2023,
// arXiv 2310.00873). `classifier` trains image classifiers with three losses
// over several seeds and sweeps the paper's corruptions (or lmlab's shifts);
// `lm` measures a language model's distance to its OCS as text is corrupted
// and calibrates the ignorance monitor. See docs/ood.md.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/model_flags.h"
#include "lmlab/core/file.h"
#include "lmlab/ood/experiment.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/ood/lm_experiment.h"
#include "lmlab/ood/render.h"
#include "lmlab/train/default_model.h"

namespace lmlab::cli::ood_cmd {
namespace {

using namespace lmlab::ood;
namespace fs = std::filesystem;

struct ClassifierOptions {
  std::string protocol = "paper";
  std::string dataset = "fashion-mnist";
  std::string arch, distance, axis;           // empty: the protocol's
  std::vector<std::string> losses = {"ce", "mse", "nll"};
  std::vector<std::string> shifts;            // empty: the protocol's
  int epochs = 2;
  int batch = 64;
  float learning_rate = 2e-3f;
  float weight_decay = 0.0f;
  std::vector<int> hidden = {128, 64};
  std::vector<double> severities;  // for a single --shifts entry; empty = its defaults
  int64_t train_size = 0, eval_size = 0, fgsm_size = 0;  // 0: the protocol's
  int seeds = 0;                                          // 0: the protocol's
  double ood_l2 = 10;
  bool no_decision = false;
  uint64_t seed = 1;
  int threads = 0;
  std::string out = "ood-out";
  bool json = false;
};

struct LmOptions {
  ModelFlags model;
  std::string corpus, reference;
  int texts = 8;
  int calibration_texts = 16;
  int max_tokens = 48;
  int64_t ocs_positions = 256;
  std::vector<double> levels = {0, 0.1, 0.25, 0.5, 0.75, 1.0};
  std::vector<std::string> corruptions = {"token-replace", "word-shuffle", "script"};
  std::string save_monitor;
  std::string distance = "paper";
  uint64_t seed = 1;
  std::string out = "ood-out";
  bool json = false;
};

void WriteOut(const fs::path& dir, const std::string& name, const std::string& contents) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw CommandError(Error{ErrorCode::kIo, "cannot create " + dir.string() + ": " + ec.message()});
  OrExit(WriteFileAtomic(dir / name, contents));
}

int RunClassifier(const ClassifierOptions& o, const CLI::App& app) {
  auto given = [&](const char* flag) { return app.count(flag) > 0; };
  if (o.protocol != "paper" && o.protocol != "lmlab") throw UsageError("--protocol takes paper or lmlab");
  const Dataset dataset = OrExit(ParseDataset(o.dataset));
  ClassifierExperimentOptions e = o.protocol == "paper" ? PaperProtocol(dataset) : LmlabProtocol(dataset);
  if (!o.arch.empty()) e.train.arch = OrExit(ParseArch(o.arch));
  if (!o.distance.empty()) e.distance = OrExit(ParseDistance(o.distance));
  if (!o.axis.empty()) e.axis = OrExit(ParseAxis(o.axis));
  e.losses.clear();
  for (const auto& l : o.losses) {
    Loss loss = OrExit(ParseLoss(l));
    if (loss == Loss::kReward || loss == Loss::kAbstainClass)
      throw UsageError("--losses takes ce, mse, nll; the reward and xent+1 models come with the decision");
    e.losses.push_back(loss);
  }
  if (!o.shifts.empty()) {
    e.shifts.clear();
    for (const auto& s : o.shifts) e.shifts.push_back(OrExit(ParseShift(s)));
  }
  if (o.epochs < 1 || o.epochs > 100) throw UsageError("--epochs must be in [1, 100]");
  if (given("--train-size") && o.train_size < 128) throw UsageError("--train-size must be at least 128");
  if (given("--eval-size") && o.eval_size < 10) throw UsageError("--eval-size must be at least 10");
  if (given("--fgsm-size") && o.fgsm_size < 10) throw UsageError("--fgsm-size must be at least 10");
  if (given("--seeds") && (o.seeds < 1 || o.seeds > 20)) throw UsageError("--seeds must be in [1, 20]");
  if (!(o.ood_l2 > 0)) throw UsageError("--ood-l2 must be positive");
  if (!(o.learning_rate > 0 && o.learning_rate < 1)) throw UsageError("--learning-rate must be in (0, 1)");
  if (!(o.weight_decay >= 0 && o.weight_decay < 1)) throw UsageError("--weight-decay must be in [0, 1)");
  if (o.hidden.size() != 2 || o.hidden[0] < 1 || o.hidden[1] < 1 || o.hidden[0] > 4096 || o.hidden[1] > 4096)
    throw UsageError("--hidden takes two layer widths in [1, 4096], e.g. --hidden 128 64");
  if (!o.severities.empty()) {
    if (e.shifts.size() != 1) throw UsageError("--severities needs exactly one --shifts entry");
    for (double v : o.severities)
      if (auto ok = CheckSeverity(e.shifts[0], v); !ok) throw UsageError("--severities: " + ok.error().message);
    if (o.severities.front() != 0 || !std::is_sorted(o.severities.begin(), o.severities.end()) ||
        std::adjacent_find(o.severities.begin(), o.severities.end()) != o.severities.end())
      throw UsageError("--severities must start at 0 (the clean images) and ascend strictly, e.g. 0 1 3 5");
    e.severities = {o.severities};
  }
  if (given("--epochs")) e.train.epochs = o.epochs;
  if (given("--batch")) {
    if (o.batch < 1 || o.batch > 4096) throw UsageError("--batch must be in [1, 4096]");
    e.train.batch = o.batch;
  }
  e.train.learning_rate = o.learning_rate;
  e.train.weight_decay = o.weight_decay;
  e.train.mlp_hidden1 = o.hidden[0];
  e.train.mlp_hidden2 = o.hidden[1];
  e.train.threads = o.threads;
  if (given("--train-size")) e.train_size = o.train_size;
  if (given("--eval-size")) e.eval_size = o.eval_size;
  if (given("--fgsm-size")) e.fgsm_size = o.fgsm_size;
  if (given("--seeds")) e.seeds = o.seeds;
  e.ood_score.l2 = o.ood_l2;
  if (o.no_decision) e.decision = Decision::kOff;
  e.seed = o.seed;

  ProgressBar bar;
  ClassifierReport r = OrExit(RunClassifierExperiment(e, bar.Callback()));
  bar.Finish();
  nlohmann::json j = ToJson(r);
  j["protocol"] = o.protocol;
  fs::path out = o.out;
  WriteOut(out, "classifier.json", j.dump(2) + "\n");
  WriteOut(out, "distance.svg", DistanceSvg(r));
  if (!r.detection.empty()) WriteOut(out, "auroc.svg", AurocSvg(r));
  if (!r.rewards.empty()) WriteOut(out, "reward.svg", RewardSvg(r));
  if (o.json) {
    PrintJson(j);
    return 0;
  }
  std::cout << RenderText(r) << "\nWrote " << (out / "classifier.json").string() << ", distance.svg"
            << (r.detection.empty() ? "" : ", auroc.svg") << (r.rewards.empty() ? "" : ", reward.svg") << "\n";
  return 0;
}

// Paragraphs (blank-line separated) of a text file; single lines when the
// file has no blank lines.
std::vector<std::string> Paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string cur, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (!cur.empty()) out.push_back(cur), cur.clear();
    } else {
      cur += (cur.empty() ? "" : " ") + line;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  if (out.size() <= 1) {
    out.clear();
    std::istringstream again(text);
    while (std::getline(again, line))
      if (line.find_first_not_of(" \t\r") != std::string::npos) out.push_back(line);
  }
  return out;
}

int RunLm(const LmOptions& o) {
  if (o.texts < 1 || o.calibration_texts < 2) throw UsageError("--texts must be >= 1 and --calibration-texts >= 2");
  if (o.max_tokens < 4) throw UsageError("--max-tokens must be at least 4");
  if (!o.corpus.empty() && !o.reference.empty()) throw UsageError("give --corpus or --reference, not both");
  LmExperimentOptions e;
  e.levels = o.levels;
  for (double l : e.levels)
    if (!(l >= 0 && l <= 1)) throw UsageError("--levels must lie in [0, 1]");
  e.corruptions.clear();
  for (const auto& c : o.corruptions) e.corruptions.push_back(OrExit(ParseCorruption(c)));
  e.max_tokens_per_text = o.max_tokens;
  e.seed = o.seed;

  ProgressBar bar;
  ModelFlags flags = o.model;
  std::vector<std::string> docs;
  bool exact = true;
  if (UseDefaultModelIfNone(flags, bar)) {
    // Its corpus is known, so the OCS is exact.
    if (o.corpus.empty() && o.reference.empty()) docs = OrExit(train::BuildDefaultCorpus(train::DefaultModelRecipe()));
  }
  if (!o.corpus.empty()) docs = Paragraphs(OrExit(ReadFile(o.corpus)));
  if (!o.reference.empty()) {
    docs = Paragraphs(OrExit(ReadFile(o.reference)));
    exact = false;
  }
  if (docs.empty())
    throw UsageError("this model's training text is unknown: pass --corpus FILE (its training text, exact OCS) or "
                     "--reference FILE (in-distribution text, estimated OCS)");
  // The split is the one thing flags control; say so before loading the model.
  const size_t need = static_cast<size_t>(o.texts + o.calibration_texts) + (exact ? 0 : 1);
  if (docs.size() < need)
    throw UsageError(fmt::format("the text has {} paragraphs; --texts {} + --calibration-texts {}{} need {}: pass a "
                                 "longer --corpus/--reference or fewer texts",
                                 docs.size(), o.texts, o.calibration_texts, exact ? "" : " + 1 for the OCS", need));
  auto lm = OpenModelOrExit(flags);
  LmStudyOptions so;
  so.ocs_source = exact ? OcsSource::kCorpus : OcsSource::kAveragePrediction;
  so.eval_texts = o.texts;
  so.calibration_texts = o.calibration_texts;
  so.ocs_positions = o.ocs_positions;
  so.distance = OrExit(ParseDistance(o.distance));
  so.experiment = e;
  auto study = RunLmStudy(*lm, docs, so, bar.Callback());
  bar.Finish();
  OrExit(study);
  if (!o.save_monitor.empty()) OrExit(WriteFileAtomic(o.save_monitor, study->monitor.ToJson().dump() + "\n"));
  const LmReport& r = study->report;
  nlohmann::json j = ToJson(r);
  fs::path out = o.out;
  WriteOut(out, "lm.json", j.dump(2) + "\n");
  WriteOut(out, "lm.svg", LmSvg(r));
  if (o.json) {
    PrintJson(j);
    return 0;
  }
  std::cout << RenderText(r) << "Wrote " << (out / "lm.json").string() << " and lm.svg"
            << (o.save_monitor.empty() ? "" : "; monitor saved to " + o.save_monitor) << "\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* ood = AddCommand(
      app, "ood", "Out-of-distribution inputs push predictions toward the optimal constant solution: measure it",
      "  lmlab ood classifier                          # the paper protocol on Fashion-MNIST\n"
      "  lmlab ood classifier --protocol lmlab         # lmlab's earlier study (MLP, six shifts)\n"
      "  lmlab ood lm                                  # the embedded default model and its corpus\n"
      "  lmlab ood lm --model m.gguf --reference wiki.txt --save-monitor monitor.json\n");
  ood->require_subcommand(1, 1);
  {
    auto o = std::make_shared<ClassifierOptions>();
    CLI::App* sub = AddCommand(
        *ood, "classifier",
        "Train classifiers (CE, MSE, Gaussian NLL) over several seeds, shift their inputs, and measure the distance "
        "to the OCS against Kang et al.'s OOD score; OOD detection and abstention",
        "  lmlab ood classifier                          # the paper protocol on Fashion-MNIST (see docs/ood.md)\n"
        "  lmlab ood classifier --dataset mnist          # ... on MNIST, where the paper ran FGSM\n"
        "  lmlab ood classifier --arch mlp --seeds 2 --shifts impulse-noise defocus-blur fgsm\n"
        "  lmlab ood classifier --protocol lmlab         # lmlab's earlier study: MLP, six shifts, severity axis\n"
        "  lmlab ood classifier --distance lmlab --axis severity --shifts rotation --severities 0 30 60 90\n"
        "Protocols: paper = KL(f || OCS), OOD-score axis, CIFAR-10-C impulse/shot/speckle noise and defocus/motion\n"
        "blur at severities 1-5 plus FGSM, the paper's MNIST CNN, 5 seeds, the 11-output reward model against\n"
        "xent+1 and a per-level oracle temperature. lmlab = KL(OCS || f), severity axis, rotation, noise, blur,\n"
        "contrast, permutation and dataset blend, the MLP, one seed. Any flag overrides the protocol's choice.\n"
        "Writes <out>/classifier.json, distance.svg, auroc.svg and reward.svg.\n");
    sub->option_defaults()->group("Experiment");
    sub->add_option("--protocol", o->protocol, "paper (Kang et al.'s choices) or lmlab (lmlab's earlier study)")
        ->capture_default_str();
    sub->add_option("--dataset", o->dataset, "In-distribution data: fashion-mnist or mnist")->capture_default_str();
    sub->add_option("--arch", o->arch,
                    "paper-cnn (conv 32, conv 64, dense 128; paper), mlp (784-128-64; lmlab) or cnn (small)");
    sub->add_option("--losses", o->losses, "Any of ce, mse, nll")->capture_default_str();
    sub->add_option("--shifts", o->shifts,
                    "Any of impulse-noise, shot-noise, speckle-noise, defocus-blur, motion-blur, fgsm (paper), "
                    "rotation, noise, blur, contrast, permutation, dataset (lmlab)");
    sub->add_option("--distance", o->distance, "paper: KL(f || OCS), KL(N_pred || N_OCS); lmlab: the reverse");
    sub->add_option("--axis", o->axis, "ood-score (paper) or severity (lmlab): what curves are read against");
    sub->add_option("--seeds", o->seeds, "Models per loss, each on its own seed (paper: 5, lmlab: 1)");
    sub->add_option("--epochs", o->epochs, "Training epochs per model")->capture_default_str();
    sub->add_option("--batch", o->batch, "Training batch size (paper: 64, the paper's MNIST batch; lmlab: 128)");
    sub->add_option("--learning-rate", o->learning_rate, "AdamW step size")->capture_default_str();
    sub->add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
    sub->add_option("--hidden", o->hidden, "MLP hidden layer widths")->expected(2)->capture_default_str();
    sub->add_option("--severities", o->severities,
                    "Severities to sweep, 0 first, ascending (one shift only; default: the shift's grid)");
    sub->add_option("--train-size", o->train_size, "Training images per model (paper: 6,000; lmlab: 60,000)");
    sub->add_option("--eval-size", o->eval_size, "Test images per severity (paper: 500; lmlab: 2,000)");
    sub->add_option("--fgsm-size", o->fgsm_size, "Test images attacked with FGSM per model (default 200)");
    sub->add_option("--ood-l2", o->ood_l2, "L2 penalty of the OOD score's logistic regression (the paper's alpha)")
        ->capture_default_str();
    sub->add_flag("--no-decision", o->no_decision, "Skip the risk-sensitive decision (two models fewer per seed)");
    sub->add_option("--seed", o->seed, "First seed for subsets, initialisation and shifts")->capture_default_str();
    sub->add_option("--threads", o->threads, "CPU threads for training and inference (0 = the idle cores: cores minus the load average)")
        ->capture_default_str();
    sub->option_defaults()->group("Output");
    sub->add_option("--out,-o", o->out, "Directory for classifier.json and the SVG plots")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the report as JSON");
    SetRun(sub, [o, sub] { return RunClassifier(*o, *sub); });
  }
  {
    auto o = std::make_shared<LmOptions>();
    CLI::App* sub = AddCommand(
        *ood, "lm", "Corrupt in-distribution text and watch a language model's predictions approach its OCS",
        "  lmlab ood lm                                   # default model: exact OCS from its corpus\n"
        "  lmlab ood lm --model m.gguf --corpus train.txt # exact OCS from the model's training text\n"
        "  lmlab ood lm --model m.gguf --reference wiki.txt --texts 4 --levels 0 0.5 1\n"
        "  lmlab ood lm --save-monitor monitor.json --json\n"
        "Text files are split into paragraphs at blank lines (or lines, when there are none).\n"
        "Writes <out>/lm.json and lm.svg; --save-monitor keeps the calibrated ignorance monitor.\n");
    AddModelFlags(sub, o->model);
    sub->option_defaults()->group("Data");
    sub->add_option("--corpus", o->corpus, "The model's training text: exact OCS");
    sub->add_option("--reference", o->reference, "In-distribution text: OCS estimated from average predictions");
    sub->add_option("--texts", o->texts, "Held-out texts to corrupt")->capture_default_str();
    sub->add_option("--calibration-texts", o->calibration_texts, "Held-out texts to calibrate on")
        ->capture_default_str();
    sub->add_option("--max-tokens", o->max_tokens, "Positions scored per text")->capture_default_str();
    sub->add_option("--ocs-positions", o->ocs_positions, "Positions averaged for an estimated OCS")
        ->capture_default_str();
    sub->option_defaults()->group("Experiment");
    sub->add_option("--levels", o->levels, "Corruption levels in [0, 1]")->capture_default_str();
    sub->add_option("--corruptions", o->corruptions, "Any of token-replace, word-shuffle, script")
        ->capture_default_str();
    sub->add_option("--distance", o->distance,
                    "paper: KL(p || OCS), the OCS smoothed by one pseudo-count; lmlab: KL(OCS || p)")
        ->capture_default_str();
    sub->add_option("--seed", o->seed, "Seed for splits and corruptions")->capture_default_str();
    sub->option_defaults()->group("Output");
    sub->add_option("--save-monitor", o->save_monitor, "Write the calibrated ignorance monitor (JSON) here");
    sub->add_option("--out,-o", o->out, "Directory for lm.json and lm.svg")->capture_default_str();
    sub->add_flag("--json", o->json, "Print the report as JSON");
    SetRun(sub, [o] { return RunLm(*o); });
  }
}

}  // namespace lmlab::cli::ood_cmd
