// The language-model experiment: in-distribution text corrupted step by step
// (random token replacement, shuffled words, letters in another script), and
// how close the model's next-token distributions come to its OCS.
//
//   LmExperimentOptions o;                    // all corruptions, levels 0..1
//   LMLAB_ASSIGN_OR_RETURN(LmReport r, RunLmExperiment(*lm, monitor, held_out_texts, o, progress));
//   r.curves[0].spearman;                     // < 0: corrupting moves predictions towards the OCS
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::ood {

enum class Corruption {
  kTokenReplace,  // each token replaced, with probability `level`, by a uniformly random vocabulary token
  kWordShuffle,   // a `level` fraction of word positions shuffled among themselves
  kScript,        // a `level` fraction of words spelled in Greek letters (a -> α, b -> β, ...)
};

std::string_view CorruptionName(Corruption c);  // "token-replace", "word-shuffle", "script"
Result<Corruption> ParseCorruption(std::string_view s);
std::vector<Corruption> AllCorruptions();

// The corrupted text; level in [0, 1] (kInvalidArgument otherwise). Token
// replacement needs the model's tokenizer; the others are pure text.
Result<std::string> Corrupt(runtime::LanguageModel& lm, std::string_view text, Corruption kind, double level,
                            uint64_t seed);

struct LmExperimentOptions {
  std::vector<Corruption> corruptions = AllCorruptions();
  std::vector<double> levels = {0, 0.1, 0.25, 0.5, 0.75, 1.0};
  int max_tokens_per_text = 48;
  uint64_t seed = 1;
};

struct LmPoint {
  double level = 0;
  double mean_distance = 0;   // mean d_t over all positions, nats (the monitor's convention)
  double ignorance = 0;       // mean u_t
  double flagged = 0;         // fraction of tokens flagged
  double answers_flagged = 0; // fraction of texts whose answer-level score is flagged
  int64_t positions = 0;
};

struct LmCurve {
  Corruption corruption = Corruption::kTokenReplace;
  std::vector<LmPoint> points;
  double spearman = 0;        // Spearman(level, mean_distance); < 0 = reverting to the OCS
};

struct LmReport {
  std::string model;
  Distance distance = Distance::kPaper;  // d_t = KL(p_t || OCS) (paper) or KL(OCS || p_t) (lmlab)
  std::string ocs_source;
  int64_t ocs_tokens = 0;
  double ocs_entropy = 0;
  double token_distance_threshold = 0;
  double answer_threshold = 0;
  int64_t calibration_positions = 0;
  std::vector<LmCurve> curves;
};

Result<LmReport> RunLmExperiment(runtime::LanguageModel& lm, const IgnoranceMonitor& monitor,
                                 std::span<const std::string> texts, const LmExperimentOptions& options,
                                 const ProgressCallback& progress = {});

// Where a study's OCS comes from.
enum class OcsSource {
  kCorpus,              // the texts are the model's training corpus: exact OCS from all of them
  kAveragePrediction,   // the texts are in-distribution text: OCS estimated from the texts not held out
};

struct LmStudyOptions {
  OcsSource ocs_source = OcsSource::kCorpus;
  Distance distance = Distance::kPaper;  // the monitor's convention (ood/ignorance.h)
  int eval_texts = 8;           // held out and corrupted
  int calibration_texts = 16;   // held out to calibrate the ignorance monitor
  int64_t ocs_positions = 256;  // kAveragePrediction: positions averaged
  LmExperimentOptions experiment;  // its max_tokens_per_text also bounds calibration
};

struct LmStudy {
  LmReport report;
  IgnoranceMonitor monitor;
  size_t eval_texts = 0, calibration_texts = 0;
};

// The whole language-model study from a list of texts: draws the held-out
// evaluation and calibration texts at random (options.experiment.seed), builds
// the OCS, calibrates the monitor and runs the corruption experiment.
// kInvalidArgument when there are too few texts for the split.
Result<LmStudy> RunLmStudy(runtime::LanguageModel& lm, std::span<const std::string> texts,
                           const LmStudyOptions& options, const ProgressCallback& progress = {});

}  // namespace lmlab::ood
