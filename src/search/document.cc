#include "lmlab/search/document.h"

#include "lmlab/core/text.h"
#include "lmlab/search/backend.h"

namespace lmlab::search {

std::string SourceFromUrl(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() != '[') rest = rest.substr(0, rest.find(':'));
  std::string host = Lower(rest);
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

}  // namespace lmlab::search
