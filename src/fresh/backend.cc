#include "lmlab/fresh/backend.h"

#include "lmlab/core/file.h"
#include "lmlab/fresh/reader.h"
#include "lmlab/search/local_index.h"
#include "lmlab/search/searxng.h"

namespace lmlab::fresh {
namespace {

Result<OpenedBackend> OpenIndex(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(auto index, search::LocalIndex::Open(path, search::OpenMode::kReadOnly));
  return OpenedBackend{std::move(index), "local index " + path.string(), true};
}

}  // namespace

Result<OpenedBackend> OpenSearchBackend(const SearchBackendOptions& o, const ProgressCallback& progress) {
  const bool named = !o.index.empty() || !o.searxng.empty();
  if (o.search == SearchMode::kNoSearch && named)
    return InvalidArgument("search is turned off, yet a " + std::string(o.index.empty() ? "SearXNG URL" : "local index") +
                           " was given");
  if (!o.index.empty() && !o.searxng.empty())
    return InvalidArgument("give a local index or a SearXNG URL, not both: FreshPrompt searches one backend");
  if (o.search == SearchMode::kNoSearch)
    return OpenedBackend{search::MakeNullBackend("search disabled"), "none (search disabled)", false};
  if (!o.index.empty()) return OpenIndex(o.index);
  if (!o.searxng.empty())
    return OpenedBackend{search::OpenSearxng({.base_url = o.searxng}), "SearXNG at " + o.searxng, true};
  switch (o.when_unset) {
    case WhenUnset::kNoBackend:
      return OpenedBackend{search::MakeNullBackend("no search backend is configured"), "none", false};
    case WhenUnset::kRequired:
      return InvalidArgument("no search backend was given (a local index, a SearXNG URL, or search turned off)");
    case WhenUnset::kDatedSources: break;
  }
  // The user's own default index (what `lmlab index add` fills) wins over the
  // built-in one of this machine's dated sources.
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path cache, CacheDir());
  std::error_code ec;
  if (std::filesystem::exists(cache / "index.sqlite", ec)) return OpenIndex(cache / "index.sqlite");
  LMLAB_ASSIGN_OR_RETURN(std::filesystem::path built, EnsureDatedSourceIndex(progress));
  LMLAB_ASSIGN_OR_RETURN(OpenedBackend b, OpenIndex(built));
  b.description = "this machine's dated sources (Debian changelogs, distro-info) in " + built.string();
  return b;
}

}  // namespace lmlab::fresh
