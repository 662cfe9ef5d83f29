// Which search backend FreshPrompt searches: one rule for `lmlab ask`,
// `lmlab serve` and `lmlab freshqa run`.
//
//   - search off and an index or a SearXNG URL given: kInvalidArgument;
//   - an index and a SearXNG URL both given: kInvalidArgument;
//   - search off: a backend that is always unavailable (answers are ungrounded);
//   - an index: that local index (kNotFound when it does not exist);
//   - a SearXNG URL: that instance;
//   - neither: as `when_unset` says: the dated-source index (the user's
//     default index from `lmlab index add` when it exists, else this
//     machine's changelogs and releases, built on first use), no backend, or
//     kInvalidArgument.
//
//   LMLAB_ASSIGN_OR_RETURN(auto backend, OpenSearchBackend({.index = "deb.sqlite"}));
#pragma once

#include <memory>
#include <string>

#include "lmlab/core/progress.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/backend.h"

namespace lmlab::fresh {

enum class WhenUnset { kDatedSources, kNoBackend, kRequired };

struct SearchBackendOptions {
  std::string index;                  // a local index file
  std::string searxng;                // a SearXNG base URL
  SearchMode search = SearchMode::kSearch;
  WhenUnset when_unset = WhenUnset::kDatedSources;
};

struct OpenedBackend {
  std::unique_ptr<search::SearchBackend> backend;
  std::string description;            // "local index /path", "SearXNG at URL", "none (...)"
  bool grounds = false;               // false: every search is unavailable
};

Result<OpenedBackend> OpenSearchBackend(const SearchBackendOptions& options, const ProgressCallback& progress = {});

}  // namespace lmlab::fresh
