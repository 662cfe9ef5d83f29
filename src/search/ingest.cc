#include "lmlab/search/ingest.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "lmlab/core/csv.h"
#include "lmlab/core/file.h"
#include "lmlab/core/json.h"
#include "lmlab/core/text.h"

namespace lmlab::search {
namespace {

namespace fs = std::filesystem;

// Fills source from url and makes every field valid UTF-8.
Document Finish(Document d) {
  d.url = ToValidUtf8(d.url);
  d.title = ToValidUtf8(Trim(d.title));
  d.text = ToValidUtf8(d.text);
  d.source = d.source.empty() ? SourceFromUrl(d.url) : ToValidUtf8(d.source);
  if (d.source.empty() && d.url.starts_with("file://")) d.source = "local file";
  return d;
}

std::string JsonString(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return DumpJson(*it);
}

std::string FileUrl(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return "file://" + (ec ? p : abs).string();
}

}  // namespace

Result<Document> ParseTextDocument(std::string_view body, const fs::path& path) {
  Document d;
  d.url = FileUrl(path);
  std::string_view rest = body;
  // Front matter: "---\nkey: value\n---\n".
  if (rest.starts_with("---\n")) {
    size_t end = rest.find("\n---", 4);
    if (end != std::string_view::npos) {
      std::string_view front = rest.substr(4, end - 4);
      size_t pos = 0;
      while (pos < front.size()) {
        size_t nl = front.find('\n', pos);
        std::string_view line = front.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? front.size() : nl + 1;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string key = Lower(Trim(line.substr(0, colon)));
        std::string value(Trim(line.substr(colon + 1)));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
          value = value.substr(1, value.size() - 2);
        if (key == "title") d.title = value;
        else if (key == "url") d.url = value;
        else if (key == "source") d.source = value;
        else if (key == "date") {
          auto t = ParseDate(value);
          if (!t) return ParseError(path.string() + ": front matter: " + t.error().message);
          d.date = *t;
        }
      }
      size_t after = rest.find('\n', end + 4);
      rest = after == std::string_view::npos ? std::string_view() : rest.substr(after + 1);
    }
  }
  if (d.title.empty()) {
    size_t pos = 0;
    while (pos < rest.size()) {
      size_t nl = rest.find('\n', pos);
      std::string_view line = Trim(rest.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
      pos = nl == std::string_view::npos ? rest.size() : nl + 1;
      while (!line.empty() && line.front() == '#') line.remove_prefix(1);
      line = Trim(line);
      if (!line.empty()) {
        d.title = std::string(line.substr(0, 200));
        break;
      }
    }
    if (d.title.empty()) d.title = path.filename().string();
  }
  if (!d.date) {
    std::error_code ec;
    auto mtime = fs::last_write_time(path, ec);
    if (!ec)
      d.date = std::chrono::floor<std::chrono::seconds>(std::chrono::file_clock::to_sys(mtime));
  }
  d.text = std::string(rest);
  return Finish(std::move(d));
}

namespace {

Result<Document> ReadTextFile(const fs::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string body, ReadFile(path));
  return ParseTextDocument(body, path);
}

bool IsTextFile(const fs::path& p) {
  std::string ext = Lower(p.extension().string());
  return ext == ".md" || ext == ".markdown" || ext == ".txt";
}

Result<std::vector<Document>> ReadFolder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && IsTextFile(it->path())) files.push_back(it->path());
  }
  if (ec) return IoError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<Document> docs;
  for (const auto& f : files) {
    LMLAB_ASSIGN_OR_RETURN(Document d, ReadTextFile(f));
    docs.push_back(std::move(d));
  }
  return docs;
}

Result<std::vector<Document>> ReadChangelogFile(const fs::path& path) {
  std::string text;
  if (path.extension() == ".gz") {
    LMLAB_ASSIGN_OR_RETURN(text, ReadGzip(path));
  } else {
    LMLAB_ASSIGN_OR_RETURN(text, ReadFile(path));
  }
  return ParseDebianChangelog(text, path.string());
}

}  // namespace

Result<std::string> ReadGzip(const fs::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    if (!fs::exists(path)) return NotFound("no such file: " + path.string());
    return IoError("cannot open " + path.string());
  }
  std::string out;
  char buf[1 << 16];
  while (true) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      return ParseError(path.string() + ": not a readable gzip file (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  gzclose(f);
  return out;
}

Result<std::vector<Document>> ParseJsonl(std::string_view text, const std::string& origin, const DateContext& dates) {
  std::vector<Document> docs;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    line = Trim(line);
    if (line.empty()) continue;
    std::string where = origin + " line " + std::to_string(line_no);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return ParseError(where + ": not valid JSON");
    if (!j.is_object()) return ParseError(where + ": expected a JSON object per line");
    Document d;
    d.url = JsonString(j, "url");
    d.title = JsonString(j, "title");
    d.text = JsonString(j, "text");
    if (d.text.empty()) d.text = JsonString(j, "content");
    if (d.text.empty() && d.title.empty()) return ParseError(where + ": needs a \"text\" (or \"title\") field");
    d.source = JsonString(j, "source");
    std::string date = JsonString(j, "date");
    if (date.empty()) date = JsonString(j, "publishedDate");
    if (!date.empty()) {
      auto t = ParseDate(date, dates);
      if (!t) return ParseError(where + ": " + t.error().message);
      d.date = *t;
    }
    if (d.url.empty()) d.url = "file://" + origin + "#L" + std::to_string(line_no);
    docs.push_back(Finish(std::move(d)));
  }
  return docs;
}

Result<std::vector<Document>> ParseCsvDocuments(std::string_view text, const std::string& origin,
                                                const DateContext& dates) {
  // Bare quotes inside unquoted fields are common in hand-made and exported
  // files, and unambiguous: they are read as characters.
  auto table = ParseCsv(text, {.bare_quotes = BareQuotes::kLiteral});
  if (!table) return std::unexpected(table.error().WithContext(origin));
  int c_text = table->Column("text"), c_title = table->Column("title"), c_url = table->Column("url");
  int c_date = table->Column("date"), c_source = table->Column("source");
  if (c_text < 0 && c_title < 0)
    return ParseError(origin + ": the CSV header needs a 'text' (or 'title') column; it has: " +
                      DumpJson(nlohmann::json(table->header)));
  std::vector<Document> docs;
  for (size_t r = 0; r < table->rows.size(); ++r) {
    const auto& row = table->rows[r];
    std::string where = origin + " line " + std::to_string(table->row_lines[r]);
    Document d;
    if (c_text >= 0) d.text = row[c_text];
    if (c_title >= 0) d.title = row[c_title];
    if (c_url >= 0) d.url = row[c_url];
    if (c_source >= 0) d.source = row[c_source];
    if (c_date >= 0 && !Trim(row[c_date]).empty()) {
      auto t = ParseDate(row[c_date], dates);
      if (!t) return ParseError(where + ": " + t.error().message);
      d.date = *t;
    }
    if (d.url.empty()) d.url = "file://" + origin + "#L" + std::to_string(table->row_lines[r]);
    docs.push_back(Finish(std::move(d)));
  }
  return docs;
}

Result<std::vector<Document>> ParseDebianChangelog(std::string_view text, const std::string& /*origin*/) {
  // An entry:
  //   package (version) distribution(s); urgency=medium
  //
  //     * change
  //
  //    -- Name <email>  Tue, 05 Mar 2024 10:00:00 +0100
  std::vector<Document> docs;
  std::optional<Document> open;
  std::string header;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool starts_entry = !line.empty() && !std::isspace(static_cast<unsigned char>(line[0])) &&
                        line.find(" (") != std::string_view::npos && line.find(')') != std::string_view::npos;
    if (starts_entry) {
      size_t lp = line.find(" ("), rp = line.find(')', lp);
      if (rp == std::string_view::npos) continue;
      std::string package(line.substr(0, lp));
      std::string version(line.substr(lp + 2, rp - lp - 2));
      std::string_view after = Trim(line.substr(rp + 1));
      std::string dist(Trim(after.substr(0, after.find(';'))));
      open = Document{};
      // One url per source package and version: binary packages of one
      // source ship the same changelog, and re-adding replaces, not duplicates.
      open->url = "https://tracker.debian.org/pkg/" + package + "#" + version;
      open->source = "debian changelog";
      open->title = package + " " + version + (dist.empty() ? "" : " (" + dist + ")");
      open->text = std::string(line) + "\n";
      continue;
    }
    if (!open) continue;  // text before the first entry, or old-format tails (Local variables: ...)
    open->text += std::string(line) + "\n";
    if (line.starts_with(" -- ")) {
      size_t two = line.find("  ", 4);
      if (two != std::string_view::npos) open->date = ParseDateOrUndated(line.substr(two + 2));
      docs.push_back(Finish(std::move(*open)));
      open.reset();
    }
  }
  (void)line_no;
  return docs;
}

std::vector<fs::path> DebianChangelogPaths(const fs::path& doc_root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(doc_root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    fs::path p = it->path() / "changelog.Debian.gz";
    if (fs::is_regular_file(p, ec)) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<InputFormat> ParseInputFormat(std::string_view name) {
  if (name == "auto") return InputFormat::kAuto;
  if (name == "jsonl") return InputFormat::kJsonl;
  if (name == "csv") return InputFormat::kCsv;
  if (name == "folder") return InputFormat::kFolder;
  if (name == "debian-changelog") return InputFormat::kDebianChangelog;
  return InvalidArgument("unknown format '" + std::string(name) + "' (auto, jsonl, csv, folder, debian-changelog)");
}

Result<std::vector<Document>> ReadDocuments(const fs::path& path, const IngestOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("no such file or folder: " + path.string());
  bool dir = fs::is_directory(path, ec);
  InputFormat format = options.format;
  std::string name = path.filename().string();
  if (format == InputFormat::kAuto) {
    if (dir) format = fs::exists(path / "changelog.Debian.gz") || !DebianChangelogPaths(path).empty()
                          ? InputFormat::kDebianChangelog
                          : InputFormat::kFolder;
    else if (name.find("changelog") != std::string::npos) format = InputFormat::kDebianChangelog;
    else if (name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json")) format = InputFormat::kJsonl;
    else if (name.ends_with(".csv")) format = InputFormat::kCsv;
    else if (IsTextFile(path)) format = InputFormat::kFolder;
    else
      return InvalidArgument("cannot tell the format of " + path.string() +
                             " from its name; give its `format`: jsonl, csv, folder or debian-changelog");
  }
  switch (format) {
    case InputFormat::kJsonl: {
      LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
      return ParseJsonl(text, path.string(), options.dates);
    }
    case InputFormat::kCsv: {
      LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
      return ParseCsvDocuments(text, path.string(), options.dates);
    }
    case InputFormat::kFolder: {
      if (!dir) {
        LMLAB_ASSIGN_OR_RETURN(Document d, ReadTextFile(path));
        return std::vector<Document>{std::move(d)};
      }
      return ReadFolder(path);
    }
    case InputFormat::kDebianChangelog: {
      if (!dir) return ReadChangelogFile(path);
      std::vector<fs::path> files;
      if (fs::exists(path / "changelog.Debian.gz")) files.push_back(path / "changelog.Debian.gz");
      else files = DebianChangelogPaths(path);
      std::vector<Document> all;
      for (const auto& f : files) {
        LMLAB_ASSIGN_OR_RETURN(std::vector<Document> docs, ReadChangelogFile(f));
        std::move(docs.begin(), docs.end(), std::back_inserter(all));
      }
      return all;
    }
    case InputFormat::kAuto:
      break;
  }
  return Internal("unhandled input format");
}

}  // namespace lmlab::search
