// What search works on and returns. A Document is one dated page (or one
// Debian changelog entry); an Evidence is one search result carrying the five
// fields FreshPrompt shows the model for each source (Vu et al. 2023):
// source, date, title, snippet, highlight.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/search/date.h"

namespace lmlab::search {

struct Document {
  std::string url;
  std::string source;               // domain ("en.wikipedia.org"); derived from url when empty
  std::string title;
  std::optional<Timestamp> date;    // nullopt = undated
  std::string text;
};

// Which part of a results page an evidence came from. FreshPrompt (Vu et al.
// 2023) merges them all into one list before sorting by date: the web page's
// organic results, related questions, questions and answers, the knowledge
// graph and the answer box. kRecent is the local index's fresh-results box:
// the newest of the best-matching documents, as a web engine shows its "top
// stories" for a question about the latest state of something.
enum class ResultType { kOrganic, kRelatedQuestion, kQuestionAnswer, kKnowledgeGraph, kAnswerBox, kRecent };

struct Evidence {
  std::string source;               // domain
  std::string url;
  std::optional<Timestamp> date;    // nullopt = undated (sorted first by FreshPrompt)
  std::string title;
  std::string snippet;              // the passage around the match
  std::string highlight;            // the matched words, as a search page bolds them
  double score = 0;                 // backend relevance; higher is better
  int relevance_rank = 0;           // 0 = the backend's best result
  ResultType type = ResultType::kOrganic;
};

// A direct answer some engines show above the results (SearXNG answers and
// infoboxes); FreshPrompt puts it right before the question.
struct AnswerBox {
  std::string title;
  std::string text;
  std::string url;
};

struct SearchResults {
  std::string query;
  std::string backend;              // "local", "searxng", ...
  std::vector<Evidence> evidences;  // best first
  std::optional<AnswerBox> answer_box;
  double seconds = 0;
};

// "organic", "related question", "question and answer", "knowledge graph", "answer box", "recent".
std::string_view ResultTypeName(ResultType type);

// "https://www.example.org/a/b" -> "example.org"; "" when there is no host.
std::string SourceFromUrl(std::string_view url);

}  // namespace lmlab::search
