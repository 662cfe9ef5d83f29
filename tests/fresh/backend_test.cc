// One rule for which search backend ask, serve and freshqa use
// (fresh/backend.h), on real backends: a SQLite index, a SearXNG URL, none.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "lmlab/fresh/backend.h"
#include "lmlab/search/local_index.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;

class BackendRule : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lmlab-backend-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    index_ = (dir_ / "i.sqlite").string();
    auto index = search::LocalIndex::Open(index_, search::OpenMode::kCreate);
    ASSERT_TRUE(index);
    ASSERT_TRUE((*index)->Add(std::vector<search::Document>{
        {"https://a.example/", "", "zlib 1.3 out", search::ParseDate("2023-08-18").value(), "zlib 1.3 is out."}}));
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string index_;
};

TEST_F(BackendRule, ContradictionsAreRefused) {
  auto both = OpenSearchBackend({.index = index_, .searxng = "http://127.0.0.1:9"});
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(both.error().message.find("not both"), std::string::npos);
  for (SearchBackendOptions o : {SearchBackendOptions{.index = index_, .search = SearchMode::kNoSearch},
                                 SearchBackendOptions{.searxng = "http://127.0.0.1:9", .search = SearchMode::kNoSearch}}) {
    auto r = OpenSearchBackend(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("turned off"), std::string::npos);
  }
}

TEST_F(BackendRule, EachChoiceOpensItsBackend) {
  auto none = OpenSearchBackend({.search = SearchMode::kNoSearch});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->grounds);
  EXPECT_FALSE(none->backend->Search("zlib", {}));
  auto local = OpenSearchBackend({.index = index_});
  ASSERT_TRUE(local) << local.error().ToString();
  EXPECT_TRUE(local->grounds);
  EXPECT_EQ(local->backend->name(), "local");
  EXPECT_EQ(local->backend->Search("zlib", {}).value().evidences.size(), 1u);
  auto searx = OpenSearchBackend({.searxng = "http://127.0.0.1:9"});
  ASSERT_TRUE(searx);
  EXPECT_EQ(searx->backend->name(), "searxng");
  auto missing = OpenSearchBackend({.index = (dir_ / "missing.sqlite").string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(BackendRule, NothingGivenFollowsTheCaller) {
  EXPECT_EQ(OpenSearchBackend({.when_unset = WhenUnset::kRequired}).error().code, ErrorCode::kInvalidArgument);
  auto plain = OpenSearchBackend({.when_unset = WhenUnset::kNoBackend});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->grounds);
  // The default: the user's own default index when there is one (here the
  // cache holds one), else this machine's dated sources.
  fs::path cache = dir_ / "cache";
  fs::create_directories(cache);
  fs::copy_file(index_, cache / "index.sqlite");
  setenv("LMLAB_CACHE_DIR", cache.c_str(), 1);
  auto dated = OpenSearchBackend({});
  unsetenv("LMLAB_CACHE_DIR");
  ASSERT_TRUE(dated) << dated.error().ToString();
  EXPECT_TRUE(dated->grounds);
  EXPECT_NE(dated->description.find((cache / "index.sqlite").string()), std::string::npos);
}

}  // namespace
}  // namespace lmlab::fresh
