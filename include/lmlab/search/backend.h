// SearchBackend: the one interface FreshPrompt searches through. lmlab ships
// a local SQLite FTS5 index (local_index.h) and SearXNG (searxng.h); another
// engine (Elasticsearch, OpenSearch, a hosted API) is one more subclass and
// needs no change to the prompt code.
//
//   std::unique_ptr<SearchBackend> b = OpenSearxng({.base_url = "http://127.0.0.1:8888"});
//   LMLAB_ASSIGN_OR_RETURN(SearchResults r, b->Search("latest zlib release", {.max_results = 10}));
//
// Thread-safety: one backend object serves one caller at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"
#include "lmlab/search/document.h"

namespace lmlab::search {

struct SearchOptions {
  int max_results = 10;         // organic results
  // Fresh results besides the organic ones (ResultType::kRecent): the newest
  // documents whose title holds a query word, as a web engine's "top
  // stories" box shows the latest about a subject. Backends without such a
  // box ignore it.
  int max_recent = 0;
  double timeout_seconds = 10;  // network backends give up after this (kTimeout / kUnavailable)
  DateContext dates;            // for relative dates in results ("2 days ago")
};

class SearchBackend {
 public:
  virtual ~SearchBackend() = default;
  // "local", "searxng", ...
  virtual std::string name() const = 0;
  // kUnavailable / kTimeout when the engine cannot be reached; an empty
  // result list is not an error.
  virtual Result<SearchResults> Search(std::string_view query, const SearchOptions& options) = 0;
};

// A backend with nothing behind it (`lmlab ask --no-search`, or no index
// configured): every search is kUnavailable with `reason`.
std::unique_ptr<SearchBackend> MakeNullBackend(std::string reason);

}  // namespace lmlab::search
