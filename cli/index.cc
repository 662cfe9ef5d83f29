// `lmlab index add|search|stats`: the local SQLite FTS5 search index that
// `lmlab ask` grounds its answers in. See docs/search.md.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/core/file.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/core/text.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"

namespace lmlab::cli::index_cmd {
namespace {

using namespace lmlab::search;

struct Options {
  std::string index;
  std::vector<std::string> inputs;
  std::string format = "auto";
  bool debian_changelogs = false;
  std::string today;
  std::string query;
  int k = 10;
  bool json = false;
};

std::string IndexPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  return (OrExit(CacheDir()) / "index.sqlite").string();
}

// An existing index; a missing one says how to build it.
std::unique_ptr<LocalIndex> OpenExisting(const std::string& flag) {
  const std::string path = IndexPath(flag);
  auto index = LocalIndex::Open(path, OpenMode::kReadOnly);
  if (!index && index.error().code == ErrorCode::kNotFound)
    throw CommandError({ErrorCode::kNotFound, "no index at " + path + ": build one with 'lmlab index add FILES --index " +
                                                  path + "'"});
  return OrExit(std::move(index));
}

DateContext Dates(const std::string& today) {
  return {today.empty() ? TodayUtc() : OrExit(ParseDay(today))};
}

std::string DateOrDash(const std::optional<Timestamp>& t) { return t ? FormatIsoDay(*t) : "-"; }

int RunAdd(const Options& o) {
  if (o.inputs.empty() && !o.debian_changelogs)
    throw UsageError("give files or folders to add, or --debian-changelogs (see 'lmlab index add --help')");
  IngestOptions io{OrExit(ParseInputFormat(o.format)), Dates(o.today)};
  std::vector<std::string> inputs = o.inputs;
  if (o.debian_changelogs)
    for (const auto& p : DebianChangelogPaths()) inputs.push_back(p.string());
  // Read everything first: a malformed file stops the command before the index changes.
  std::vector<Document> docs;
  ProgressBar bar;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto more = ReadDocuments(inputs[i], io);
    if (!more) throw CommandError(more.error());
    std::move(more->begin(), more->end(), std::back_inserter(docs));
    if (inputs.size() > 20) bar({"reading", double(i + 1), double(inputs.size()), "files", ""});
  }
  std::string path = IndexPath(o.index);
  auto index = OrExit(LocalIndex::Open(path, OpenMode::kCreate));
  AddStats s = OrExit(index->Add(docs, bar.Callback()));
  bar.Finish();
  IndexStats st = OrExit(index->Stats());
  if (o.json) {
    PrintJson({{"index", path}, {"added", s.added}, {"replaced", s.replaced}, {"undated", s.undated},
               {"documents", st.documents}});
    return 0;
  }
  std::cout << "Added " << FormatThousands(double(s.added)) << " documents (" << FormatThousands(double(s.replaced))
            << " replaced, " << FormatThousands(double(s.undated)) << " undated) to " << path << "; it now holds "
            << FormatThousands(double(st.documents)) << ".\n";
  return 0;
}

int RunSearch(const Options& o) {
  if (o.k < 1) throw UsageError("--k must be at least 1");
  auto index = OpenExisting(o.index);
  SearchOptions so;
  so.max_results = o.k;
  SearchResults r = OrExit(index->Search(o.query, so));
  if (o.json) {
    nlohmann::json ev = nlohmann::json::array();
    for (const auto& e : r.evidences) ev.push_back(fresh::ToJson(e));
    PrintJson({{"query", r.query}, {"backend", r.backend}, {"seconds", r.seconds}, {"evidences", ev}});
    return 0;
  }
  if (r.evidences.empty()) {
    std::cout << "No results for \"" << o.query << "\".\n";
    return 0;
  }
  Table t({"#", "date", "source", "title", "snippet"}, {Align::kRight});
  for (const auto& e : r.evidences) {
    std::string snippet = e.snippet.size() > 70 ? e.snippet.substr(0, 67) + "..." : e.snippet;
    std::string title = e.title.size() > 40 ? e.title.substr(0, 37) + "..." : e.title;
    t.AddRow({std::to_string(e.relevance_rank + 1), DateOrDash(e.date), e.source, ToValidUtf8(title),
              ToValidUtf8(snippet)});
  }
  std::cout << t.Render() << FormatFixed(r.seconds * 1000, 2) << " ms (BM25 order; `lmlab ask` re-sorts by date)\n";
  return 0;
}

int RunStats(const Options& o) {
  auto index = OpenExisting(o.index);
  IndexStats s = OrExit(index->Stats());
  if (o.json) {
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& [src, n] : s.top_sources) sources.push_back({{"source", src}, {"documents", n}});
    PrintJson({{"index", s.path}, {"documents", s.documents}, {"dated", s.dated},
               {"oldest", s.oldest ? nlohmann::json(FormatIsoDay(*s.oldest)) : nlohmann::json(nullptr)},
               {"newest", s.newest ? nlohmann::json(FormatIsoDay(*s.newest)) : nlohmann::json(nullptr)},
               {"file_bytes", s.file_bytes}, {"top_sources", sources}});
    return 0;
  }
  Table t({"", ""}, {Align::kLeft, Align::kRight});
  t.AddRow({"index", s.path});
  t.AddRow({"documents", FormatThousands(double(s.documents))});
  t.AddRow({"dated", FormatThousands(double(s.dated))});
  t.AddRow({"oldest", DateOrDash(s.oldest)});
  t.AddRow({"newest", DateOrDash(s.newest)});
  t.AddRow({"size", FormatBytes(double(s.file_bytes))});
  std::cout << t.Render();
  if (!s.top_sources.empty()) {
    Table src({"source", "documents"}, {Align::kLeft, Align::kRight});
    for (const auto& [name, n] : s.top_sources) src.AddRow({name, FormatThousands(double(n))});
    std::cout << "\n" << src.Render();
  }
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  CLI::App* index = AddCommand(app, "index", "Build and query the local search index (SQLite FTS5) behind 'lmlab ask'",
                               "  lmlab index add news.jsonl notes/ --index my.sqlite\n"
                               "  lmlab index add --debian-changelogs --index debian.sqlite\n"
                               "  lmlab index search \"latest zlib release\" --index debian.sqlite\n"
                               "  lmlab index stats --index debian.sqlite --json\n");
  index->require_subcommand(1);
  auto o = std::make_shared<Options>();
  auto add_index_flag = [&](CLI::App* s) {
    s->add_option("--index", o->index, "Index file (default: $LMLAB_CACHE_DIR/index.sqlite, ~/.cache/lmlab/index.sqlite)");
    s->add_flag("--json", o->json, "Print JSON instead of a table");
  };

  CLI::App* add = AddCommand(*index, "add", "Add JSONL, CSV, Markdown/text folders or Debian changelogs to the index",
                             "  lmlab index add news.jsonl --index my.sqlite         # {\"url\",\"title\",\"text\",\"date\"} per line\n"
                             "  lmlab index add pages.csv --index my.sqlite          # header: url,title,text,date[,source]\n"
                             "  lmlab index add ~/notes --index my.sqlite            # *.md, *.txt; date from front matter or mtime\n"
                             "  lmlab index add --debian-changelogs --index deb.sqlite  # /usr/share/doc/*/changelog.Debian.gz\n"
                             "  lmlab index add feed.jsonl --today 2026-11-27       # resolves dates like \"3 days ago\"\n");
  add->add_option("inputs", o->inputs, "Files or folders");
  add->add_option("--format", o->format, "auto, jsonl, csv, folder, debian-changelog")->capture_default_str();
  add->add_flag("--debian-changelogs", o->debian_changelogs,
                "Add every /usr/share/doc/*/changelog.Debian.gz (one dated document per entry)");
  add->add_option("--today", o->today, "YYYY-MM-DD that relative dates count back from (default: today, UTC)");
  add_index_flag(add);
  SetRun(add, [o] { return RunAdd(*o); });

  CLI::App* search = AddCommand(*index, "search", "Search the index (BM25), showing date, source, title and snippet",
                                "  lmlab index search \"zlib release\" --index deb.sqlite --k 5\n");
  search->add_option("query", o->query, "Free text")->required();
  search->add_option("--k", o->k, "Results to show")->capture_default_str();
  add_index_flag(search);
  SetRun(search, [o] { return RunSearch(*o); });

  CLI::App* stats = AddCommand(*index, "stats", "Documents, date range, size and top sources of the index",
                               "  lmlab index stats --index deb.sqlite\n");
  add_index_flag(stats);
  SetRun(stats, [o] { return RunStats(*o); });
}

}  // namespace lmlab::cli::index_cmd
