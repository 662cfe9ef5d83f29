// SearXNG (https://docs.searxng.org) as a search backend, through its JSON
// API: GET {base_url}/search?q=...&format=json. Each result's url, title,
// content and publishedDate become an Evidence; `answers` and `infoboxes`
// become the answer box. The instance must allow the json format (settings.yml:
// search.formats: [html, json]); see docs/search.md.
//
//   auto b = OpenSearxng({.base_url = "http://127.0.0.1:8888"});
#pragma once

#include <memory>
#include <string>

#include "lmlab/search/backend.h"

namespace lmlab::search {

struct SearxngOptions {
  std::string base_url;          // "http://127.0.0.1:8888"
  std::string language = "en";   // "" = the instance default
  std::string categories;        // "" = general; "news" for fresher results
  std::string time_range;        // "", "day", "month", "year"
};

std::unique_ptr<SearchBackend> OpenSearxng(const SearxngOptions& options);

// The JSON body of a SearXNG answer to SearchResults (no network), for tests
// and for recorded responses. kParse for a body that is not SearXNG JSON.
Result<SearchResults> ParseSearxngJson(std::string_view body, std::string_view query, const SearchOptions& options);

}  // namespace lmlab::search
