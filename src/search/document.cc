#include "lmlab/search/document.h"

#include <cctype>

#include "lmlab/search/backend.h"

namespace lmlab::search {

std::string SourceFromUrl(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() != '[') rest = rest.substr(0, rest.find(':'));
  std::string host(rest);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host.starts_with("www.")) host.erase(0, 4);
  return host;
}

namespace {

class NullBackend : public SearchBackend {
 public:
  explicit NullBackend(std::string reason) : reason_(std::move(reason)) {}
  std::string name() const override { return "none"; }
  Result<SearchResults> Search(std::string_view, const SearchOptions&) override { return Unavailable(reason_); }

 private:
  std::string reason_;
};

}  // namespace

std::unique_ptr<SearchBackend> MakeNullBackend(std::string reason) {
  return std::make_unique<NullBackend>(std::move(reason));
}

}  // namespace lmlab::search

namespace lmlab::search {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
  if (c == 0xED && b(i + 1) > 0x9F) return 0;   // surrogates
  if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
  if (c == 0xF4 && b(i + 1) > 0x8F) return 0;   // > U+10FFFF
  return n;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceLength(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      unsigned char c = static_cast<unsigned char>(text[i++]);
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string_view ResultTypeName(ResultType type) {
  switch (type) {
    case ResultType::kOrganic: return "organic";
    case ResultType::kRelatedQuestion: return "related question";
    case ResultType::kQuestionAnswer: return "question and answer";
    case ResultType::kKnowledgeGraph: return "knowledge graph";
    case ResultType::kAnswerBox: return "answer box";
    case ResultType::kRecent: return "recent";
  }
  return "?";
}

std::string CollapseWhitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

}  // namespace lmlab::search
