// The language-model side: OCS from a corpus, distances, the calibrated
// ignorance monitor, corruptions, on hand-computed cases and on the real
// tiny llama.cpp model.
#include "lmlab/ood/ignorance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "lmlab/ood/lm_experiment.h"
#include "tests/support/tiny_model.h"

namespace lmlab::ood {
namespace {

LmOcs Ocs(std::vector<double> p) {
  LmOcs o;
  o.source = "test";
  o.probs = std::move(p);
  o.tokens = 100;
  return o;
}

TEST(Ignorance, DistanceByHand) {
  LmOcs q = Ocs({0.5, 0.25, 0.25, 0.0});
  std::vector<float> same = {std::log(0.5f), std::log(0.25f), std::log(0.25f), -30.0f};
  EXPECT_NEAR(DistanceToOcs(q, same), 0.0, 1e-5);
  EXPECT_NEAR(DistanceToOcs(q, same, Distance::kLmlab), 0.0, 1e-5);
  // lmlab's convention, p = (1/4, 1/4, 1/4, 1/4): KL(q || p) = 0.5 ln 2 + 0 + 0 = 0.3466
  std::vector<float> uniform(4, std::log(0.25f));
  EXPECT_NEAR(DistanceToOcs(q, uniform, Distance::kLmlab), 0.5 * std::log(2.0), 1e-6);
  // The paper's, against an OCS without zeros, q = (0.85, 0.05, 0.05, 0.05):
  // KL(p || q) = 0.25 (ln(0.25/0.85) + 3 ln 5) = 0.901128; KL(q || p) = 0.85 ln 3.4 + 0.15 ln 0.2 = 0.798794.
  LmOcs full = Ocs({0.85, 0.05, 0.05, 0.05});
  EXPECT_NEAR(DistanceToOcs(full, uniform), 0.25 * (std::log(0.25 / 0.85) + 3 * std::log(5.0)), 1e-6);
  EXPECT_NEAR(DistanceToOcs(full, uniform, Distance::kLmlab), 0.85 * std::log(3.4) + 0.15 * std::log(0.2), 1e-6);
  // A corpus OCS has zeros; the paper's direction smooths it by one pseudo-count
  // spread over the vocabulary: counts (2, 1, 1, 0) of N = 4 tokens, V = 4 ->
  // q~ = (2.25, 1.25, 1.25, 0.25) / 5, and KL(uniform || q~) = 0.25 (ln(0.25/0.45) + ln(0.25/0.05)) = 0.255413.
  LmOcs corpus = q;
  corpus.source = "corpus";
  corpus.tokens = 4;
  EXPECT_NEAR(DistanceToOcs(corpus, uniform), 0.25 * (std::log(0.25 / 0.45) + std::log(5.0)), 1e-6);
  EXPECT_NEAR(std::exp(SmoothedLogOcs(corpus)[3]), 0.05, 1e-12);
}

// A monitor keeps its convention through a save; one saved before the paper
// convention existed (no "distance" field) measured KL(OCS || p).
TEST(Ignorance, MonitorsRememberTheirDistance) {
  std::vector<double> calib(30, 1.0);
  LmOcs full = Ocs({0.85, 0.05, 0.05, 0.05});
  std::vector<float> uniform(4, std::log(0.25f));
  auto paper = IgnoranceMonitor::FromDistances(full, calib);
  ASSERT_TRUE(paper);
  EXPECT_EQ(paper->distance(), Distance::kPaper);
  EXPECT_NEAR(paper->ScoreLogprobs(uniform).distance, 0.901128, 1e-5);
  auto j = paper->ToJson();
  EXPECT_EQ(j["distance"], "paper");
  EXPECT_EQ(IgnoranceMonitor::FromJson(j)->distance(), Distance::kPaper);
  j.erase("distance");
  auto old = IgnoranceMonitor::FromJson(j);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->distance(), Distance::kLmlab);
  EXPECT_NEAR(old->ScoreLogprobs(uniform).distance, 0.798794, 1e-5);
  j["distance"] = "sideways";
  EXPECT_FALSE(IgnoranceMonitor::FromJson(j));
}

TEST(Ignorance, CalibratedScores) {
  std::vector<double> calib(100);
  std::iota(calib.begin(), calib.end(), 1.0);  // distances 1..100 nats
  auto m = IgnoranceMonitor::FromDistances(Ocs({1.0}), calib);
  ASSERT_TRUE(m) << m.error().ToString();
  // Closer to the OCS than every in-distribution position: ignorance 1, flagged.
  EXPECT_DOUBLE_EQ(m->ScoreDistance(0.5).ignorance, 1.0);
  EXPECT_TRUE(m->ScoreDistance(0.5).flagged);
  // 10 of 100 exceed 90.5 -> 0.10; not flagged.
  EXPECT_DOUBLE_EQ(m->ScoreDistance(90.5).ignorance, 0.10);
  EXPECT_FALSE(m->ScoreDistance(90.5).flagged);
  EXPECT_DOUBLE_EQ(m->ScoreDistance(1000).ignorance, 0.0);
  // flagged below the 5% quantile: 1 + 0.05 * 99 = 5.95
  EXPECT_NEAR(m->token_distance_threshold(), 5.95, 1e-9);
  // An answer that stays near the OCS is flagged; an ordinary one is not.
  std::vector<TokenIgnorance> near(8, m->ScoreDistance(2)), typical;
  for (double d : {20.0, 50.0, 70.0, 35.0, 90.0, 10.0, 60.0, 45.0}) typical.push_back(m->ScoreDistance(d));
  EXPECT_TRUE(m->Summarise(near).flagged);
  EXPECT_FALSE(m->Summarise(typical).flagged);
  EXPECT_GT(m->answer_threshold(), 0.5);
  EXPECT_LT(m->answer_threshold(), 1.0);

  // Save and load keep the behaviour.
  auto back = IgnoranceMonitor::FromJson(m->ToJson());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_DOUBLE_EQ(back->ScoreDistance(90.5).ignorance, 0.10);
  EXPECT_DOUBLE_EQ(back->answer_threshold(), m->answer_threshold());
}

TEST(Ignorance, BadInput) {
  EXPECT_EQ(IgnoranceMonitor::FromDistances(Ocs({1.0}), {1, 2, 3}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(IgnoranceMonitor::FromJson(nlohmann::json{{"ocs", 3}}).error().code, ErrorCode::kParse);
  auto j = IgnoranceMonitor::FromDistances(Ocs({0.5, 0.5}), std::vector<double>(30, 1.0))->ToJson();
  j["ocs"]["ids"] = {0, 7};  // id outside a 2-token vocabulary
  EXPECT_EQ(IgnoranceMonitor::FromJson(j).error().code, ErrorCode::kParse);
}

class TinyModel : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lm = runtime::OpenModel({.gguf_path = testing::TinyModelPath(), .threads = 1, .n_ctx = 256});
    ASSERT_TRUE(lm) << lm.error().ToString();
    lm_ = std::move(*lm);
  }
  std::unique_ptr<runtime::LanguageModel> lm_;
  std::vector<std::string> texts_ = {
      "The capital of France is Paris and the capital of Spain is Madrid.",
      "Tokyo is a large city in Japan with many people living there.",
      "In 1969 the first people walked on the moon during a summer night.",
      "Berlin lies on the river Spree and has many old buildings and parks.",
  };
};

TEST_F(TinyModel, OcsFromCorpusIsTheTokenMarginal) {
  auto ocs = OcsFromCorpus(*lm_, texts_);
  ASSERT_TRUE(ocs) << ocs.error().ToString();
  EXPECT_EQ(static_cast<int64_t>(ocs->probs.size()), lm_->info().n_vocab);
  EXPECT_NEAR(std::accumulate(ocs->probs.begin(), ocs->probs.end(), 0.0), 1.0, 1e-9);
  int64_t n = 0;
  for (const auto& t : texts_) n += static_cast<int64_t>(lm_->Tokenize(t, runtime::AddBos::kNo)->size());
  EXPECT_EQ(ocs->tokens, n);
  // Every token of the corpus has probability count / n: check one by hand.
  auto first = lm_->Tokenize(texts_[0], runtime::AddBos::kNo);
  ASSERT_TRUE(first && !first->empty());
  int64_t count = 0;
  for (const auto& t : texts_) {
    auto ids = lm_->Tokenize(t, runtime::AddBos::kNo);
    ASSERT_TRUE(ids);
    for (int32_t id : *ids) count += id == (*first)[0];
  }
  EXPECT_NEAR(ocs->probs[static_cast<size_t>((*first)[0])], static_cast<double>(count) / n, 1e-12);
  EXPECT_GT(ocs->entropy, 1.0);
  std::vector<std::string> none = {""};
  EXPECT_EQ(OcsFromCorpus(*lm_, none).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(TinyModel, DistancesCalibrationAndAnswers) {
  auto ocs = OcsFromCorpus(*lm_, texts_);
  ASSERT_TRUE(ocs);
  auto d = TextDistances(*lm_, *ocs, texts_[0], 8);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->size(), 8u);
  for (double v : *d) EXPECT_GT(v, 0.0);
  auto m = IgnoranceMonitor::Calibrate(*lm_, *ocs, texts_, {.max_tokens_per_text = 8});
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->calibration_size(), 32u);
  auto a = m->ScoreAnswer(*lm_, "The capital of France is", " Paris.");
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_FALSE(a->tokens.empty());
  EXPECT_EQ(a->tokens.size(), a->pieces.size());
  for (const auto& t : a->tokens) {
    EXPECT_GE(t.ignorance, 0.0);
    EXPECT_LE(t.ignorance, 1.0);
  }
  // A next-token distribution equal to the OCS is as ignorant as it gets.
  std::vector<float> lp(ocs->probs.size());
  for (size_t i = 0; i < lp.size(); ++i) lp[i] = ocs->probs[i] > 0 ? std::log(static_cast<float>(ocs->probs[i])) : -50.0f;
  auto t = m->ScoreLogprobs(lp);
  // KL(q || q~) <= ln((N + 1) / N): only the smoothing's pseudo-count separates them.
  EXPECT_LT(t.distance, std::log((ocs->tokens + 1.0) / ocs->tokens) + 1e-4);
  EXPECT_DOUBLE_EQ(t.ignorance, 1.0);
  EXPECT_TRUE(t.flagged);
  // An OCS over another vocabulary size is refused, not silently misread.
  auto wrong = TextDistances(*lm_, Ocs({0.5, 0.5}), texts_[0], 4);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("vocabulary"), std::string::npos);
}

TEST_F(TinyModel, Corruptions) {
  const std::string& t = texts_[0];
  EXPECT_EQ(*Corrupt(*lm_, t, Corruption::kWordShuffle, 0, 1), t);
  EXPECT_EQ(*Corrupt(*lm_, t, Corruption::kScript, 0, 1), t);
  auto greek = Corrupt(*lm_, t, Corruption::kScript, 1, 1);
  ASSERT_TRUE(greek);
  for (char c : *greek) EXPECT_FALSE(std::isalpha(static_cast<unsigned char>(c))) << *greek;
  auto shuffled = Corrupt(*lm_, t, Corruption::kWordShuffle, 1, 1);
  ASSERT_TRUE(shuffled);
  EXPECT_NE(*shuffled, t);
  EXPECT_EQ(shuffled->size(), t.size());  // same words, other order
  auto replaced = Corrupt(*lm_, t, Corruption::kTokenReplace, 1, 1);
  ASSERT_TRUE(replaced);
  EXPECT_NE(*replaced, t);
  EXPECT_EQ(Corrupt(*lm_, t, Corruption::kScript, 1.5, 1).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(TinyModel, ExperimentRuns) {
  auto ocs = OcsFromCorpus(*lm_, texts_);
  ASSERT_TRUE(ocs);
  std::vector<double> calib(40);
  std::iota(calib.begin(), calib.end(), 1.0);
  auto m = IgnoranceMonitor::FromDistances(*ocs, calib);
  ASSERT_TRUE(m);
  LmExperimentOptions o;
  o.levels = {0, 1};
  o.corruptions = {Corruption::kScript};
  o.max_tokens_per_text = 6;
  std::vector<std::string> eval(texts_.begin(), texts_.begin() + 2);
  auto r = RunLmExperiment(*lm_, *m, eval, o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->curves.size(), 1u);
  ASSERT_EQ(r->curves[0].points.size(), 2u);
  EXPECT_EQ(r->curves[0].points[0].positions, 12);
  EXPECT_GT(r->curves[0].points[0].mean_distance, 0);
}

// The study splits the texts into evaluation and calibration sets and
// refuses a split the texts cannot give.
TEST_F(TinyModel, StudySplitsTextsAndRejectsTooFew) {
  LmStudyOptions o;
  o.eval_texts = 1;
  o.calibration_texts = 3;
  o.experiment.levels = {0, 1};
  o.experiment.corruptions = {Corruption::kWordShuffle};
  o.experiment.max_tokens_per_text = 8;
  auto study = RunLmStudy(*lm_, texts_, o);
  ASSERT_TRUE(study) << study.error().ToString();
  EXPECT_EQ(study->eval_texts, 1u);
  EXPECT_EQ(study->calibration_texts, 3u);
  EXPECT_EQ(study->report.calibration_positions, 3 * 8);
  EXPECT_EQ(study->report.curves.at(0).points.at(0).positions, 8);

  // An estimated OCS needs a text beyond the held-out ones.
  o.ocs_source = OcsSource::kAveragePrediction;
  auto too_few = RunLmStudy(*lm_, texts_, o);
  ASSERT_FALSE(too_few);
  EXPECT_EQ(too_few.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(too_few.error().message.find("plus more for the OCS"), std::string::npos) << too_few.error().message;
  o.calibration_texts = 2;
  o.experiment.max_tokens_per_text = 12;  // calibration needs 20 positions from 2 texts
  auto estimated = RunLmStudy(*lm_, texts_, o);
  ASSERT_TRUE(estimated) << estimated.error().ToString();
  EXPECT_EQ(estimated->report.ocs_source, "average prediction");
}

}  // namespace
}  // namespace lmlab::ood
