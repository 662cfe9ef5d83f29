// The changelog recency benchmark on a real index of synthetic changelogs
// (where the answer is known) and on this machine's real Debian changelogs.
#include <gtest/gtest.h>

#include <filesystem>

#include "lmlab/fresh/recency.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;

// A package with `n` entries, one a year from 2010; entry texts get shorter
// with age, so BM25 (which favours short documents) prefers the oldest.
std::string Changelog(const std::string& pkg, int n) {
  std::string out;
  for (int i = n - 1; i >= 0; --i) {
    out += pkg + " (1." + std::to_string(i) + ") unstable; urgency=medium\n\n";
    out += "  * Release " + std::to_string(i) + " of " + pkg + ".";
    for (int w = 0; w < i * 3; ++w) out += " More detail about the changes in this upload.";
    out += "\n\n -- Dev <dev@example.org>  Mon, 01 Mar " + std::to_string(2010 + i) + " 10:00:00 +0000\n\n";
  }
  return out;
}

TEST(Recency, DateOrderPutsTheNewestNextToTheQuestion) {
  char tmpl[] = "/tmp/lmlab-recency-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  std::vector<search::Document> docs;
  for (const char* pkg : {"alpha", "bravo", "charlie", "delta"}) {
    auto d = search::ParseDebianChangelog(Changelog(pkg, 8), std::string("/doc/") + pkg + "/changelog.Debian.gz");
    ASSERT_TRUE(d);
    docs.insert(docs.end(), d->begin(), d->end());
  }
  auto qs = RecencyQuestions(docs);
  ASSERT_EQ(qs.size(), 4u);
  EXPECT_EQ(qs[0].package, "alpha");
  EXPECT_EQ(qs[0].newest_version, "1.7");
  EXPECT_EQ(qs[0].question, "What is the latest version of alpha and when was it released?");
  auto index = search::LocalIndex::Open(dir / "i.sqlite", search::OpenMode::kCreate).value();
  ASSERT_TRUE(index->Add(docs));
  auto r = RunRecencyBenchmark(*index, qs, {.k = 3, .num_results = 8});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->rows.size(), 3u);
  const RecencyRow& date = r->rows[0];
  const RecencyRow& relevance = r->rows[1];
  EXPECT_EQ(date.order, EvidenceOrder::kDate);
  EXPECT_EQ(date.questions, 4);
  EXPECT_EQ(date.retrieved, 4);       // all 8 entries of each package are retrieved
  EXPECT_EQ(date.in_window, 4);
  EXPECT_EQ(date.adjacent, 4);
  EXPECT_DOUBLE_EQ(date.mean_distance, 1.0);
  EXPECT_LT(relevance.in_window, 4);  // BM25 prefers the short, old entries
  EXPECT_NE(RenderRecencyReport(*r).find("relevance"), std::string::npos);
  EXPECT_EQ(ToJson(*r)["rows"][0]["newest_next_to_question"], 4);
  fs::remove_all(dir);
}

TEST(Recency, RealDebianChangelogs) {
  std::vector<search::Document> docs;
  for (const char* pkg : {"zlib1g", "libsqlite3-0", "libcurl4", "bash", "coreutils"}) {
    auto d = search::ReadDocuments(std::string("/usr/share/doc/") + pkg + "/changelog.Debian.gz", {});
    if (!d) continue;  // a package may ship its changelog under another name
    docs.insert(docs.end(), d->begin(), d->end());
  }
  auto qs = RecencyQuestions(docs);
  ASSERT_GE(qs.size(), 2u);
  char tmpl[] = "/tmp/lmlab-recency-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  auto index = search::LocalIndex::Open(dir / "i.sqlite", search::OpenMode::kCreate).value();
  ASSERT_TRUE(index->Add(docs));
  auto r = RunRecencyBenchmark(*index, qs, {});
  ASSERT_TRUE(r) << r.error().ToString();
  // Other packages' newer entries can crowd the window (FreshPrompt trusts
  // that retrieved results are relevant), so only consistency is checked here.
  ASSERT_EQ(r->rows.size(), 3u);
  for (const auto& row : r->rows) {
    EXPECT_EQ(row.questions, static_cast<int>(qs.size()));
    EXPECT_LE(row.adjacent, row.in_window);
    EXPECT_LE(row.in_window, row.retrieved);
    EXPECT_EQ(row.retrieved, r->rows[0].retrieved);  // one retrieval, several orders
  }
  EXPECT_GE(r->rows[0].retrieved, 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lmlab::fresh
