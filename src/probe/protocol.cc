#include "lmlab/probe/protocol.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>

#include "lmlab/probe/ridge.h"

namespace lmlab::probe {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

std::string_view ProtocolName(Protocol p) { return p == Protocol::kPaper ? "paper" : "lmlab"; }

Result<Protocol> ParseProtocol(std::string_view name) {
  if (name == "paper") return Protocol::kPaper;
  if (name == "lmlab") return Protocol::kLmlab;
  return InvalidArgument("unknown protocol '" + std::string(name) + "' (known: paper, lmlab)");
}

std::vector<double> PaperAlphaGrid(int64_t n_embd) {
  // (log2 width, upper exponent) of the paper's three grids.
  constexpr double kPoints[3][2] = {{12.0, 4.1}, {12.321928094887363, 4.3}, {13.0, 4.5}};  // 4096, 5120, 8192
  const double w = std::log2(static_cast<double>(std::max<int64_t>(1, n_embd)));
  double upper = kPoints[0][1];
  if (w >= kPoints[2][0]) {
    upper = kPoints[2][1];
  } else {
    for (int i = 0; i + 1 < 3; ++i)
      if (w > kPoints[i][0] && w <= kPoints[i + 1][0]) {
        const double f = (w - kPoints[i][0]) / (kPoints[i + 1][0] - kPoints[i][0]);
        upper = kPoints[i][1] + f * (kPoints[i + 1][1] - kPoints[i][1]);
      }
  }
  return LogSpace(0.8, upper, 12);
}

std::optional<double> PaperFixedAlpha(int64_t n_embd) {
  switch (n_embd) {
    case 4096: return 3000.0;
    case 5120: return 6000.0;
    case 8192: return 18000.0;
    default: return std::nullopt;
  }
}

std::string PaperEntityText(std::string_view name, EntityKind kind) {
  if (kind != EntityKind::kPlace) return std::string(name);
  // "X (Y)" -> "Y's X": the first parenthesised part moves to the front.
  const size_t open = name.find('(');
  const size_t close = open == std::string_view::npos ? open : name.find(')', open);
  if (close != std::string_view::npos) {
    const std::string_view inside = name.substr(open + 1, close - open - 1);
    // Trimmed: the paper's regex leaves "Springfield " with a trailing space,
    // which would make a lone space the last token (docs/probe.md).
    const std::string rest = std::string(name.substr(0, open)) + std::string(name.substr(close + 1));
    return std::string(Trim(inside)) + "'s " + std::string(Trim(rest));
  }
  // "X, Y" -> "Y's X": the part after the last comma moves to the front.
  const size_t comma = name.rfind(',');
  if (comma != std::string_view::npos)
    return std::string(Trim(name.substr(comma + 1))) + "'s " + std::string(name.substr(0, comma));
  return std::string(name);
}

std::string QuestionPrefix(const EntityDataset& ds, Protocol protocol) {
  if (ds.kind == TargetKind::kPlace) return "What are the lat/lon coordinates of ";
  if (protocol == Protocol::kLmlab) return "In what year did this happen: ";
  switch (ds.entity_kind) {
    case EntityKind::kPerson: return "When did ";
    case EntityKind::kWork: return "When was the release date of ";
    default: return "Publication date of: ";
  }
}

StudyPrompts MakeStudyPrompts(const EntityDataset& ds, PromptTemplate t, Protocol protocol, int64_t n_vocab,
                              uint64_t seed) {
  StudyPrompts out;
  if (protocol == Protocol::kLmlab) {
    out.text = MakePrompts(ds, t, seed);
    for (const std::string& e : ds.entities) out.entity_text.push_back(t == PromptTemplate::kAllCaps ? Upper(e) : e);
    return out;
  }
  const std::string question = QuestionPrefix(ds, protocol);
  const int32_t high = static_cast<int32_t>(std::max<int64_t>(1, n_vocab));
  const int32_t low = high > kPaperRandomTokenLow ? kPaperRandomTokenLow : 0;
  for (size_t i = 0; i < ds.entities.size(); ++i) {
    std::string entity = PaperEntityText(ds.entities[i], ds.entity_kind);
    if (t == PromptTemplate::kAllCaps) entity = Upper(entity);
    out.entity_text.push_back(entity);
    switch (t) {
      case PromptTemplate::kBare:
      case PromptTemplate::kAllCaps: out.text.push_back(entity); break;
      case PromptTemplate::kQuestion: out.text.push_back(question + entity); break;
      case PromptTemplate::kRandomPrefix: {
        std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(i),
                          0x7a11u};
        std::mt19937_64 rng(seq);
        std::uniform_int_distribution<int32_t> id(low, high - 1);
        if (out.prefix_tokens.empty()) out.prefix_tokens.resize(ds.entities.size());
        for (int k = 0; k < kPaperRandomTokens; ++k) out.prefix_tokens[i].push_back(id(rng));
        out.text.push_back(entity);
        break;
      }
    }
  }
  return out;
}

}  // namespace lmlab::probe
