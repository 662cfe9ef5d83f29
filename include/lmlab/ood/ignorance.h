// "Is the model guessing?" for language models, from the reversion of
// Kang et al. 2023 (arXiv 2310.00873): on inputs it cannot handle, a network's
// prediction drifts towards the optimal constant solution (OCS), the one
// prediction that minimises its training loss without looking at the input.
// For next-token cross-entropy the OCS is the marginal distribution q of
// next tokens in the training text (a unigram distribution).
//
// Per-token distance, in the paper's convention (ood/ocs.h Distance::kPaper):
// d_t = D_KL(p_t || q~), p_t the model's next-token distribution at position
// t (nats; O(n_vocab)). Small d_t = the model is falling back on "any typical
// token". p_t is a softmax and never zero, so KL(p_t || q) is infinite
// wherever the corpus never saw a token; a corpus OCS is therefore smoothed
// by one pseudo-count spread over the vocabulary, q~ = (counts + 1/V) / (N + 1)
// (an estimated OCS, an average of softmaxes, has no zeros and is used as
// is). Distance::kLmlab keeps lmlab's earlier d_t = D_KL(q || p_t).
// Per-token ignorance: u_t = fraction of in-distribution calibration
// positions whose distance exceeds d_t, in [0, 1]; uniform on in-distribution
// text, near 1 when the prediction is closer to the OCS than almost anything
// seen in distribution. A token is flagged when u_t >= token_level (0.95).
// Answer ignorance: the mean u_t over the answer's tokens, flagged above the
// calibrated threshold: the 95th percentile of the same mean over windows of
// in-distribution text.
//
//   LMLAB_ASSIGN_OR_RETURN(LmOcs ocs, OcsFromCorpus(*lm, corpus_documents));
//   LMLAB_ASSIGN_OR_RETURN(IgnoranceMonitor mon, IgnoranceMonitor::Calibrate(*lm, ocs, held_out_texts));
//   LMLAB_ASSIGN_OR_RETURN(AnswerIgnorance a, mon.ScoreAnswer(*lm, prompt, answer));
//   if (a.flagged) ... "the model is probably guessing" ...
//   // or, where the caller already has p_t (e.g. while generating):
//   TokenIgnorance t = mon.ScoreLogprobs(next_token_logprobs);
//
// Cost: ScoreLogprobs is O(n_vocab). ScoreAnswer asks the model for one
// full next-token distribution per answer token (one prefix evaluation each).
// Thread-safety: a calibrated monitor is immutable; share it freely.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/ood/ocs.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::ood {

struct LmOcs {
  std::string source;           // "corpus" (exact) or "average prediction" (estimated)
  std::vector<double> probs;    // [n_vocab], sums to 1
  int64_t tokens = 0;           // target tokens counted, or positions averaged
  double entropy = 0;           // nats
};

// Exact OCS of a model trained on `documents`: the frequency of each token as
// a next-token target (every token of each tokenised document; BOS is never a
// target). Reads at most `max_tokens` tokens. kInvalidArgument when empty.
Result<LmOcs> OcsFromCorpus(runtime::LanguageModel& lm, std::span<const std::string> documents,
                            int64_t max_tokens = 2'000'000);

// Estimated OCS for any model: the average of its next-token distributions
// over the first `max_positions` positions of `reference` texts.
Result<LmOcs> OcsFromAveragePrediction(runtime::LanguageModel& lm, std::span<const std::string> reference,
                                       int64_t max_positions = 256, const ProgressCallback& progress = {});

// log q~ per token, the OCS as the paper's convention reads it: [n_vocab].
std::vector<double> SmoothedLogOcs(const LmOcs& ocs);

// D_KL(p || q~) (kPaper) or D_KL(OCS || p) (kLmlab), p = exp(logprobs) over
// the whole vocabulary [n_vocab].
double DistanceToOcs(const LmOcs& ocs, std::span<const float> logprobs, Distance d = Distance::kPaper);

// d_t for the tokens of `text` (at most `max_tokens`, starting at the second
// token so that every position has context): [n_positions].
Result<std::vector<double>> TextDistances(runtime::LanguageModel& lm, const LmOcs& ocs, std::string_view text,
                                          int max_tokens = 64, Distance d = Distance::kPaper);

struct CalibrationOptions {
  Distance distance = Distance::kPaper;  // saved with the monitor; files without it are kLmlab (written before)
  int max_tokens_per_text = 64;
  double token_level = 0.95;   // a token is flagged when its ignorance is at least this
  int window = 16;             // answer-length window for the answer threshold
  double answer_level = 0.95;  // quantile of windowed mean ignorance
};

struct TokenIgnorance {
  double distance = 0;   // d_t, nats
  double ignorance = 0;  // u_t in [0, 1]
  bool flagged = false;
};

struct AnswerIgnorance {
  std::vector<TokenIgnorance> tokens;
  std::vector<std::string> pieces;  // the answer's tokens as text (same order)
  double mean_distance = 0;
  double ignorance = 0;   // mean u_t
  bool flagged = false;   // ignorance > answer_threshold
};

class IgnoranceMonitor {
 public:
  // Calibrates on in-distribution `texts` (held out from whatever estimated
  // the OCS). kInvalidArgument when they give fewer than 20 positions.
  static Result<IgnoranceMonitor> Calibrate(runtime::LanguageModel& lm, LmOcs ocs, std::span<const std::string> texts,
                                            const CalibrationOptions& options = {},
                                            const ProgressCallback& progress = {});
  // From calibration distances computed elsewhere (tests, saved monitors).
  static Result<IgnoranceMonitor> FromDistances(LmOcs ocs, std::vector<double> calibration_distances,
                                                const CalibrationOptions& options = {});

  TokenIgnorance ScoreDistance(double distance) const;
  TokenIgnorance ScoreLogprobs(std::span<const float> logprobs) const;
  // d_t of `text`'s tokens in this monitor's convention (as TextDistances).
  Result<std::vector<double>> Distances(runtime::LanguageModel& lm, std::string_view text, int max_tokens) const;
  Distance distance() const { return options_.distance; }
  // Scores the tokens of `answer` as a continuation of `prompt`.
  Result<AnswerIgnorance> ScoreAnswer(runtime::LanguageModel& lm, std::string_view prompt, std::string_view answer,
                                      int max_tokens = 128) const;
  // Mean ignorance of a sequence of token scores, and whether it is flagged.
  AnswerIgnorance Summarise(std::vector<TokenIgnorance> tokens) const;

  const LmOcs& ocs() const { return ocs_; }
  double answer_threshold() const { return answer_threshold_; }
  // Distance below which a token is flagged (the 1 - token_level quantile).
  double token_distance_threshold() const;
  size_t calibration_size() const { return sorted_.size(); }

  // Save and load (a calibrated monitor is reused across runs): the OCS as
  // sparse {id: prob}, the calibration distances and options.
  nlohmann::json ToJson() const;
  static Result<IgnoranceMonitor> FromJson(const nlohmann::json& j);

 private:
  LmOcs ocs_;
  std::vector<double> log_ocs_;  // SmoothedLogOcs(ocs_), for kPaper
  std::vector<double> sorted_;  // calibration distances, ascending
  CalibrationOptions options_;
  double answer_threshold_ = 1;
};

// Reads a monitor saved with IgnoranceMonitor::ToJson (`lmlab ood lm
// --save-monitor FILE`); errors name the file.
Result<IgnoranceMonitor> LoadIgnoranceMonitor(const std::filesystem::path& path);

}  // namespace lmlab::ood
