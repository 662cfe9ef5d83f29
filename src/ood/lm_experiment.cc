#include "lmlab/ood/lm_experiment.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "lmlab/core/text.h"
#include "lmlab/ood/ocs.h"

namespace lmlab::ood {
namespace {

// Greek letters for a-z (UTF-8), a visibly different script of the same shape.
constexpr const char* kGreek[26] = {"α", "β", "ψ", "δ", "ε", "φ", "γ", "η", "ι", "ξ", "κ", "λ", "μ",
                                    "ν", "ο", "π", "θ", "ρ", "σ", "τ", "υ", "ω", "ς", "χ", "ϋ", "ζ"};

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> w;
  std::istringstream in{std::string(text)};
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

// Indices of a random `level` fraction of [0, n).
std::vector<size_t> Pick(size_t n, double level, std::mt19937_64& rng) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(static_cast<size_t>(std::lround(level * static_cast<double>(n))));
  return idx;
}

}  // namespace

std::string_view CorruptionName(Corruption c) {
  switch (c) {
    case Corruption::kTokenReplace: return "token-replace";
    case Corruption::kWordShuffle: return "word-shuffle";
    case Corruption::kScript: return "script";
  }
  return "?";
}

Result<Corruption> ParseCorruption(std::string_view s) {
  for (Corruption c : AllCorruptions())
    if (CorruptionName(c) == s) return c;
  return InvalidArgument(fmt::format("unknown corruption '{}': use token-replace, word-shuffle or script", s));
}

std::vector<Corruption> AllCorruptions() {
  return {Corruption::kTokenReplace, Corruption::kWordShuffle, Corruption::kScript};
}

Result<std::string> Corrupt(runtime::LanguageModel& lm, std::string_view text, Corruption kind, double level,
                            uint64_t seed) {
  if (!(level >= 0 && level <= 1)) return InvalidArgument(fmt::format("corruption level {} is outside [0, 1]", level));
  std::mt19937_64 rng(seed);
  switch (kind) {
    case Corruption::kTokenReplace: {
      LMLAB_ASSIGN_OR_RETURN(auto ids, lm.Tokenize(text, runtime::AddBos::kNo));
      const int64_t n_vocab = lm.info().n_vocab;
      if (n_vocab <= 0) return Unsupported("the model does not report its vocabulary size");
      std::uniform_int_distribution<int32_t> any(0, static_cast<int32_t>(n_vocab - 1));
      for (size_t i : Pick(ids.size(), level, rng)) {
        // Skip control tokens (they detokenise to nothing) so the text keeps its length.
        for (int tries = 0; tries < 20; ++tries) {
          int32_t t = any(rng);
          LMLAB_ASSIGN_OR_RETURN(std::string piece, lm.Detokenize(std::span<const int32_t>(&t, 1)));
          if (!piece.empty()) {
            ids[i] = t;
            break;
          }
        }
      }
      return lm.Detokenize(ids);
    }
    case Corruption::kWordShuffle: {
      auto w = Words(text);
      auto idx = Pick(w.size(), level, rng);
      std::vector<std::string> moved;
      for (size_t i : idx) moved.push_back(w[i]);
      std::shuffle(moved.begin(), moved.end(), rng);
      for (size_t k = 0; k < idx.size(); ++k) w[idx[k]] = moved[k];
      return Join(w, " ");
    }
    case Corruption::kScript: {
      auto w = Words(text);
      for (size_t i : Pick(w.size(), level, rng)) {
        std::string g;
        for (char c : w[i]) {
          char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          g += (l >= 'a' && l <= 'z') ? kGreek[l - 'a'] : std::string(1, c);
        }
        w[i] = g;
      }
      return Join(w, " ");
    }
  }
  return Internal("unknown corruption");
}

Result<LmReport> RunLmExperiment(runtime::LanguageModel& lm, const IgnoranceMonitor& monitor,
                                 std::span<const std::string> texts, const LmExperimentOptions& o,
                                 const ProgressCallback& progress) {
  if (texts.empty()) return InvalidArgument("the experiment needs at least one in-distribution text");
  if (o.levels.empty() || o.corruptions.empty()) return InvalidArgument("choose at least one level and corruption");
  LmReport r;
  r.model = lm.info().name;
  r.distance = monitor.distance();
  r.ocs_source = monitor.ocs().source;
  r.ocs_tokens = monitor.ocs().tokens;
  r.ocs_entropy = monitor.ocs().entropy;
  r.token_distance_threshold = monitor.token_distance_threshold();
  r.answer_threshold = monitor.answer_threshold();
  r.calibration_positions = static_cast<int64_t>(monitor.calibration_size());
  std::vector<double> levels = o.levels;
  std::sort(levels.begin(), levels.end());
  const double total = static_cast<double>(o.corruptions.size() * levels.size() * texts.size());
  double done = 0;
  for (Corruption kind : o.corruptions) {
    LmCurve curve;
    curve.corruption = kind;
    for (double level : levels) {
      LmPoint pt;
      pt.level = level;
      int64_t answers = 0;
      for (size_t t = 0; t < texts.size(); ++t) {
        Report(progress, {"corrupting and scoring", done++, total, "texts",
                          fmt::format("{} {:.2f}", CorruptionName(kind), level)});
        LMLAB_ASSIGN_OR_RETURN(std::string text, Corrupt(lm, texts[t], kind, level, o.seed + t));
        LMLAB_ASSIGN_OR_RETURN(auto d, monitor.Distances(lm, text, o.max_tokens_per_text));
        if (d.empty()) continue;
        std::vector<TokenIgnorance> scores;
        for (double v : d) scores.push_back(monitor.ScoreDistance(v));
        AnswerIgnorance a = monitor.Summarise(scores);
        for (const auto& s : scores) {
          pt.mean_distance += s.distance;
          pt.ignorance += s.ignorance;
          pt.flagged += s.flagged ? 1 : 0;
        }
        pt.positions += static_cast<int64_t>(scores.size());
        pt.answers_flagged += a.flagged ? 1 : 0;
        ++answers;
      }
      if (pt.positions > 0) {
        pt.mean_distance /= static_cast<double>(pt.positions);
        pt.ignorance /= static_cast<double>(pt.positions);
        pt.flagged /= static_cast<double>(pt.positions);
      }
      if (answers > 0) pt.answers_flagged /= static_cast<double>(answers);
      curve.points.push_back(pt);
    }
    std::vector<double> x, y;
    for (const auto& p : curve.points) x.push_back(p.level), y.push_back(p.mean_distance);
    curve.spearman = Spearman(x, y);
    r.curves.push_back(std::move(curve));
  }
  Report(progress, {"corrupting and scoring", total, total, "texts", ""});
  return r;
}

Result<LmStudy> RunLmStudy(runtime::LanguageModel& lm, std::span<const std::string> texts,
                           const LmStudyOptions& options, const ProgressCallback& progress) {
  if (options.eval_texts < 1 || options.calibration_texts < 2)
    return InvalidArgument("the study needs at least 1 evaluation text and 2 calibration texts");
  const bool exact = options.ocs_source == OcsSource::kCorpus;
  const size_t need = static_cast<size_t>(options.eval_texts + options.calibration_texts);
  // An estimated OCS needs text that is not held out.
  if (texts.size() < need + (exact ? 0 : 1))
    return InvalidArgument(fmt::format("{} texts: {} evaluation + {} calibration texts need {}{}", texts.size(),
                                       options.eval_texts, options.calibration_texts, need,
                                       exact ? "" : ", plus more for the OCS"));
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.experiment.seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::string> eval, calib, rest;
  for (size_t i : order) {
    if (eval.size() < static_cast<size_t>(options.eval_texts)) eval.push_back(texts[i]);
    else if (calib.size() < static_cast<size_t>(options.calibration_texts)) calib.push_back(texts[i]);
    else rest.push_back(texts[i]);
  }
  // The exact OCS is a property of the whole training text, held-out part
  // included; an estimate must not see the texts it is judged on.
  LMLAB_ASSIGN_OR_RETURN(LmOcs ocs, exact ? OcsFromCorpus(lm, texts)
                                          : OcsFromAveragePrediction(lm, rest, options.ocs_positions, progress));
  CalibrationOptions co;
  co.distance = options.distance;
  co.max_tokens_per_text = options.experiment.max_tokens_per_text;
  LMLAB_ASSIGN_OR_RETURN(IgnoranceMonitor monitor, IgnoranceMonitor::Calibrate(lm, std::move(ocs), calib, co, progress));
  LMLAB_ASSIGN_OR_RETURN(LmReport report, RunLmExperiment(lm, monitor, eval, options.experiment, progress));
  return LmStudy{std::move(report), std::move(monitor), eval.size(), calib.size()};
}

}  // namespace lmlab::ood
