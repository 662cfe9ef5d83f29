// The default model's recipe, corpus and cache logic. (Training it takes
// minutes: `lmlab train default`, measured in docs/models.md; here the cache
// is exercised with a stand-in file.)
#include "lmlab/train/default_model.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <regex>

#include "tests/train/train_fixture.h"

namespace lmlab::train {
namespace {

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DefaultModelTest, RecipeHashIsStableAndFollowsTheRecipe) {
  DefaultRecipe r = DefaultModelRecipe();
  const std::string h = RecipeHash(r);
  EXPECT_TRUE(std::regex_match(h, std::regex("[0-9a-f]{16}"))) << h;
  EXPECT_EQ(h, RecipeHash(DefaultModelRecipe()));
  DefaultRecipe changed = r;
  changed.train.steps += 1;
  EXPECT_NE(RecipeHash(changed), h);
  changed = r;
  changed.corpus_version = "facts-v0";
  EXPECT_NE(RecipeHash(changed), h);
  changed = r;
  changed.train.model.n_embd = 256;
  EXPECT_NE(RecipeHash(changed), h);
  // The recipe fits its budget: valid shapes, a few MB of weights.
  ModelConfig c = r.train.model;
  c.n_vocab = r.train.tokenizer.vocab_size;
  ASSERT_TRUE(ValidateConfig(c).has_value());
  Model m = InitModel(c, {}, 1);
  EXPECT_LT(m.NumParams() * 4, 50'000'000) << "the default model must stay under 50 MB";
}

TEST(DefaultModelTest, CorpusHasPlacesPeopleAndDatesFromThePackages) {
  std::vector<CorpusSection> sections;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> docs, BuildDefaultCorpus(DefaultModelRecipe(), &sections));
  ASSERT_EQ(sections.size(), 5u);
  int64_t total = 0;
  for (const CorpusSection& s : sections) {
    EXPECT_GT(s.documents, 50) << s.name;
    total += s.documents;
  }
  EXPECT_EQ(total, static_cast<int64_t>(docs.size()));
  auto has = [&](const std::string& needle) {
    return std::any_of(docs.begin(), docs.end(), [&](const std::string& d) { return d.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(has("Tokyo is a city in Japan. It lies at latitude 35.7 and longitude 139.7."));
  EXPECT_TRUE(has("Abraham Lincoln was born in 1809"));
  EXPECT_TRUE(has("Aristotle was born in 384 BC"));
  EXPECT_TRUE(has("was released on"));
  EXPECT_TRUE(has("began the State of the Union address"));
  EXPECT_TRUE(std::any_of(docs.begin(), docs.end(), [](const std::string& d) { return d.rfind("On January 1, ", 0) == 0; }));
}

TEST(DefaultModelTest, ReusesTheCachedFileForTheSameRecipe) {
  testing::TempDir dir;
  ScopedEnv cache("LMLAB_CACHE_DIR", dir.path().string());
  ScopedEnv no_override("LMLAB_DEFAULT_MODEL", "");
  const std::string hash = RecipeHash(DefaultModelRecipe());
  auto expected = dir.path() / "models" / ("default-" + hash + ".gguf");
  std::filesystem::create_directories(expected.parent_path());
  std::ofstream(expected) << "stand-in";
  ASSERT_OK_AND_ASSIGN(DefaultModelBuild b, BuildDefaultModel(Rebuild::kIfMissing, nullptr));
  EXPECT_FALSE(b.built);
  EXPECT_EQ(b.path, expected);
  EXPECT_EQ(b.recipe_hash, hash);
  int calls = 0;
  ASSERT_OK_AND_ASSIGN(std::filesystem::path p, EnsureDefaultModel([&](const Progress&) { ++calls; }));
  EXPECT_EQ(p, expected);
  EXPECT_EQ(calls, 0) << "nothing to build, nothing to report";
}

TEST(DefaultModelTest, EnvironmentOverride) {
  testing::TempDir dir;
  auto file = dir.path() / "mine.gguf";
  std::ofstream(file) << "x";
  {
    ScopedEnv e("LMLAB_DEFAULT_MODEL", file.string());
    ASSERT_OK_AND_ASSIGN(std::filesystem::path p, EnsureDefaultModel(nullptr));
    EXPECT_EQ(p, file);
  }
  ScopedEnv e("LMLAB_DEFAULT_MODEL", (dir.path() / "missing.gguf").string());
  auto r = EnsureDefaultModel(nullptr);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("LMLAB_DEFAULT_MODEL"), std::string::npos);
}

}  // namespace
}  // namespace lmlab::train
