// Local index benchmark: build a 100k-document SQLite FTS5 index and measure
// query latency (p50/p99) of LocalIndex::Search (BM25 + snippets), against a
// reference measured in the same run: a full scan ranking every document by
// how many of the query's words it contains (what a search without an index does).
//
//   scripts/dev-build.sh search_index_bench && build/bench/search_index_bench [n_docs] [n_queries]
//
// Documents are synthetic but built from real words: the vocabulary of this
// machine's Debian changelogs, drawn with a Zipf law (as word frequencies
// are), 40-120 words each, dated over 10 years.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "lmlab/core/stats.h"
#include "lmlab/core/threads.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"

namespace {

using namespace lmlab::search;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::vector<std::string> Vocabulary() {
  std::map<std::string, int> counts;
  auto paths = DebianChangelogPaths();
  for (size_t i = 0; i < paths.size() && i < 300; ++i) {
    auto docs = ReadDocuments(paths[i], {});
    if (!docs) continue;
    for (const auto& d : *docs) {
      std::string w;
      for (char c : d.text + " ") {
        if (std::isalpha(static_cast<unsigned char>(c))) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else {
          if (w.size() >= 3) ++counts[w];
          w.clear();
        }
      }
    }
  }
  std::vector<std::pair<int, std::string>> by_count;
  for (auto& [w, n] : counts) by_count.emplace_back(-n, w);
  std::sort(by_count.begin(), by_count.end());
  std::vector<std::string> vocab;
  for (auto& [n, w] : by_count) vocab.push_back(w);
  return vocab;
}


}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  const int n_docs = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int n_queries = argc > 2 ? std::atoi(argv[2]) : 300;
  std::vector<std::string> vocab = Vocabulary();
  if (vocab.size() < 1000) {
    std::fprintf(stderr, "need /usr/share/doc/*/changelog.Debian.gz for a vocabulary (found %zu words)\n", vocab.size());
    return 1;
  }
  std::mt19937_64 rng(42);
  // Zipf over ranks: P(rank r) ~ 1/r.
  std::vector<double> weights(vocab.size());
  for (size_t r = 0; r < vocab.size(); ++r) weights[r] = 1.0 / static_cast<double>(r + 1);
  std::discrete_distribution<size_t> zipf(weights.begin(), weights.end());
  std::uniform_int_distribution<int> length(40, 120), day(0, 3650);
  std::vector<Document> docs;
  docs.reserve(n_docs);
  const Timestamp start_date = ParseDate("2015-01-01").value();
  for (int i = 0; i < n_docs; ++i) {
    Document d;
    d.url = "https://bench.example/" + std::to_string(i);
    d.source = "bench.example";
    for (int w = 0; w < 6; ++w) d.title += (w ? " " : "") + vocab[zipf(rng)];
    int n = length(rng);
    for (int w = 0; w < n; ++w) d.text += (w ? " " : "") + vocab[zipf(rng)];
    d.date = start_date + std::chrono::days(day(rng));
    docs.push_back(std::move(d));
  }
  char tmpl[] = "/tmp/lmlab-search-bench-XXXXXX";
  std::filesystem::path dir = mkdtemp(tmpl);
  auto t0 = Clock::now();
  auto index = LocalIndex::Open(dir / "bench.sqlite", OpenMode::kCreate).value();
  if (!index->Add(docs)) return 1;
  double build_s = Ms(Clock::now() - t0) / 1000;
  auto stats = index->Stats().value();

  // Questions mix common and rarer words, as people's do: 3-6 words from the
  // top 5,000.
  std::vector<std::string> queries;
  std::uniform_int_distribution<size_t> pick(0, std::min<size_t>(5000, vocab.size()) - 1);
  std::uniform_int_distribution<int> words(3, 6);
  for (int q = 0; q < n_queries; ++q) {
    std::string s = "what is the";
    for (int w = words(rng); w > 0; --w) s += " " + vocab[pick(rng)];
    queries.push_back(s + "?");
  }
  std::vector<double> fts_ms, scan_ms;
  size_t results = 0;
  for (const auto& q : queries) {
    auto a = Clock::now();
    auto r = index->Search(q, {.max_results = 10});
    fts_ms.push_back(Ms(Clock::now() - a));
    results += r ? r->evidences.size() : 0;
  }
  // Reference: a full scan for the same words (no index), over a third of the
  // queries to keep the run short.
  sqlite3* db = nullptr;
  sqlite3_open_v2((dir / "bench.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  for (size_t i = 0; i < queries.size(); i += 3) {
    std::string fts = ToFtsQuery(queries[i]);
    std::vector<std::string> terms;
    for (size_t p = 0; (p = fts.find('"', p)) != std::string::npos;) {
      size_t e = fts.find('"', p + 1);
      terms.push_back(fts.substr(p + 1, e - p - 1));
      p = e + 1;
    }
    // Rank every document by how many of the words it contains, keep the top
    // 10: what a search without an index must do.
    std::string score;
    for (size_t t = 0; t < terms.size(); ++t) score += (t ? " + " : "") + std::string("(instr(text, '") + terms[t] + "') > 0)";
    std::string sql = "SELECT id FROM docs ORDER BY " + score + " DESC LIMIT 10";
    auto a = Clock::now();
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
    }
    sqlite3_finalize(s);
    scan_ms.push_back(Ms(Clock::now() - a));
  }
  sqlite3_close(db);
  index.reset();
  std::filesystem::remove_all(dir);

  std::sort(fts_ms.begin(), fts_ms.end());
  std::sort(scan_ms.begin(), scan_ms.end());
  double p50 = lmlab::Quantile(fts_ms, 0.5), p99 = lmlab::Quantile(fts_ms, 0.99);
  double scan50 = lmlab::Quantile(scan_ms, 0.5);
  std::printf("documents            %d (index %.1f MiB, built in %.1f s, %.0f docs/s)\n", n_docs,
              stats.file_bytes / 1048576.0, build_s, n_docs / build_s);
  std::printf("queries              %d (%.1f results each on average)\n", n_queries,
              static_cast<double>(results) / n_queries);
  std::printf("FTS5 BM25 + snippets p50 %.2f ms, p99 %.2f ms  (goal: p50 < 5 ms)\n", p50, p99);
  std::printf("full scan (ranked)   p50 %.2f ms\n", scan50);
  std::printf("ratio scan / index   %.1fx at p50\n", scan50 / p50);
  return 0;
}
