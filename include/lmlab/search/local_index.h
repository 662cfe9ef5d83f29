// The embedded default search backend: a local SQLite FTS5 index with BM25
// ranking; snippets and highlights come from FTS5's snippet() function.
//
//   LMLAB_ASSIGN_OR_RETURN(auto index, LocalIndex::Open("docs.sqlite", OpenMode::kCreate));
//   LMLAB_ASSIGN_OR_RETURN(AddStats s, index->Add(documents));
//   LMLAB_ASSIGN_OR_RETURN(SearchResults r, index->Search("zlib latest version", {}));
//
// Adding a document whose url is already indexed replaces it, so re-running
// `lmlab index add` on the same files is safe. Each Add is one transaction:
// a failure leaves the index as it was.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/progress.h"
#include "lmlab/search/backend.h"

struct sqlite3;

namespace lmlab::search {

enum class OpenMode { kReadOnly, kCreate };

struct AddStats {
  int64_t added = 0;
  int64_t replaced = 0;   // url already present: the newer copy wins
  int64_t undated = 0;
};

struct IndexStats {
  std::string path;
  int64_t documents = 0;
  int64_t dated = 0;
  std::optional<Timestamp> oldest, newest;
  int64_t file_bytes = 0;
  std::vector<std::pair<std::string, int64_t>> top_sources;  // most documents first, at most 10
};

class LocalIndex : public SearchBackend {
 public:
  // kNotFound for a missing file in kReadOnly mode; kParse when the file is
  // not an lmlab index.
  static Result<std::unique_ptr<LocalIndex>> Open(const std::filesystem::path& path, OpenMode mode);
  ~LocalIndex() override;
  LocalIndex(const LocalIndex&) = delete;
  LocalIndex& operator=(const LocalIndex&) = delete;

  std::string name() const override { return "local"; }
  // Words of the query are OR-ed (FTS5 syntax in the query is not
  // interpreted); in an index of 10,000+ documents, words in more than 1% of
  // them are left out when rarer ones remain (they barely change BM25 but cost a pass over the index).
  // Results best first by BM25 (title weighted 5x).
  Result<SearchResults> Search(std::string_view query, const SearchOptions& options) override;

  Result<AddStats> Add(std::span<const Document> documents, const ProgressCallback& progress = {});
  Result<IndexStats> Stats();

 private:
  explicit LocalIndex(sqlite3* db, std::filesystem::path path);
  std::vector<std::string> PruneCommonWords(std::vector<std::string> words);
  sqlite3* db_;
  std::filesystem::path path_;
};

// The FTS5 query for free text: each word quoted, common words dropped,
// OR-ed ("what is the latest zlib" -> "\"latest\" OR \"zlib\""). "" when no
// word is left.
std::string ToFtsQuery(std::string_view text);

}  // namespace lmlab::search
