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

#include "lmlab/core/http.h"
#include "lmlab/core/http_retry.h"
#include "lmlab/search/backend.h"

namespace lmlab::search {

struct SearxngOptions {
  std::string base_url;          // "http://127.0.0.1:8888"
  std::string language = "en";   // "" = the instance default
  std::string categories;        // "" = general; "news" for fresher results
  std::string time_range;        // "", "day", "month", "year"
  // A refused connection or a 429/5xx is tried again once, within the
  // search's timeout (SearchOptions::timeout_seconds bounds the whole call).
  RetryPolicy retry = {.max_retries = 1, .initial_backoff_seconds = 0.25};
  std::shared_ptr<HttpClient> http;  // null = libcurl
};

std::unique_ptr<SearchBackend> OpenSearxng(const SearxngOptions& options);

// The JSON body of a SearXNG answer to SearchResults (no network), for tests
// and for recorded responses. kParse for a body that is not SearXNG JSON.
Result<SearchResults> ParseSearxngJson(std::string_view body, std::string_view query, const SearchOptions& options);

}  // namespace lmlab::search
