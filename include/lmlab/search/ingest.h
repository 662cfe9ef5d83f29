// Reading documents for the local index from the formats people have:
//   JSONL     one object per line: {"url", "title", "text", "date"?, "source"?}
//   CSV       a header with url, title, text and optionally date, source (RFC-4180 quoting)
//   folder    *.md, *.markdown, *.txt: title from the first heading or line,
//             date from front matter "date:" or else the file's mtime
//   Debian changelogs  changelog.Debian.gz: one dated document per entry
//
//   LMLAB_ASSIGN_OR_RETURN(std::vector<Document> docs, ReadDocuments("news.jsonl", {}));
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/search/document.h"

namespace lmlab::search {

enum class InputFormat { kAuto, kJsonl, kCsv, kFolder, kDebianChangelog };

struct IngestOptions {
  InputFormat format = InputFormat::kAuto;  // kAuto: by extension / directory
  DateContext dates;                        // for relative dates in the input
};

// Everything in `path`. Malformed input is kParse naming the file and line;
// nothing is returned then, so a bad file never half-enters the index.
Result<std::vector<Document>> ReadDocuments(const std::filesystem::path& path, const IngestOptions& options);

// One text or Markdown file's contents: optional "---" front matter (title,
// url, source, date), else the first line (without '#') as the title; the
// date falls back to the file's mtime. `path` names it and gives the url.
Result<Document> ParseTextDocument(std::string_view body, const std::filesystem::path& path);

Result<std::vector<Document>> ParseJsonl(std::string_view text, const std::string& origin, const DateContext& dates);
Result<std::vector<Document>> ParseCsvDocuments(std::string_view text, const std::string& origin,
                                                const DateContext& dates);
// One changelog's text (already decompressed); `origin` names it in errors.
// Each entry's url is "https://tracker.debian.org/pkg/<source>#<version>", so
// the copies that several binary packages of one source ship collapse into one.
Result<std::vector<Document>> ParseDebianChangelog(std::string_view text, const std::string& origin);

// A gzip file's contents (zlib).
Result<std::string> ReadGzip(const std::filesystem::path& path);

// /usr/share/doc/*/changelog.Debian.gz on this machine, sorted.
std::vector<std::filesystem::path> DebianChangelogPaths(const std::filesystem::path& doc_root = "/usr/share/doc");

Result<InputFormat> ParseInputFormat(std::string_view name);  // auto, jsonl, csv, folder, debian-changelog

}  // namespace lmlab::search
