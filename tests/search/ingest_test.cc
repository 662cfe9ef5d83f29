// Reading documents: JSONL, CSV (RFC-4180), Markdown folders, Debian
// changelogs (synthetic and this machine's real ones), bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lmlab/core/text.h"
#include "lmlab/search/ingest.h"

namespace lmlab::search {
namespace {

namespace fs = std::filesystem;

const DateContext kCtx{.today = ParseDay("2026-11-27").value()};

TEST(Jsonl, ReadsFieldsAndDates) {
  auto docs = ParseJsonl(
      "{\"url\": \"https://a.example/x\", \"title\": \"A\", \"text\": \"alpha\", \"date\": \"2024-03-05\"}\n"
      "\n"
      "{\"title\": \"B\", \"content\": \"beta\", \"publishedDate\": \"2 days ago\", \"source\": \"b-news\"}\n",
      "in.jsonl", kCtx);
  ASSERT_TRUE(docs) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].source, "a.example");
  EXPECT_EQ(FormatIsoDay(*(*docs)[0].date), "2024-03-05");
  EXPECT_EQ((*docs)[1].text, "beta");
  EXPECT_EQ((*docs)[1].source, "b-news");
  EXPECT_EQ(FormatIsoDay(*(*docs)[1].date), "2026-11-25");
  EXPECT_EQ((*docs)[1].url, "file://in.jsonl#L3");  // a stable url, so re-adding replaces
}

TEST(Jsonl, MalformedLinesNameTheLine) {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& c : {Case{"{\"text\": \"ok\"}\n{\"text\": \"broken\"\n", "line 2: not valid JSON"},
                        Case{"[1, 2]\n", "line 1: expected a JSON object"},
                        Case{"{\"url\": \"https://x\"}\n", "line 1: needs a \"text\""},
                        Case{"{\"text\": \"x\", \"date\": \"someday\"}\n", "line 1: unrecognised date"}}) {
    auto r = ParseJsonl(c.text, "f.jsonl", kCtx);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kParse);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
}

// The CSV rules themselves are core's (tests/core/csv_test.cc); these are
// what `index add` reads with them.
TEST(Csv, BadInput) {
  EXPECT_NE(ParseCsvDocuments("a,b\n1,\"open\n", "d.csv", kCtx).error().message.find("line 2"), std::string::npos);
  EXPECT_NE(ParseCsvDocuments("a,b\n1,2,3\n", "d.csv", kCtx).error().message.find("3 fields"), std::string::npos);
  auto lenient = ParseCsvDocuments("text,b\n1,the \"Case-Book\" of\n", "d.csv", kCtx);  // bare quotes, as in FreshQA
  ASSERT_TRUE(lenient) << lenient.error().ToString();
  EXPECT_EQ((*lenient)[0].text, "1");
  EXPECT_FALSE(ParseCsvDocuments("", "d.csv", kCtx));
  auto docs = ParseCsvDocuments("url,body\nhttps://x,y\n", "d.csv", kCtx);
  ASSERT_FALSE(docs);
  EXPECT_NE(docs.error().message.find("'text'"), std::string::npos) << docs.error().message;
}

TEST(Csv, Documents) {
  auto docs = ParseCsvDocuments("url,title,text,date\nhttps://x.org/1,One,first,\"Tue, 05 Mar 2024 10:00:00 +0100\"\n"
                                "https://x.org/2,Two,second,\n",
                                "d.csv", kCtx);
  ASSERT_TRUE(docs) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(FormatIsoTime(*(*docs)[0].date), "2024-03-05T09:00:00Z");
  EXPECT_FALSE((*docs)[1].date.has_value());
}

constexpr const char* kChangelog =
    "zlib (1:1.3.dfsg-3) unstable; urgency=medium\n"
    "\n"
    "  * Fix a build failure.\n"
    "\n"
    " -- Mark Brown <broonie@debian.org>  Mon, 25 Sep 2023 15:55:31 +0100\n"
    "\n"
    "zlib (1:1.2.13.dfsg-1) unstable; urgency=high\n"
    "\n"
    "  * New upstream release.\n"
    "\n"
    " -- Mark Brown <broonie@debian.org>  Fri, 14 Oct 2022 11:28:38 -0700\n"
    "\n"
    "Local variables:\n"
    "mode: debian-changelog\n"
    "End:\n";

TEST(DebianChangelog, OneDatedDocumentPerEntry) {
  auto docs = ParseDebianChangelog(kChangelog, "/usr/share/doc/zlib1g/changelog.Debian.gz");
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 2u);
  const Document& newest = (*docs)[0];
  EXPECT_EQ(newest.title, "zlib 1:1.3.dfsg-3 (unstable)");
  EXPECT_EQ(newest.url, "https://tracker.debian.org/pkg/zlib#1:1.3.dfsg-3");
  EXPECT_EQ(FormatIsoTime(*newest.date), "2023-09-25T14:55:31Z");
  EXPECT_NE(newest.text.find("Fix a build failure"), std::string::npos);
  EXPECT_EQ(newest.text.find("New upstream"), std::string::npos);
  EXPECT_EQ(FormatIsoTime(*(*docs)[1].date), "2022-10-14T18:28:38Z");
}

TEST(DebianChangelog, Latin1BecomesUtf8) {
  std::string latin1 = "pkg (1.0) unstable; urgency=low\n\n  * Thanks to Jos\xe9.\n\n -- A <a@b>  Mon, 25 Sep 2023 15:55:31 +0100\n";
  auto docs = ParseDebianChangelog(latin1, "x");
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_TRUE(IsValidUtf8((*docs)[0].text));
  EXPECT_NE((*docs)[0].text.find("Jos\xc3\xa9"), std::string::npos);
}

TEST(DebianChangelog, ThisMachinesRealChangelogs) {
  auto paths = DebianChangelogPaths();
  ASSERT_GT(paths.size(), 10u) << "expected /usr/share/doc/*/changelog.Debian.gz on a Debian system";
  // zlib1g is linked into lmlab, so it is installed.
  auto docs = ReadDocuments("/usr/share/doc/zlib1g/changelog.Debian.gz", {});
  ASSERT_TRUE(docs) << docs.error().ToString();
  ASSERT_GT(docs->size(), 5u);
  int dated = 0;
  for (const auto& d : *docs) dated += d.date.has_value();
  EXPECT_GE(dated, static_cast<int>(docs->size()) - 1);
  EXPECT_TRUE((*docs)[0].title.starts_with("zlib ")) << (*docs)[0].title;
  EXPECT_GT(*(*docs)[0].date, *(*docs)[docs->size() - 1].date);  // newest entry first in a changelog
}

TEST(Folder, MarkdownWithFrontMatterAndPlainText) {
  char tmpl[] = "/tmp/lmlab-ingest-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "a.md") << "---\ntitle: \"Release notes\"\ndate: 2024-03-05\nurl: https://docs.example/a\n---\n# Ignored heading\nBody text.\n";
  std::ofstream(dir / "sub" / "b.txt") << "\n\nFirst line is the title\nmore\n";
  std::ofstream(dir / "skip.bin") << "binary";
  auto docs = ReadDocuments(dir, {});
  ASSERT_TRUE(docs) << docs.error().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].title, "Release notes");
  EXPECT_EQ((*docs)[0].source, "docs.example");
  EXPECT_EQ(FormatIsoDay(*(*docs)[0].date), "2024-03-05");
  EXPECT_NE((*docs)[0].text.find("Body text."), std::string::npos);
  EXPECT_EQ((*docs)[1].title, "First line is the title");
  EXPECT_TRUE((*docs)[1].date.has_value());  // the file's mtime
  fs::remove_all(dir);
}

TEST(ReadDocuments, UnknownFormatAndMissingFile) {
  EXPECT_EQ(ReadDocuments("/nonexistent/file.jsonl", {}).error().code, ErrorCode::kNotFound);
  auto r = ReadDocuments("/etc/hostname", {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("`format`"), std::string::npos);
  EXPECT_FALSE(ParseInputFormat("xml"));
}

TEST(SourceFromUrl, Domains) {
  EXPECT_EQ(SourceFromUrl("https://www.Python.org/downloads/"), "python.org");
  EXPECT_EQ(SourceFromUrl("http://user@host.example:8080/x?y"), "host.example");
  EXPECT_EQ(SourceFromUrl("not a url"), "");
}

}  // namespace
}  // namespace lmlab::search
