// The reader's questions, grading, training corpus and experiment, on real
// changelog files (written here, gzipped, read back as the machine's are)
// and the tiny llama.cpp model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "lmlab/fresh/reader.h"
#include "lmlab/search/local_index.h"
#include "tests/support/tiny_model.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;

// A package's changelog: `versions` newest first, one upload a year back from 2022.
std::string Changelog(const std::string& pkg, const std::vector<std::string>& versions) {
  std::string out;
  for (size_t i = 0; i < versions.size(); ++i) {
    out += pkg + " (" + versions[i] + ") unstable; urgency=medium\n\n  * Upload " + versions[i] + ".\n\n";
    out += " -- Dev Number" + std::to_string(i) + " <dev@example.org>  Sat, 05 Nov " + std::to_string(2022 - i) +
           " 12:00:00 +0000\n\n";
  }
  return out;
}

class ReaderFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lmlab-reader-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Write("zlib", {"1:1.2.13.dfsg-1", "1:1.2.11.dfsg-4.1", "1:1.2.11.dfsg-4"});
    for (const char* p : {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"})
      Write(p, {"2.0-1", "1.9-3", "1.9-2"});
    auto src = ReadDatedSources({.doc_root = dir_ / "doc", .distro_info = ""});
    ASSERT_TRUE(src) << src.error().ToString();
    src_ = std::move(*src);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& pkg, const std::vector<std::string>& versions) {
    fs::create_directories(dir_ / "doc" / pkg);
    std::ofstream(dir_ / "doc" / pkg / "changelog.Debian") << Changelog(pkg, versions);
    ASSERT_EQ(std::system(("gzip -9n " + (dir_ / "doc" / pkg / "changelog.Debian").string()).c_str()), 0);
  }
  const PackageHistory& History(const std::string& name) {
    for (const auto& h : src_.packages)
      if (h.package == name) return h;
    ADD_FAILURE() << "no " << name;
    return src_.packages.front();
  }
  fs::path dir_;
  DatedSources src_;
};

TEST_F(ReaderFixture, SourcesAndQuestions) {
  EXPECT_EQ(src_.changelogs, 9);
  EXPECT_EQ(src_.documents.size(), 27u);
  const PackageHistory& z = History("zlib");
  ASSERT_EQ(z.entries.size(), 3u);
  EXPECT_EQ(z.entries[0].version, "1:1.2.13.dfsg-1");  // newest first
  EXPECT_EQ(z.entries[0].uploader, "Dev Number0");
  auto qs = ReaderQuestions(z);
  ASSERT_EQ(qs.size(), 4u);
  EXPECT_EQ(qs[0].question, "What is the latest version of zlib?");
  EXPECT_EQ(qs[0].answers, std::vector<std::string>{"1:1.2.13.dfsg-1"});
  EXPECT_EQ(qs[1].question, "When was the last upload of zlib?");
  EXPECT_EQ(qs[1].answers.front(), "Nov 05, 2022");
  EXPECT_EQ(qs[2].question, "Who made the last upload of zlib?");
  EXPECT_EQ(qs[3].question, "Why is 1:1.2.11.dfsg-4.1 still the latest version of zlib?");
  EXPECT_EQ(qs[3].premise, "1:1.2.11.dfsg-4.1");
  // zlib is always held out; the experiment asks about it, not about who uploaded.
  EXPECT_TRUE(IsHeldOut("zlib", 0));
  auto held = HeldOutQuestions(src_, train::ReaderModelRecipe());
  bool zlib = false;
  for (const auto& q : held) {
    zlib = zlib || q.package == "zlib";
    EXPECT_NE(q.kind, ReaderQuestionKind::kUploader);
    EXPECT_TRUE(IsHeldOut(q.package, train::ReaderModelRecipe().held_out_percent));
  }
  EXPECT_TRUE(zlib);
}

TEST_F(ReaderFixture, GradingByTheAliasRules) {
  auto qs = ReaderQuestions(History("zlib"));
  const std::string prefix =
      "As of today December 02, 2026, the most up-to-date and relevant information regarding this query is as follows. ";
  auto grade = [&](int i, const std::string& text) { return GradeReaderAnswer(qs[i], prefix + text); };
  EXPECT_TRUE(grade(0, "The latest version of zlib is 1:1.2.13.dfsg-1.").strict);
  EXPECT_FALSE(grade(0, "The latest version of zlib is 1:1.2.13.dfsg-1.1.").relaxed);  // a longer version
  EXPECT_FALSE(grade(0, "The latest version of zlib is 11:1.2.13.dfsg-1.").relaxed);
  ReaderGrade outdated = grade(0, "The latest version of zlib is 1:1.2.13.dfsg-1, after 1:1.2.11.dfsg-4.");
  EXPECT_TRUE(outdated.relaxed);
  EXPECT_FALSE(outdated.strict);
  ReaderGrade repeated = grade(0, "The latest version of zlib is 1:1.2.13.dfsg-1. The latest version of zlib is 1:1.2.13.dfsg-1.");
  EXPECT_TRUE(repeated.relaxed);
  EXPECT_FALSE(repeated.strict);  // ill-formed
  EXPECT_TRUE(grade(1, "The last upload of zlib was on Nov 05, 2022.").strict);
  EXPECT_TRUE(grade(1, "It was November 5, 2022.").relaxed);
  EXPECT_FALSE(grade(1, "The last upload of zlib was on Nov 05, 2021.").relaxed);
  // The prefix's own date never counts.
  EXPECT_FALSE(GradeReaderAnswer(qs[1], "As of today November 05, 2022, the most up-to-date and relevant information "
                                        "regarding this query is as follows. I do not know.")
                   .relaxed);
  // A false premise must be denied; its own version may be repeated in the denial.
  EXPECT_TRUE(grade(3, "1:1.2.11.dfsg-4.1 is not the latest version of zlib. The latest version of zlib is 1:1.2.13.dfsg-1.").strict);
  EXPECT_FALSE(grade(3, "The latest version of zlib is 1:1.2.13.dfsg-1.").relaxed);
}

// The reader's loss is taken on what follows the answer marker: it must be
// the end of the reasoning prefix every episode and every prompt carries.
TEST_F(ReaderFixture, AnswerMarkerEndsTheReasoningPrefix) {
  const train::ReaderRecipe recipe = train::ReaderModelRecipe();
  EXPECT_EQ(recipe.train.loss_on, train::LossOn::kAnswers);
  EXPECT_EQ(recipe.train.answer_marker, train::kReaderAnswerMarker);
  EXPECT_TRUE(ReasoningPrefix(search::Day{std::chrono::year{2022} / 11 / 5}).ends_with(recipe.train.answer_marker));
  auto corpus = BuildReaderCorpus(recipe, src_);
  ASSERT_TRUE(corpus) << corpus.error().ToString();
  ASSERT_FALSE(corpus->empty());
  for (const std::string& e : *corpus) {
    const size_t at = e.rfind(recipe.train.answer_marker);
    ASSERT_NE(at, std::string::npos) << e;
    // What follows is the answer alone: one line, after one space.
    const std::string answer = e.substr(at + recipe.train.answer_marker.size());
    EXPECT_GT(answer.size(), 10u) << e;
    EXPECT_EQ(answer[0], ' ') << e;
    EXPECT_EQ(answer.find('\n'), std::string::npos) << e;
  }
}

// The dates of an episode's evidences, in prompt order ("date: Nov 05, 2022").
std::vector<search::Timestamp> EpisodeDates(const std::string& episode) {
  std::vector<search::Timestamp> out;
  for (size_t at = episode.find("\ndate: "); at != std::string::npos; at = episode.find("\ndate: ", at + 1)) {
    auto day = search::ParseDate(episode.substr(at + 7, episode.find('\n', at + 7) - at - 7));
    EXPECT_TRUE(day) << episode;
    if (day) out.push_back(*day);
  }
  return out;
}

TEST_F(ReaderFixture, CorpusIsPaperFormatRandomisedAndHoldsOutPackages) {
  train::ReaderRecipe recipe = train::ReaderModelRecipe();
  recipe.episodes_per_question = 3;
  ReaderCorpusStats st;
  auto corpus = BuildReaderCorpus(recipe, src_, {}, &st);
  ASSERT_TRUE(corpus) << corpus.error().ToString();
  EXPECT_EQ(st.held_out_packages + st.training_packages, 9);
  EXPECT_GE(st.training_packages, 1);
  EXPECT_EQ(st.episodes, static_cast<int>(corpus->size()));
  int real_version = 0, version_answers = 0;
  for (const std::string& e : *corpus) {
    EXPECT_TRUE(e.starts_with("query: ")) << e;
    EXPECT_NE(e.find("\nanswer: As of today "), std::string::npos) << e;
    EXPECT_EQ(e.find("zlib"), std::string::npos) << e;  // held out: never asked, never shown
    const std::string answer = e.substr(e.find("as follows.") + 11);
    // Versions are randomised: the real 2.0-1 is the answer's version only
    // by chance (one in a thousand draws of its three digits).
    version_answers += answer.find("The latest version is ") != std::string::npos;
    real_version += answer.find(" 2.0-1.") != std::string::npos;
    EXPECT_EQ(e.find("[1]"), std::string::npos);
    // So are names (no training package's real name is shown) and the
    // answer names the package the question asks about, made up as it is.
    for (const char* real : {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"})
      EXPECT_EQ(e.find(real), std::string::npos) << e;
    const std::string question = e.substr(7, e.find('\n') - 7);
    const std::string prefix = "What is the latest version of ";
    if (question.starts_with(prefix) && answer.find("say nothing") == std::string::npos) {
      const std::string name = question.substr(prefix.size(), question.size() - prefix.size() - 1);
      // The recipe's answer copies the version only, not the made-up name;
      // the version is the newest shown evidence's about the package.
      ASSERT_EQ(recipe.answer_sentence, train::ReaderAnswerSentence::kValueOnly);
      EXPECT_TRUE(answer.starts_with(" The latest version is ")) << e;
      EXPECT_EQ(answer.find(name), std::string::npos) << e;
      const std::string version = answer.substr(23, answer.size() - 24);
      EXPECT_NE(e.find("\ntitle: " + name + " " + version + " "), std::string::npos) << e;
    }
  }
  EXPECT_GT(version_answers, 20);
  EXPECT_LE(real_version, 2);
  // kNamed names the package, as reader-v1..v4 did.
  recipe.answer_sentence = train::ReaderAnswerSentence::kNamed;
  auto named = BuildReaderCorpus(recipe, src_);
  ASSERT_TRUE(named) << named.error().ToString();
  int with_name = 0;
  for (const std::string& e : *named) {
    const std::string question = e.substr(7, e.find('\n') - 7);
    const std::string prefix = "What is the latest version of ";
    if (!question.starts_with(prefix) || e.find("say nothing") != std::string::npos) continue;
    const std::string name = question.substr(prefix.size(), question.size() - prefix.size() - 1);
    EXPECT_NE(e.find("as follows. The latest version of " + name + " is "), std::string::npos) << e;
    ++with_name;
  }
  EXPECT_GT(with_name, 0);
}

// The recipe's k mix reaches the corpus: every episode shows exactly the k
// drawn (the fixture's packages have three entries each).
TEST_F(ReaderFixture, CorpusKFollowsTheRecipe) {
  train::ReaderRecipe recipe = train::ReaderModelRecipe();
  recipe.episodes_per_question = 4;
  recipe.held_out_percent = 0;
  auto ks = [&](std::vector<int> percent) {
    recipe.k_percent = std::move(percent);
    auto corpus = BuildReaderCorpus(recipe, src_);
    EXPECT_TRUE(corpus) << corpus.error().ToString();
    std::set<size_t> seen;
    for (const std::string& e : corpus ? *corpus : std::vector<std::string>{}) seen.insert(EpisodeDates(e).size());
    return seen;
  };
  EXPECT_EQ(ks({0, 100}), std::set<size_t>{1});
  EXPECT_EQ(ks({0, 0, 0, 100}), std::set<size_t>{3});
  EXPECT_EQ(ks({50, 50}), (std::set<size_t>{0, 1}));
  EXPECT_EQ(train::MaxK(recipe), 1);
}

// The recipe's order mix reaches the corpus: all date order puts every
// episode's evidences oldest first; no date order leaves some out of order.
TEST_F(ReaderFixture, CorpusOrderFollowsTheRecipe) {
  train::ReaderRecipe recipe = train::ReaderModelRecipe();
  recipe.episodes_per_question = 6;
  recipe.held_out_percent = 0;
  auto count_unsorted = [&](int date_percent) {
    recipe.date_order_percent = date_percent;
    auto corpus = BuildReaderCorpus(recipe, src_);
    EXPECT_TRUE(corpus) << corpus.error().ToString();
    int unsorted = 0, max_k = 0;
    for (const std::string& e : corpus ? *corpus : std::vector<std::string>{}) {
      std::vector<search::Timestamp> d = EpisodeDates(e);
      max_k = std::max(max_k, static_cast<int>(d.size()));
      unsorted += !std::is_sorted(d.begin(), d.end());
    }
    EXPECT_LE(max_k, train::MaxK(recipe));
    EXPECT_GE(max_k, 3);
    return unsorted;
  };
  EXPECT_EQ(count_unsorted(100), 0);
  EXPECT_GT(count_unsorted(0), 0);
}

TEST_F(ReaderFixture, ExperimentRunsEveryCondition) {
  auto index = search::LocalIndex::Open(dir_ / "i.sqlite", search::OpenMode::kCreate);
  ASSERT_TRUE(index);
  ASSERT_TRUE((*index)->Add(src_.documents));
  auto lm = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(lm) << lm.error().ToString();
  std::vector<ReaderQuestion> qs = ReaderQuestions(History("zlib"));
  qs.resize(2);
  ReaderExperimentOptions o;
  o.today = search::ParseDay("2026-12-02").value();
  o.answer = ReaderAnswerOptions(train::ReaderModelRecipe());
  o.answer.max_tokens = 4;
  int scored = 0;
  o.ignorance = [&](runtime::LanguageModel&, const std::string& prompt, const std::string&) -> Result<IgnoranceScore> {
    ++scored;
    return IgnoranceScore{prompt.find("source: ") == std::string::npos ? 0.9 : 0.1, false};
  };
  auto r = RunReaderExperiment(**lm, **index, qs, o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->rows.size(), DefaultReaderConditions().size());
  for (const auto& row : r->rows) {
    EXPECT_EQ(row.questions, 2) << row.condition.name;
    if (row.condition.search == SearchMode::kNoSearch) {
      EXPECT_EQ(row.newest_in_window, 0);
    } else if (row.condition.order == EvidenceOrder::kDate) {
      EXPECT_EQ(row.newest_in_window, 2) << row.condition.name;
    }
  }
  EXPECT_EQ(scored, 12);
  ASSERT_EQ(r->ignorance.size(), 2u);
  EXPECT_EQ(r->ignorance[0].answers, 2);  // no search: no relevant evidence
  EXPECT_NEAR(r->ignorance[0].mean_ignorance, 0.9, 1e-9);
  EXPECT_EQ(r->ignorance[1].answers, 10);
  ASSERT_FALSE(r->examples.empty());
  EXPECT_EQ(r->examples[0].truth, "1:1.2.13.dfsg-1");
  EXPECT_EQ(r->examples[0].evidences.back().title, "zlib 1:1.2.13.dfsg-1 (unstable)");
  EXPECT_NE(RenderReaderReport(*r).find("date order, k=5"), std::string::npos);
  EXPECT_EQ(ToJson(*r)["rows"].size(), r->rows.size());
}

// The reader is built on first use into the cache and reused afterwards (a
// much smaller recipe than the real one: the pipeline, not the model, is
// under test): corpus from the machine's sources, training with digits
// split, a GGUF llama.cpp opens, the same file on the second call, a new
// one when the recipe changes; $LMLAB_READER_MODEL overrides it.
TEST_F(ReaderFixture, BuiltOnFirstUseThenReusedFromTheCache) {
  train::ReaderRecipe recipe = train::QuickReaderRecipe();
  recipe.train.tokenizer.vocab_size = 320;
  // Digits as single tokens (a recipe option; reader-v5 merges them): the
  // option must reach llama.cpp's tokenizer through the GGUF.
  recipe.train.tokenizer.split_digits = true;
  recipe.train.model.n_ctx = 256;
  recipe.train.steps = 3;
  recipe.train.warmup = 1;
  recipe.train.val_fraction = 0.2;
  const fs::path cache = dir_ / "cache";
  setenv("LMLAB_CACHE_DIR", cache.c_str(), 1);
  unsetenv("LMLAB_READER_MODEL");
  auto first = BuildReaderModel(recipe, {}, &src_);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_TRUE(first->built);
  EXPECT_EQ(first->path.parent_path(), cache / "models");
  EXPECT_NE(first->path.filename().string().find(train::ReaderRecipeHash(recipe)), std::string::npos);
  EXPECT_EQ(first->corpus.held_out_packages + first->corpus.training_packages, 9);
  EXPECT_GT(first->corpus.episodes, 0);
  EXPECT_EQ(first->training.losses.size(), 3u);
  auto lm = runtime::OpenModel({.gguf_path = first->path.string(), .threads = 1});
  ASSERT_TRUE(lm) << lm.error().ToString();
  // Digits stay single tokens in llama.cpp too.
  // (Every digit after the first adds exactly one token.)
  auto one = (*lm)->Tokenize("version 2", runtime::AddBos::kNo);
  auto four = (*lm)->Tokenize("version 2022", runtime::AddBos::kNo);
  ASSERT_TRUE(one && four);
  EXPECT_EQ(four->size(), one->size() + 3);

  auto again = BuildReaderModel(recipe, {}, &src_);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_FALSE(again->built);
  EXPECT_EQ(again->path, first->path);
  recipe.train.seed += 1;
  EXPECT_NE(train::ReaderRecipeHash(recipe), train::ReaderRecipeHash(train::QuickReaderRecipe()));

  setenv("LMLAB_READER_MODEL", (dir_ / "none.gguf").c_str(), 1);
  auto missing = BuildReaderModel(recipe, {}, &src_);
  setenv("LMLAB_READER_MODEL", first->path.c_str(), 1);
  auto named = BuildReaderModel(recipe, {}, &src_);
  unsetenv("LMLAB_READER_MODEL");
  unsetenv("LMLAB_CACHE_DIR");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("LMLAB_READER_MODEL"), std::string::npos);
  ASSERT_TRUE(named);
  EXPECT_FALSE(named->built);
  EXPECT_EQ(named->path, first->path);
}

// The demo's reader is the full recipe's corpus rules and shape at a smaller
// budget, cached under its own hash (a demo never reuses or replaces ask's).
TEST(ReaderRecipes, DemoRecipeIsTheFullShapeAtASmallerBudget) {
  const train::ReaderRecipe full = train::ReaderModelRecipe();
  const train::ReaderRecipe demo = train::DemoReaderRecipe();
  EXPECT_EQ(demo.train.model.n_embd, full.train.model.n_embd);
  EXPECT_EQ(demo.train.model.n_layer, full.train.model.n_layer);
  EXPECT_EQ(demo.train.model.n_ctx, full.train.model.n_ctx);
  EXPECT_EQ(demo.k_percent, full.k_percent);
  EXPECT_EQ(demo.answer_sentence, full.answer_sentence);
  const auto tokens = [](const train::ReaderRecipe& r) {
    return int64_t{r.train.steps} * r.train.batch * r.train.model.n_ctx;
  };
  EXPECT_LT(tokens(demo) * 2, tokens(full));
  EXPECT_LT(demo.episodes_per_question, full.episodes_per_question);
  EXPECT_NE(train::ReaderRecipeHash(demo), train::ReaderRecipeHash(full));
  EXPECT_NE(train::ReaderRecipeHash(demo), train::ReaderRecipeHash(train::QuickReaderRecipe()));
}

}  // namespace
}  // namespace lmlab::fresh
