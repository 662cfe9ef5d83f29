#include "lmlab/ood/ignorance.h"

#include "lmlab/core/file.h"
#include "lmlab/core/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

constexpr size_t kMinCalibration = 20;

Status CheckVocab(const LmOcs& ocs, size_t n) {
  if (ocs.probs.size() != n)
    return InvalidArgument(fmt::format("the OCS covers {} tokens but the model's vocabulary has {}; "
                                       "estimate the OCS with this model",
                                       ocs.probs.size(), n));
  return {};
}

// Full next-token log-probabilities at positions 1..n-1 of `tokens`, each
// from the detokenised prefix. Calls `each(position, logprobs)`.
template <class F>
Status ForEachPrefix(runtime::LanguageModel& lm, std::span<const int32_t> tokens, size_t first, F&& each) {
  // One forward pass where the backend offers it; otherwise one prefix
  // evaluation per position. Both see the model's BOS first, as
  // NextTokenLogprobs does, so the two paths give the same distributions.
  std::vector<int32_t> with_bos;
  LMLAB_ASSIGN_OR_RETURN(std::vector<int32_t> bos, lm.Tokenize("", runtime::AddBos::kYes));
  size_t shift = 0;
  if (!bos.empty() && (tokens.empty() || tokens[0] != bos[0])) {
    with_bos.push_back(bos[0]);
    shift = 1;
  }
  with_bos.insert(with_bos.end(), tokens.begin(), tokens.end());
  Status fast = lm.ForEachNextTokenDistribution(
      with_bos, std::max<size_t>(first, 1) + shift,
      [&](size_t i, std::span<const float> lp) -> Status { return each(i - shift, lp); });
  if (fast || fast.error().code != ErrorCode::kUnsupported) return fast;
  for (size_t i = std::max<size_t>(first, 1); i < tokens.size(); ++i) {
    LMLAB_ASSIGN_OR_RETURN(std::string prefix, lm.Detokenize(tokens.subspan(0, i)));
    LMLAB_ASSIGN_OR_RETURN(std::vector<float> lp, lm.NextTokenLogprobs(prefix));
    LMLAB_RETURN_IF_ERROR(each(i, std::span<const float>(lp)));
  }
  return {};
}

}  // namespace

Result<LmOcs> OcsFromCorpus(runtime::LanguageModel& lm, std::span<const std::string> documents, int64_t max_tokens) {
  const int64_t n_vocab = lm.info().n_vocab;
  if (n_vocab <= 0) return Unsupported("the model does not report its vocabulary size");
  LmOcs ocs;
  ocs.source = "corpus";
  std::vector<double> counts(static_cast<size_t>(n_vocab), 0.0);
  for (const std::string& doc : documents) {
    if (ocs.tokens >= max_tokens) break;
    LMLAB_ASSIGN_OR_RETURN(auto ids, lm.Tokenize(doc, runtime::AddBos::kNo));
    for (int32_t id : ids) {
      if (ocs.tokens >= max_tokens) break;
      if (id < 0 || id >= n_vocab) return Internal(fmt::format("tokenizer returned id {} outside the vocabulary", id));
      counts[static_cast<size_t>(id)] += 1;
      ++ocs.tokens;
    }
  }
  if (ocs.tokens == 0) return InvalidArgument("the corpus is empty: no tokens to estimate the OCS from");
  for (double& c : counts) c /= static_cast<double>(ocs.tokens);
  ocs.probs = std::move(counts);
  ocs.entropy = Entropy(ocs.probs);
  return ocs;
}

Result<LmOcs> OcsFromAveragePrediction(runtime::LanguageModel& lm, std::span<const std::string> reference,
                                       int64_t max_positions, const ProgressCallback& progress) {
  const int64_t n_vocab = lm.info().n_vocab;
  if (n_vocab <= 0) return Unsupported("the model does not report its vocabulary size");
  LmOcs ocs;
  ocs.source = "average prediction";
  std::vector<double> sum(static_cast<size_t>(n_vocab), 0.0);
  for (const std::string& text : reference) {
    if (ocs.tokens >= max_positions) break;
    LMLAB_ASSIGN_OR_RETURN(auto ids, lm.Tokenize(text, runtime::AddBos::kNo));
    size_t keep = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(ids.size()), max_positions - ocs.tokens + 1));
    std::span<const int32_t> span(ids.data(), keep);
    LMLAB_RETURN_IF_ERROR(ForEachPrefix(lm, span, 1, [&](size_t, std::span<const float> lp) -> Status {
      if (lp.size() != sum.size()) return Internal("next-token distribution has the wrong size");
      for (size_t v = 0; v < lp.size(); ++v) sum[v] += std::exp(static_cast<double>(lp[v]));
      ++ocs.tokens;
      Report(progress, {"estimating the OCS", static_cast<double>(ocs.tokens), static_cast<double>(max_positions),
                        "positions", ""});
      return {};
    }));
  }
  if (ocs.tokens == 0) return InvalidArgument("the reference text is empty: no positions to average over");
  double total = std::accumulate(sum.begin(), sum.end(), 0.0);
  for (double& v : sum) v /= total;
  ocs.probs = std::move(sum);
  ocs.entropy = Entropy(ocs.probs);
  return ocs;
}

std::vector<double> SmoothedLogOcs(const LmOcs& ocs) {
  const double v = static_cast<double>(ocs.probs.size()), n = static_cast<double>(std::max<int64_t>(ocs.tokens, 1));
  const bool counted = ocs.source == "corpus";  // frequencies of n tokens: may hold zeros
  std::vector<double> out(ocs.probs.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = counted ? std::log((ocs.probs[i] * n + 1.0 / v) / (n + 1.0)) : std::log(std::max(ocs.probs[i], 1e-300));
  return out;
}

namespace {

// KL(p || q~) with p = exp(logprobs) and log q~ given.
double KlPredictionToOcs(std::span<const double> log_ocs, std::span<const float> logprobs) {
  double kl = 0;
  for (size_t v = 0; v < log_ocs.size() && v < logprobs.size(); ++v) {
    const double lp = logprobs[v];
    if (lp > -700) kl += std::exp(lp) * (lp - log_ocs[v]);
  }
  return std::max(kl, 0.0);
}

// KL(q || p).
double KlOcsToPrediction(const LmOcs& ocs, std::span<const float> logprobs) {
  double kl = 0;
  for (size_t v = 0; v < ocs.probs.size() && v < logprobs.size(); ++v) {
    double q = ocs.probs[v];
    if (q > 0) kl += q * (std::log(q) - std::max(static_cast<double>(logprobs[v]), -700.0));
  }
  return std::max(kl, 0.0);
}

Result<std::vector<double>> Distances(runtime::LanguageModel& lm, const LmOcs& ocs, std::span<const double> log_ocs,
                                      std::string_view text, int max_tokens, Distance dist) {
  LMLAB_ASSIGN_OR_RETURN(auto ids, lm.Tokenize(text, runtime::AddBos::kNo));
  if (ids.size() > static_cast<size_t>(max_tokens) + 1) ids.resize(static_cast<size_t>(max_tokens) + 1);
  std::vector<double> d;
  LMLAB_RETURN_IF_ERROR(ForEachPrefix(lm, ids, 1, [&](size_t, std::span<const float> lp) -> Status {
    LMLAB_RETURN_IF_ERROR(CheckVocab(ocs, lp.size()));
    d.push_back(dist == Distance::kPaper ? KlPredictionToOcs(log_ocs, lp) : KlOcsToPrediction(ocs, lp));
    return {};
  }));
  return d;
}

}  // namespace

double DistanceToOcs(const LmOcs& ocs, std::span<const float> logprobs, Distance d) {
  if (d == Distance::kLmlab) return KlOcsToPrediction(ocs, logprobs);
  return KlPredictionToOcs(SmoothedLogOcs(ocs), logprobs);
}

Result<std::vector<double>> TextDistances(runtime::LanguageModel& lm, const LmOcs& ocs, std::string_view text,
                                          int max_tokens, Distance d) {
  const std::vector<double> log_ocs = d == Distance::kPaper ? SmoothedLogOcs(ocs) : std::vector<double>{};
  return Distances(lm, ocs, log_ocs, text, max_tokens, d);
}

Result<std::vector<double>> IgnoranceMonitor::Distances(runtime::LanguageModel& lm, std::string_view text,
                                                        int max_tokens) const {
  return ood::Distances(lm, ocs_, log_ocs_, text, max_tokens, options_.distance);
}

Result<IgnoranceMonitor> IgnoranceMonitor::FromDistances(LmOcs ocs, std::vector<double> calibration,
                                                         const CalibrationOptions& options) {
  if (calibration.size() < kMinCalibration)
    return InvalidArgument(fmt::format("calibration needs at least {} token positions, got {}; give more "
                                       "in-distribution text",
                                       kMinCalibration, calibration.size()));
  if (!(options.token_level > 0 && options.token_level < 1) || !(options.answer_level > 0 && options.answer_level < 1))
    return InvalidArgument("calibration levels must be in (0, 1)");
  if (options.window < 1) return InvalidArgument("the calibration window must be at least 1 token");
  IgnoranceMonitor m;
  m.ocs_ = std::move(ocs);
  if (options.distance == Distance::kPaper) m.log_ocs_ = SmoothedLogOcs(m.ocs_);
  m.options_ = options;
  m.sorted_ = calibration;
  std::sort(m.sorted_.begin(), m.sorted_.end());
  // Windowed means of u over the calibration stream, in its original order.
  std::vector<double> u(calibration.size());
  for (size_t i = 0; i < u.size(); ++i) u[i] = m.ScoreDistance(calibration[i]).ignorance;
  std::vector<double> means;
  const size_t w = std::min(static_cast<size_t>(options.window), u.size());
  const size_t stride = std::max<size_t>(1, w / 2);
  for (size_t s = 0; s + w <= u.size(); s += stride)
    means.push_back(std::accumulate(u.begin() + s, u.begin() + s + w, 0.0) / static_cast<double>(w));
  std::sort(means.begin(), means.end());
  m.answer_threshold_ = Quantile(means, options.answer_level);
  return m;
}

Result<IgnoranceMonitor> IgnoranceMonitor::Calibrate(runtime::LanguageModel& lm, LmOcs ocs,
                                                     std::span<const std::string> texts,
                                                     const CalibrationOptions& options,
                                                     const ProgressCallback& progress) {
  std::vector<double> all;
  for (size_t i = 0; i < texts.size(); ++i) {
    Report(progress, {"calibrating", static_cast<double>(i), static_cast<double>(texts.size()), "texts", ""});
    LMLAB_ASSIGN_OR_RETURN(auto d, TextDistances(lm, ocs, texts[i], options.max_tokens_per_text, options.distance));
    all.insert(all.end(), d.begin(), d.end());
  }
  return FromDistances(std::move(ocs), std::move(all), options);
}

TokenIgnorance IgnoranceMonitor::ScoreDistance(double distance) const {
  TokenIgnorance t;
  t.distance = distance;
  auto above = sorted_.end() - std::upper_bound(sorted_.begin(), sorted_.end(), distance);
  t.ignorance = sorted_.empty() ? 0 : static_cast<double>(above) / static_cast<double>(sorted_.size());
  t.flagged = t.ignorance >= options_.token_level;
  return t;
}

TokenIgnorance IgnoranceMonitor::ScoreLogprobs(std::span<const float> logprobs) const {
  return ScoreDistance(options_.distance == Distance::kPaper ? KlPredictionToOcs(log_ocs_, logprobs)
                                                             : KlOcsToPrediction(ocs_, logprobs));
}

double IgnoranceMonitor::token_distance_threshold() const { return Quantile(sorted_, 1 - options_.token_level); }

AnswerIgnorance IgnoranceMonitor::Summarise(std::vector<TokenIgnorance> tokens) const {
  AnswerIgnorance a;
  a.tokens = std::move(tokens);
  for (const auto& t : a.tokens) {
    a.mean_distance += t.distance / static_cast<double>(a.tokens.size());
    a.ignorance += t.ignorance / static_cast<double>(a.tokens.size());
  }
  a.flagged = !a.tokens.empty() && a.ignorance > answer_threshold_;
  return a;
}

Result<AnswerIgnorance> IgnoranceMonitor::ScoreAnswer(runtime::LanguageModel& lm, std::string_view prompt,
                                                      std::string_view answer, int max_tokens) const {
  LMLAB_ASSIGN_OR_RETURN(auto prompt_ids, lm.Tokenize(prompt, runtime::AddBos::kNo));
  std::string full = std::string(prompt) + std::string(answer);
  LMLAB_ASSIGN_OR_RETURN(auto ids, lm.Tokenize(full, runtime::AddBos::kNo));
  const size_t first = std::min(prompt_ids.size(), ids.size());
  if (ids.size() > first + static_cast<size_t>(max_tokens)) ids.resize(first + static_cast<size_t>(max_tokens));
  std::vector<TokenIgnorance> scores;
  std::vector<std::string> pieces;
  LMLAB_RETURN_IF_ERROR(ForEachPrefix(lm, ids, first, [&](size_t i, std::span<const float> lp) -> Status {
    LMLAB_RETURN_IF_ERROR(CheckVocab(ocs_, lp.size()));
    scores.push_back(ScoreLogprobs(lp));
    LMLAB_ASSIGN_OR_RETURN(std::string piece, lm.Detokenize(std::span<const int32_t>(ids).subspan(i, 1)));
    pieces.push_back(std::move(piece));
    return {};
  }));
  AnswerIgnorance a = Summarise(std::move(scores));
  a.pieces = std::move(pieces);
  return a;
}

nlohmann::json IgnoranceMonitor::ToJson() const {
  nlohmann::json ids = nlohmann::json::array(), probs = nlohmann::json::array();
  for (size_t v = 0; v < ocs_.probs.size(); ++v)
    if (ocs_.probs[v] > 0) ids.push_back(v), probs.push_back(ocs_.probs[v]);
  return {{"ocs", {{"source", ocs_.source}, {"n_vocab", ocs_.probs.size()}, {"tokens", ocs_.tokens},
                   {"entropy", ocs_.entropy}, {"ids", ids}, {"probs", probs}}},
          {"distance", DistanceName(options_.distance)},
          {"calibration_distances", sorted_},
          {"token_level", options_.token_level},
          {"window", options_.window},
          {"answer_level", options_.answer_level},
          {"answer_threshold", answer_threshold_}};
}

Result<IgnoranceMonitor> IgnoranceMonitor::FromJson(const nlohmann::json& j) {
  try {
    LmOcs ocs;
    const auto& o = j.at("ocs");
    ocs.source = o.at("source").get<std::string>();
    ocs.tokens = o.at("tokens").get<int64_t>();
    ocs.probs.assign(o.at("n_vocab").get<size_t>(), 0.0);
    auto ids = o.at("ids").get<std::vector<int64_t>>();
    auto probs = o.at("probs").get<std::vector<double>>();
    if (ids.size() != probs.size()) return ParseError("ignorance monitor: ocs ids and probs differ in length");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= static_cast<int64_t>(ocs.probs.size()))
        return ParseError(fmt::format("ignorance monitor: token id {} outside the vocabulary", ids[i]));
      ocs.probs[static_cast<size_t>(ids[i])] = probs[i];
    }
    ocs.entropy = Entropy(ocs.probs);
    CalibrationOptions opt;
    // Monitors saved before the paper's convention measured KL(OCS || p).
    LMLAB_ASSIGN_OR_RETURN(opt.distance, ParseDistance(j.value("distance", std::string("lmlab"))));
    opt.token_level = j.at("token_level").get<double>();
    opt.window = j.at("window").get<int>();
    opt.answer_level = j.at("answer_level").get<double>();
    return FromDistances(std::move(ocs), j.at("calibration_distances").get<std::vector<double>>(), opt);
  } catch (const nlohmann::json::exception& e) {
    return ParseError(std::string("ignorance monitor: ") + e.what());
  }
}

Result<IgnoranceMonitor> LoadIgnoranceMonitor(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ParseError(path.string() + ": not a JSON ignorance monitor");
  auto monitor = IgnoranceMonitor::FromJson(j);
  if (!monitor) return std::unexpected(monitor.error().WithContext(path.string()));
  return monitor;
}

}  // namespace lmlab::ood
