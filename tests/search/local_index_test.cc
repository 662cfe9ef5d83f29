// The local SQLite FTS5 index: build on a temp file, BM25 order, FTS5
// snippets and highlights, replace-by-url, stats, bad files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lmlab/search/local_index.h"

namespace lmlab::search {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/lmlab-search-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::vector<Document> Corpus() {
  auto day = [](const char* d) { return std::optional<Timestamp>(ParseDate(d).value()); };
  return {
      {"https://zlib.net/", "", "zlib Home Site", day("2024-01-22"),
       "zlib 1.3.1 is the latest release of the zlib compression library."},
      {"https://example.org/gzip", "", "gzip and deflate", day("2019-05-01"),
       "gzip uses the deflate algorithm, like zlib, to compress files."},
      {"https://example.org/cooking", "", "Bread recipes", std::nullopt, "Knead the dough and let it rise overnight."},
      {"https://news.example.com/zlib-1.3", "", "zlib 1.3 is out", day("2023-08-18"),
       "Mark Adler announced zlib 1.3 with many fixes."},
  };
}

TEST(ToFtsQuery, QuotesWordsDropsStopWordsAndSyntax) {
  EXPECT_EQ(ToFtsQuery("What is the latest zlib?"), "\"latest\" OR \"zlib\"");
  EXPECT_EQ(ToFtsQuery("zlib AND \"NEAR(\" *"), "\"zlib\" OR \"near\"");  // FTS5 operators are just words
  EXPECT_EQ(ToFtsQuery("the of a"), "");
  EXPECT_EQ(ToFtsQuery("zlib zlib ZLIB"), "\"zlib\"");
  EXPECT_EQ(ToFtsQuery("Is zlib 1.3.1 out."), "\"zlib\" OR \"1.3.1\" OR \"out\"");  // versions stay whole
}

TEST(LocalIndex, BuildSearchAndStats) {
  TempDir dir;
  auto index = LocalIndex::Open(dir / "i.sqlite", OpenMode::kCreate);
  ASSERT_TRUE(index) << index.error().ToString();
  auto docs = Corpus();
  for (auto& d : docs) d.source = SourceFromUrl(d.url);
  auto added = (*index)->Add(docs);
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(added->added, 4);
  EXPECT_EQ(added->undated, 1);

  auto r = (*index)->Search("latest zlib release", {.max_results = 10});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->evidences.size(), 3u);  // the bread recipe does not match
  EXPECT_EQ(r->evidences[0].url, "https://zlib.net/");  // matches all three words, one in the title
  for (size_t i = 0; i < r->evidences.size(); ++i) {
    EXPECT_EQ(r->evidences[i].relevance_rank, static_cast<int>(i));
    if (i > 0) {
      EXPECT_GE(r->evidences[i - 1].score, r->evidences[i].score);
    }
  }
  const Evidence& top = r->evidences[0];
  EXPECT_EQ(top.source, "zlib.net");
  EXPECT_EQ(FormatIsoDay(*top.date), "2024-01-22");
  EXPECT_NE(top.snippet.find("1.3.1 is the latest release"), std::string::npos) << top.snippet;
  EXPECT_EQ(top.snippet.find('\x01'), std::string::npos);  // markers stripped
  EXPECT_NE(top.highlight.find("latest"), std::string::npos) << top.highlight;
  EXPECT_NE(top.highlight.find("zlib"), std::string::npos) << top.highlight;

  auto limited = (*index)->Search("zlib", {.max_results = 1});
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->evidences.size(), 1u);
  auto none = (*index)->Search("what is the", {});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->evidences.empty());

  auto st = (*index)->Stats();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->documents, 4);
  EXPECT_EQ(st->dated, 3);
  EXPECT_EQ(FormatIsoDay(*st->oldest), "2019-05-01");
  EXPECT_EQ(FormatIsoDay(*st->newest), "2024-01-22");
  EXPECT_GT(st->file_bytes, 0);
  ASSERT_FALSE(st->top_sources.empty());
  EXPECT_EQ(st->top_sources[0], (std::pair<std::string, int64_t>{"example.org", 2}));
}

TEST(LocalIndex, ReAddingAUrlReplacesTheDocument) {
  TempDir dir;
  auto index = LocalIndex::Open(dir / "i.sqlite", OpenMode::kCreate).value();
  ASSERT_TRUE(index->Add(Corpus()));
  std::vector<Document> update = {{"https://zlib.net/", "zlib.net", "zlib Home Site", ParseDate("2025-02-01").value(),
                                   "zlib 1.3.2 is now the newest release."}};
  auto s = index->Add(update);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->added, 0);
  EXPECT_EQ(s->replaced, 1);
  EXPECT_EQ(index->Stats()->documents, 4);
  auto old_text = index->Search("1.3.1 latest", {});
  ASSERT_TRUE(old_text);
  EXPECT_TRUE(old_text->evidences.empty());  // the old FTS entry is gone too
  auto r = index->Search("newest", {});
  ASSERT_EQ(r->evidences.size(), 1u);
  EXPECT_EQ(FormatIsoDay(*r->evidences[0].date), "2025-02-01");
}

TEST(LocalIndex, ReopensReadOnly) {
  TempDir dir;
  { ASSERT_TRUE(LocalIndex::Open(dir / "i.sqlite", OpenMode::kCreate).value()->Add(Corpus())); }
  auto ro = LocalIndex::Open(dir / "i.sqlite", OpenMode::kReadOnly);
  ASSERT_TRUE(ro) << ro.error().ToString();
  EXPECT_EQ((*ro)->Search("dough", {})->evidences.size(), 1u);
  EXPECT_FALSE((*ro)->Add(Corpus()));  // read-only
}

TEST(LocalIndex, BadFiles) {
  TempDir dir;
  auto missing = LocalIndex::Open(dir / "nope.sqlite", OpenMode::kReadOnly);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("adding documents to it creates one"), std::string::npos);

  std::ofstream(dir / "text.sqlite") << "this is not a database, just some text that is long enough to matter\n";
  auto junk = LocalIndex::Open(dir / "text.sqlite", OpenMode::kReadOnly);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, ErrorCode::kParse) << junk.error().ToString();
}

TEST(LocalIndex, FailedAddLeavesIndexUnchanged) {
  TempDir dir;
  auto index = LocalIndex::Open(dir / "i.sqlite", OpenMode::kCreate).value();
  ASSERT_TRUE(index->Add(Corpus()));
  std::vector<Document> bad = {{"https://new.example/1", "", "fine", std::nullopt, "a fine document"},
                               {"", "", "no url", std::nullopt, "this one has no url"}};
  EXPECT_FALSE(index->Add(bad));
  EXPECT_EQ(index->Stats()->documents, 4);
  EXPECT_TRUE(index->Search("fine", {})->evidences.empty());
}

TEST(LocalIndex, CommonWordsArePrunedInLargeIndexes) {
  TempDir dir;
  auto index = LocalIndex::Open(dir / "i.sqlite", OpenMode::kCreate).value();
  std::vector<Document> docs;
  for (int i = 0; i < 10000; ++i) {
    std::string text = "common filler words " + std::to_string(i);
    if (i % 2000 == 7) text += " rare";
    // Short documents with only the common word would outrank the rare ones under plain OR.
    docs.push_back({"https://big.example/" + std::to_string(i), "", "common", std::nullopt, i % 2000 == 7 ? text + " and more words here" : "common"});
  }
  ASSERT_TRUE(index->Add(docs));
  auto r = index->Search("common rare", {.max_results = 10});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->evidences.size(), 5u);  // only the rare word's documents: "common" (in every one) was left out
  for (const auto& e : r->evidences) EXPECT_NE(e.snippet.find("rare"), std::string::npos) << e.snippet;
  auto only_common = index->Search("common", {.max_results = 3});
  ASSERT_TRUE(only_common);
  EXPECT_EQ(only_common->evidences.size(), 3u);  // nothing rarer: the common word is searched
}

}  // namespace
}  // namespace lmlab::search
