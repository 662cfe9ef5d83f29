#include "lmlab/train/corpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "lmlab/core/file.h"

namespace lmlab::train {
namespace {

// Offset of the first byte that breaks UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

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
  size_t pos = 0;
  auto flush = [&] {
    std::string_view t = Trim(cur);
    if (!t.empty()) docs.emplace_back(t);
    cur.clear();
  };
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) {
      flush();
    } else {
      if (!cur.empty()) cur += '\n';
      cur += line;
    }
    pos = end + 1;
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
