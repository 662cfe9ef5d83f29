#include "lmlab/search/local_index.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

#include "lmlab/core/text.h"

namespace lmlab::search {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "lmlab-search-1";
// BM25 column weights (title, text): a match in the title says more.
constexpr const char* kBm25 = "bm25(docs_fts, 5.0, 1.0)";
constexpr int kSnippetTokens = 40;

// Owns one prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  void Text(int i, std::string_view v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void Int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void Null(int i) { sqlite3_bind_null(s_, i); }
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string ColText(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, i)) : std::string();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  bool ColNull(int i) { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  double ColDouble(int i) { return sqlite3_column_double(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

std::unexpected<Error> SqlError(sqlite3* db, const std::string& what) {
  int code = sqlite3_errcode(db);
  std::string msg = what + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return ParseError(msg + " (not an lmlab index?)");
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return Unavailable(msg);
  return IoError(msg);
}

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    int code = sqlite3_errcode(db);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return ParseError(msg + " (not an lmlab index?)");
    return IoError(msg);
  }
  return {};
}

bool IsStopWord(std::string_view w) {
  static const std::set<std::string, std::less<>> kStop = {
      "a",     "an",   "and",  "are",  "as",   "at",   "be",   "by",    "did",  "do",   "does", "for",
      "from",  "has",  "have", "how",  "in",   "is",   "it",   "its",   "of",   "on",   "or",   "that",
      "the",   "this", "to",   "was",  "were", "what", "when", "where", "which", "who", "whom", "why",
      "will",  "with", "can",  "could", "would", "should", "there", "their", "about", "into", "me", "i"};
  return kStop.contains(w);
}


// Strips FTS5 match markers (\x01 ... \x02) and collects the marked words.
void SplitMarked(std::string_view marked, std::string& plain, std::vector<std::string>& terms) {
  std::string term;
  bool in = false;
  for (char c : marked) {
    if (c == '\x01') {
      in = true;
      term.clear();
    } else if (c == '\x02') {
      in = false;
      bool seen = false;
      for (const auto& t : terms) seen = seen || EqualsIgnoreCase(t, term);
      if (!seen && !term.empty()) terms.push_back(term);
    } else {
      plain += c;
      if (in) term += c;
    }
  }
}

}  // namespace

namespace {

std::vector<std::string> QueryWords(std::string_view text) {
  std::vector<std::string> words;
  std::string w;
  auto flush = [&] {
    if (!w.empty() && !IsStopWord(w) && std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    w.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(text[i]);
    // "1.3.1" stays one phrase (FTS5 matches its parts in sequence).
    bool inner_dot = u == '.' && !w.empty() && i + 1 < text.size() &&
                     std::isalnum(static_cast<unsigned char>(text[i + 1]));
    if (std::isalnum(u) || u >= 0x80 || inner_dot) w += static_cast<char>(std::tolower(u));
    else flush();
  }
  flush();
  return words;
}

std::string JoinQuery(const std::vector<std::string>& words) {
  return Join(words, " OR ", [](const std::string& word) { return "\"" + word + "\""; });
}

fts5_api* Fts5Api(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, nullptr) != SQLITE_OK) return nullptr;
  sqlite3_bind_pointer(s, 1, reinterpret_cast<void*>(&api), "fts5_api_ptr", nullptr);
  sqlite3_step(s);
  sqlite3_finalize(s);
  return api;
}

// The index's own stem of `word` (porter over unicode61), as the vocabulary stores it.
std::string Stem(sqlite3* db, const std::string& word) {
  fts5_api* api = Fts5Api(db);
  if (!api) return word;
  void* user = nullptr;
  fts5_tokenizer tok;
  if (api->xFindTokenizer(api, "porter", &user, &tok) != SQLITE_OK) return word;
  const char* args[] = {"unicode61", "remove_diacritics", "2"};
  Fts5Tokenizer* t = nullptr;
  if (tok.xCreate(user, args, 3, &t) != SQLITE_OK) return word;
  std::string stem;
  auto cb = [](void* ctx, int, const char* token, int n, int, int) -> int {
    auto* out = static_cast<std::string*>(ctx);
    if (out->empty()) out->assign(token, static_cast<size_t>(n));
    return SQLITE_OK;
  };
  tok.xTokenize(t, &stem, FTS5_TOKENIZE_QUERY, word.data(), static_cast<int>(word.size()), cb);
  tok.xDelete(t);
  return stem.empty() ? word : stem;
}

}  // namespace

std::string ToFtsQuery(std::string_view text) { return JoinQuery(QueryWords(text)); }

// Words found in more than this share of documents barely move BM25 (their
// IDF is near zero) but make every query visit most of the index: they are
// left out when the question has rarer words (a "common terms" query).
constexpr double kCommonTermShare = 0.01;
// Below this many documents a pass over the index is cheap: no pruning.
constexpr int64_t kPruneMinDocuments = 10000;

std::vector<std::string> LocalIndex::PruneCommonWords(std::vector<std::string> words) {
  if (words.size() < 2) return words;
  Stmt total(db_, "SELECT count(*) FROM docs");
  Stmt df(db_, "SELECT doc FROM docs_vocab WHERE term = ?1");
  if (!total.ok() || !df.ok() || total.Step() != SQLITE_ROW) return words;
  if (total.ColInt(0) < kPruneMinDocuments) return words;
  const double n = static_cast<double>(total.ColInt(0));
  std::vector<std::pair<int64_t, std::string>> by_df;
  for (const auto& w : words) {
    int64_t count = 0;
    if (w.find('.') == std::string::npos) {  // phrases ("1.3.1") are kept as they are
      df.Text(1, Stem(db_, w));
      if (df.Step() == SQLITE_ROW) count = df.ColInt(0);
      df.Reset();
    }
    by_df.emplace_back(count, w);
  }
  std::vector<std::string> kept;
  for (const auto& [count, w] : by_df)
    if (count <= kCommonTermShare * n) kept.push_back(w);
  if (kept.empty()) {  // all common: the two rarest still rank something
    std::sort(by_df.begin(), by_df.end());
    for (size_t i = 0; i < by_df.size() && i < 2; ++i) kept.push_back(by_df[i].second);
  }
  return kept;
}

LocalIndex::LocalIndex(sqlite3* db, fs::path path) : db_(db), path_(std::move(path)) {}
LocalIndex::~LocalIndex() { sqlite3_close(db_); }

Result<std::unique_ptr<LocalIndex>> LocalIndex::Open(const fs::path& path, OpenMode mode) {
  std::error_code ec;
  if (mode == OpenMode::kReadOnly && !fs::exists(path, ec))
    return NotFound("no index at " + path.string() + " (adding documents to it creates one)");
  if (mode == OpenMode::kCreate && path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  sqlite3* db = nullptr;
  int flags = mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IoError("cannot open index " + path.string() + ": " + msg);
  }
  std::unique_ptr<LocalIndex> index(new LocalIndex(db, path));
  sqlite3_busy_timeout(db, 5000);
  if (mode == OpenMode::kCreate) {
    Status s = Exec(db,
                    "PRAGMA journal_mode=WAL;"
                    "CREATE TABLE IF NOT EXISTS lmlab_meta(key TEXT PRIMARY KEY, value TEXT);"
                    "CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY, url TEXT UNIQUE NOT NULL, source TEXT,"
                    " title TEXT, date INTEGER, text TEXT);"
                    "CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(title, text, content='docs',"
                    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');"
                    "CREATE VIRTUAL TABLE IF NOT EXISTS docs_vocab USING fts5vocab(docs_fts, 'row');");
    if (!s) return std::unexpected(s.error().WithContext("cannot create index " + path.string()));
    Stmt meta(db, "INSERT OR IGNORE INTO lmlab_meta(key, value) VALUES('format', ?1)");
    meta.Text(1, kFormat);
    if (!meta.ok() || meta.Step() != SQLITE_DONE) return SqlError(db, "cannot write index metadata");
  }
  Stmt check(db, "SELECT value FROM lmlab_meta WHERE key = 'format'");
  if (!check.ok()) {
    if (sqlite3_errcode(db) == SQLITE_NOTADB) return ParseError(path.string() + " is not an lmlab index (not SQLite)");
    return ParseError(path.string() + " is not an lmlab index (" + sqlite3_errmsg(db) + ")");
  }
  if (check.Step() != SQLITE_ROW || check.ColText(0) != kFormat)
    return ParseError(path.string() + " is not an lmlab index (format '" + std::string(kFormat) + "' expected)");
  return index;
}

Result<AddStats> LocalIndex::Add(std::span<const Document> documents, const ProgressCallback& progress) {
  AddStats stats;
  LMLAB_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  auto rollback = [&](std::unexpected<Error> e) {
    Exec(db_, "ROLLBACK");
    return e;
  };
  Stmt find(db_, "SELECT id, title, text FROM docs WHERE url = ?1");
  Stmt fts_delete(db_, "INSERT INTO docs_fts(docs_fts, rowid, title, text) VALUES('delete', ?1, ?2, ?3)");
  Stmt update(db_, "UPDATE docs SET source = ?2, title = ?3, date = ?4, text = ?5 WHERE id = ?1");
  Stmt insert(db_, "INSERT INTO docs(url, source, title, date, text) VALUES(?1, ?2, ?3, ?4, ?5)");
  Stmt fts_insert(db_, "INSERT INTO docs_fts(rowid, title, text) VALUES(?1, ?2, ?3)");
  if (!find.ok() || !fts_delete.ok() || !update.ok() || !insert.ok() || !fts_insert.ok())
    return rollback(SqlError(db_, "cannot prepare index statements"));
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& d = documents[i];
    if (d.url.empty()) return rollback(InvalidArgument("document " + std::to_string(i) + " has no url"));
    int64_t id = -1;
    find.Text(1, d.url);
    if (find.Step() == SQLITE_ROW) {
      id = find.ColInt(0);
      fts_delete.Int(1, id);
      fts_delete.Text(2, find.ColText(1));
      fts_delete.Text(3, find.ColText(2));
      if (fts_delete.Step() != SQLITE_DONE) return rollback(SqlError(db_, "cannot replace " + d.url));
      fts_delete.Reset();
    }
    find.Reset();
    Stmt& write = id >= 0 ? update : insert;
    if (id >= 0) write.Int(1, id);
    else write.Text(1, d.url);
    write.Text(2, d.source);
    write.Text(3, d.title);
    if (d.date) write.Int(4, d.date->time_since_epoch().count());
    else write.Null(4);
    write.Text(5, d.text);
    if (write.Step() != SQLITE_DONE) return rollback(SqlError(db_, "cannot add " + d.url));
    write.Reset();
    if (id < 0) id = sqlite3_last_insert_rowid(db_);
    fts_insert.Int(1, id);
    fts_insert.Text(2, d.title);
    fts_insert.Text(3, d.text);
    if (fts_insert.Step() != SQLITE_DONE) return rollback(SqlError(db_, "cannot index " + d.url));
    fts_insert.Reset();
    (id >= 0 && write.get() == update.get() ? stats.replaced : stats.added)++;
    if (!d.date) ++stats.undated;
    if ((i + 1) % 2000 == 0 || i + 1 == documents.size())
      Report(progress, {"indexing", double(i + 1), double(documents.size()), "documents", ""});
  }
  LMLAB_RETURN_IF_ERROR(Exec(db_, "COMMIT"));
  return stats;
}

Result<SearchResults> LocalIndex::Search(std::string_view query, const SearchOptions& options) {
  auto start = std::chrono::steady_clock::now();
  SearchResults r;
  r.query = std::string(query);
  r.backend = name();
  std::vector<std::string> words = QueryWords(query);
  if (words.empty() || options.max_results <= 0) return r;
  std::string fts = JoinQuery(PruneCommonWords(std::move(words)));
  // Two steps: rank by BM25 alone over every match, then build snippets for
  // the top rows only (SQLite would otherwise compute a snippet for every
  // matching row before sorting).
  std::string rank_sql = std::string("SELECT rowid, ") + kBm25 +
                         " AS score FROM docs_fts WHERE docs_fts MATCH ?1 ORDER BY score LIMIT ?2";
  Stmt ranked(db_, rank_sql.c_str());
  if (!ranked.ok()) return SqlError(db_, "cannot search " + path_.string());
  ranked.Text(1, fts);
  ranked.Int(2, options.max_results);
  struct Ranked {
    int64_t rowid;
    ResultType type;
  };
  std::vector<Ranked> top;
  int rc;
  while ((rc = ranked.Step()) == SQLITE_ROW) top.push_back({ranked.ColInt(0), ResultType::kOrganic});
  if (rc != SQLITE_DONE) return SqlError(db_, "search failed in " + path_.string());
  if (options.max_recent > 0) {
    // The fresh-results box: the newest dated documents whose title holds a
    // query word (a title names what a document is about), that are not
    // organic results already.
    std::string title_query;
    for (const auto& w : PruneCommonWords(QueryWords(query))) {
      if (!title_query.empty()) title_query += " OR ";
      title_query += "title : \"" + w + "\"";
    }
    Stmt recent(db_,
                "SELECT d.id FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid WHERE docs_fts MATCH ?1 AND "
                "d.date IS NOT NULL ORDER BY d.date DESC, d.id DESC LIMIT ?2");
    if (!recent.ok()) return SqlError(db_, "cannot search " + path_.string());
    recent.Text(1, title_query);
    recent.Int(2, options.max_recent + static_cast<int64_t>(top.size()));
    int added = 0;
    while (added < options.max_recent && (rc = recent.Step()) == SQLITE_ROW) {
      int64_t id = recent.ColInt(0);
      if (std::any_of(top.begin(), top.end(), [&](const Ranked& r) { return r.rowid == id; })) continue;
      top.push_back({id, ResultType::kRecent});
      ++added;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(db_, "search failed in " + path_.string());
  }
  std::string detail_sql = std::string("SELECT d.url, d.source, d.title, d.date, snippet(docs_fts, 1, char(1), char(2), '…', ") +
                           std::to_string(kSnippetTokens) + "), highlight(docs_fts, 0, char(1), char(2)), " + kBm25 +
                           " FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid"
                           " WHERE docs_fts MATCH ?1 AND docs_fts.rowid = ?2";
  Stmt s(db_, detail_sql.c_str());
  if (!s.ok()) return SqlError(db_, "cannot search " + path_.string());
  for (const Ranked& row : top) {
    s.Text(1, fts);
    s.Int(2, row.rowid);
    rc = s.Step();
    if (rc != SQLITE_ROW) return SqlError(db_, "search failed in " + path_.string());
    Evidence e;
    e.url = s.ColText(0);
    e.source = s.ColText(1);
    e.title = s.ColText(2);
    if (!s.ColNull(3)) e.date = Timestamp(std::chrono::seconds(s.ColInt(3)));
    std::string snippet, title;
    std::vector<std::string> terms;
    SplitMarked(s.ColText(4), snippet, terms);
    SplitMarked(s.ColText(5), title, terms);
    e.snippet = CollapseWhitespace(snippet);
    e.highlight = Join(terms, ", ");
    e.score = -s.ColDouble(6);  // bm25() is lower-is-better
    e.relevance_rank = static_cast<int>(r.evidences.size());
    e.type = row.type;
    r.evidences.push_back(std::move(e));
    s.Reset();
    rc = SQLITE_DONE;
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "search failed in " + path_.string());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

Result<IndexStats> LocalIndex::Stats() {
  IndexStats st;
  st.path = path_.string();
  {
    Stmt s(db_, "SELECT count(*), count(date), min(date), max(date) FROM docs");
    if (!s.ok() || s.Step() != SQLITE_ROW) return SqlError(db_, "cannot read index stats");
    st.documents = s.ColInt(0);
    st.dated = s.ColInt(1);
    if (!s.ColNull(2)) st.oldest = Timestamp(std::chrono::seconds(s.ColInt(2)));
    if (!s.ColNull(3)) st.newest = Timestamp(std::chrono::seconds(s.ColInt(3)));
  }
  {
    Stmt s(db_, "SELECT source, count(*) AS n FROM docs GROUP BY source ORDER BY n DESC, source LIMIT 10");
    if (!s.ok()) return SqlError(db_, "cannot read index stats");
    while (s.Step() == SQLITE_ROW) st.top_sources.emplace_back(s.ColText(0), s.ColInt(1));
  }
  std::error_code ec;
  for (const char* suffix : {"", "-wal"}) {
    auto size = fs::file_size(path_.string() + suffix, ec);
    if (!ec) st.file_bytes += static_cast<int64_t>(size);
  }
  return st;
}

}  // namespace lmlab::search
