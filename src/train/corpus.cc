#include "lmlab/train/corpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "lmlab/core/file.h"
#include "lmlab/core/text.h"

namespace lmlab::train {

Status CheckText(std::string_view text, std::string_view what) {
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    return InvalidArgument(fmt::format("{} looks binary (a NUL byte at offset {}): the corpus must be UTF-8 text", what, nul));
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos)
    return InvalidArgument(fmt::format("{} is not valid UTF-8 (offset {}): the corpus must be UTF-8 text", what, bad));
  return {};
}

std::vector<std::string> SplitDocuments(std::string_view text) {
  std::vector<std::string> docs;
  std::string cur;
  auto flush = [&] {
    std::string_view t = Trim(cur);
    if (!t.empty()) docs.emplace_back(t);
    cur.clear();
  };
  for (std::string_view line : SplitLines(text)) {
    if (Trim(line).empty()) {
      flush();
    } else {
      if (!cur.empty()) cur += '\n';
      cur += line;
    }
  }
  flush();
  return docs;
}

Result<std::vector<std::string>> LoadCorpus(const std::filesystem::path& path) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec); !ec && it != std::filesystem::end(it);
         it.increment(ec))
      if (it->is_regular_file()) files.push_back(it->path());
    if (ec) return IoError(fmt::format("cannot list {}: {}", path.string(), ec.message()));
    std::sort(files.begin(), files.end());
    if (files.empty()) return InvalidArgument(fmt::format("corpus directory {} has no files", path.string()));
  } else if (std::filesystem::exists(path, ec)) {
    files.push_back(path);
  } else {
    return NotFound(fmt::format("corpus {} does not exist", path.string()));
  }
  std::vector<std::string> docs;
  for (const auto& f : files) {
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    LMLAB_RETURN_IF_ERROR(CheckText(text, f.string()));
    for (std::string& d : SplitDocuments(text)) docs.push_back(std::move(d));
  }
  if (docs.empty())
    return InvalidArgument(fmt::format("corpus {} is empty: it needs text (documents separated by blank lines)", path.string()));
  return docs;
}

}  // namespace lmlab::train
