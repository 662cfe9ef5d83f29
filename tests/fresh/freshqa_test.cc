// FreshQA: the CSV (the real 600-question file, tests/data/freshqa), the offline
// alias grader, the judge prompt and verdicts, resumable runs and grading.
#include <gtest/gtest.h>

#include <filesystem>

#include "lmlab/core/file.h"
#include "lmlab/fresh/freshqa.h"
#include "lmlab/search/local_index.h"
#include "tests/support/run_command.h"
#include "tests/support/tiny_model.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;

// The whole benchmark, kept in the repo (tests/data/freshqa/PROVENANCE.md).
std::string FreshQaFile() { return std::string(LMLAB_SOURCE_DIR) + "/tests/data/freshqa/freshqa_600_2023-12.csv"; }

FreshQaQuestion Q(std::vector<std::string> answers, bool false_premise = false) {
  FreshQaQuestion q;
  q.id = "1";
  q.question = "q?";
  q.answers = std::move(answers);
  q.false_premise = false_premise;
  q.fact_type = "fast-changing";
  q.num_hops = "one-hop";
  return q;
}

TEST(FreshQaCsv, TheReal600Questions) {
  auto qs = LoadFreshQa(FreshQaFile());
  ASSERT_TRUE(qs) << qs.error().ToString();
  ASSERT_EQ(qs->size(), 600u);
  int test = 0, fp = 0, fast = 0, multi = 0;
  for (const auto& q : *qs) {
    test += q.split == "TEST";
    fp += q.false_premise;
    fast += q.fact_type == "fast-changing";
    multi += q.num_hops == "multi-hop";
    EXPECT_FALSE(q.answers.empty()) << q.id;
  }
  // PROVENANCE.md: TEST 500 / DEV 100; false premise 150; fast-changing 154; multi-hop 137.
  EXPECT_EQ(test, 500);
  EXPECT_EQ(fp, 150);
  EXPECT_EQ(fast, 154);
  EXPECT_EQ(multi, 137);
  EXPECT_EQ((*qs)[0].question, "What is the name of the first animal to land on the moon?");
  EXPECT_TRUE((*qs)[0].false_premise);
  EXPECT_NE((*qs)[0].source.find('\n'), std::string::npos);  // multi-line quoted field
}

TEST(FreshQaCsv, BadFiles) {
  EXPECT_NE(ParseFreshQa("id,question\n1,x\n").error().message.find("'split'"), std::string::npos);
  std::string header = "id,split,question,effective_year,next_review,false_premise,num_hops,fact_type,source,answer_0\n";
  EXPECT_NE(ParseFreshQa(header + "1,TEST,q,2023,x,MAYBE,one-hop,never-changing,s,a\n").error().message.find("TRUE or FALSE"),
            std::string::npos);
  auto warned = ParseFreshQa("Warning: answers change weekly,,,\n\n" + header + "7,DEV,q,2023,x,false,one-hop,never-changing,s,a\n");
  ASSERT_TRUE(warned) << warned.error().ToString();
  EXPECT_EQ((*warned)[0].id, "7");
}

TEST(AliasMatch, Answers) {
  auto q = Q({"Python 3.13.0", "3.13"});
  EXPECT_EQ(AliasMatch(q, "Today is Oct 15, 2024. The answer is Python 3.13.0."), Verdict::kCorrect);
  EXPECT_EQ(AliasMatch(q, "It's PYTHON 3.13!"), Verdict::kCorrect);
  EXPECT_EQ(AliasMatch(q, "The answer is Python 3.12."), Verdict::kIncorrect);
  EXPECT_EQ(AliasMatch(q, "3.131"), Verdict::kIncorrect);  // whole tokens only
  EXPECT_EQ(AliasMatch(q, ""), Verdict::kIncorrect);
  // The prefilled date sentence never counts: its year is not an answer.
  auto year = Q({"2024"});
  EXPECT_EQ(AliasMatch(year, "Today is Nov 27, 2024. I do not know."), Verdict::kIncorrect);
  EXPECT_EQ(AliasMatch(year, "Today is Nov 27, 2026. It happened in 2024."), Verdict::kCorrect);
  auto articles = Q({"The Beatles"});
  EXPECT_EQ(AliasMatch(articles, "It was Beatles."), Verdict::kCorrect);
}

TEST(AliasMatch, FalsePremiseNeedsADenial) {
  auto q = Q({"No animal has ever landed on the moon yet."}, /*false_premise=*/true);
  EXPECT_EQ(AliasMatch(q, "No animal has landed on the moon."), Verdict::kCorrect);
  EXPECT_EQ(AliasMatch(q, "The first animal to land on the moon was Laika."), Verdict::kIncorrect);
  EXPECT_EQ(AliasMatch(q, "Nothing is known about cheese."), Verdict::kIncorrect);
}

TEST(AliasMatch, ThePaperPrefixNeverCounts) {
  auto year = Q({"2026"});
  EXPECT_EQ(AliasMatch(year, "As of today November 27, 2026, the most up-to-date and relevant information regarding "
                             "this query is as follows. Nobody knows."),
            Verdict::kIncorrect);
}

TEST(JudgeVerdict, ThePapersParse) {
  EXPECT_EQ(ParseJudgeVerdict("The answer is right. Thus, the response is credited.\nevaluation: correct"),
            Verdict::kCorrect);
  EXPECT_EQ(ParseJudgeVerdict("comment text\nevaluation: incorrect\n"), Verdict::kIncorrect);
  // No evaluation line: the comment's closing sentence decides.
  EXPECT_EQ(ParseJudgeVerdict("The question is valid. Thus, the response is not credited."), Verdict::kIncorrect);
  EXPECT_EQ(ParseJudgeVerdict("The question is valid. Thus, the response is credited."), Verdict::kCorrect);
  // An evaluation line whose last word is neither is unparsable, as in the notebook.
  EXPECT_EQ(ParseJudgeVerdict("evaluation: maybe"), Verdict::kUnparsed);
  EXPECT_EQ(ParseJudgeVerdict("evaluation: correct."), Verdict::kUnparsed);
  EXPECT_EQ(ParseJudgeVerdict("I think it is correct"), Verdict::kUnparsed);
}

TEST(JudgePrompt, GoldenStrictAndTheRulesOfEachMode) {
  JudgeCase c{"Who won the Nobel Prize in Literature in 2023?", {"Jon Fosse"}, "Jon Fosse won it."};
  const search::Day today = search::ParseDay("2024-02-01").value();
  auto relaxed = BuildJudgePrompt(c, GradeMode::kRelaxed, today);
  auto strict = BuildJudgePrompt(c, GradeMode::kStrict, today);
  ASSERT_TRUE(relaxed && strict);
  EXPECT_EQ(*strict, lmlab::testing::Golden("fresh/golden/fresheval_strict.txt", *strict));
  EXPECT_TRUE(relaxed->starts_with("Please judge the response to a question under relaxed evaluation"));
  EXPECT_TRUE(strict->starts_with("Please judge the response to a question under strict evaluation"));
  // 15 demonstrations, each ending in an evaluation; the case ends with "comment: ".
  for (const std::string* p : {&*relaxed, &*strict}) {
    size_t n = 0;
    for (size_t at = p->find("\nevaluation: "); at != std::string::npos; at = p->find("\nevaluation: ", at + 1)) ++n;
    EXPECT_EQ(n, 15u);
    EXPECT_TRUE(p->ends_with("\n\n\nquestion: Who won the Nobel Prize in Literature in 2023?\n"
                             "correct answer(s): Jon Fosse\nresponse: Jon Fosse won it.\ncomment: "));
  }
  // Where the modes differ, so do the demonstrations' verdicts (ill-formed, outdated, hallucinated, inferred).
  auto count = [](const std::string& p, const std::string& what) {
    size_t n = 0;
    for (size_t at = p.find(what); at != std::string::npos; at = p.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(*relaxed, "evaluation: correct"), 8u);
  EXPECT_EQ(count(*strict, "evaluation: correct"), 3u);
  // The demonstrations' reasoning prefix carries the judge's date.
  EXPECT_NE(strict->find("As of today February 01, 2024, the most up-to-date"), std::string::npos);
}

// A real model with a tap: every prompt and message it is given is kept.
class Recording : public runtime::LanguageModel {
 public:
  explicit Recording(std::unique_ptr<runtime::LanguageModel> m) : m_(std::move(m)) {}
  const runtime::ModelInfo& info() const override { return m_->info(); }
  Result<runtime::Completion> Complete(std::string_view prompt, const runtime::SamplingParams& p,
                                       const runtime::TokenCallback& cb) override {
    seen.emplace_back(prompt);
    return m_->Complete(prompt, p, cb);
  }
  Result<runtime::Completion> Chat(std::span<const runtime::ChatMessage> messages, const runtime::SamplingParams& p,
                                   const runtime::TokenCallback& cb) override {
    std::string all;
    for (const auto& m : messages) all += m.role + ": " + m.content + "\n";
    seen.push_back(all);
    return m_->Chat(messages, p, cb);
  }
  Result<std::vector<float>> NextTokenLogprobs(std::string_view prompt) override { return m_->NextTokenLogprobs(prompt); }
  Result<std::vector<runtime::TokenLogprob>> ScoreText(std::string_view text) override { return m_->ScoreText(text); }
  Status ForEachNextTokenDistribution(std::span<const int32_t> tokens, size_t first,
                                      const DistributionVisitor& cb) override {
    return m_->ForEachNextTokenDistribution(tokens, first, cb);
  }
  Result<std::vector<int32_t>> Tokenize(std::string_view text, runtime::AddBos b) override { return m_->Tokenize(text, b); }
  Result<std::string> Detokenize(std::span<const int32_t> tokens) override { return m_->Detokenize(tokens); }
  std::vector<std::string> seen;

 private:
  std::unique_ptr<runtime::LanguageModel> m_;
};

class RunAndGrade : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lmlab-freshqa-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RunAndGrade, ResumableRunThenAliasGrading) {
  auto qs = LoadFreshQa(FreshQaFile()).value();
  auto model = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 2048});
  ASSERT_TRUE(model) << model.error().ToString();
  auto index = search::LocalIndex::Open(dir_ / "i.sqlite", search::OpenMode::kCreate).value();
  ASSERT_TRUE(index->Add(std::vector<search::Document>{
      {"https://moon.example/", "", "Animals in space", search::ParseDate("2023-05-01").value(),
       "No animal has landed on the moon; tortoises flew around it in 1968."}}));
  RunOptions o;
  o.answer.today = search::ParseDay("2023-12-20").value();
  o.answer.max_tokens = 4;
  o.answer.num_demonstrations = 0;
  o.limit = 2;
  o.model_name = "tiny";
  fs::path out = dir_ / "responses.json";
  auto first = RunFreshQa(**model, *index, qs, o, out);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->answered, 2);
  // Resume with a larger limit: the first two are kept, one more is answered.
  o.limit = 3;
  auto second = RunFreshQa(**model, *index, qs, o, out);
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(second->resumed, 2);
  EXPECT_EQ(second->answered, 1);
  auto file = nlohmann::json::parse(ReadFile(out).value());
  ASSERT_EQ(file["responses"].size(), 3u);
  EXPECT_EQ(file["responses"][0]["id"], qs[0].id);
  EXPECT_EQ(file["responses"][0]["grounded"], true);  // the moon document
  // Other settings on the same file are refused, not mixed in.
  o.answer.k = 3;
  auto mixed = RunFreshQa(**model, *index, qs, o, out);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, ErrorCode::kInvalidArgument);

  // Hand-edit one answer to a correct one: the alias grader must see it.
  file["responses"][0]["answer"] =
      "As of today December 20, 2023, the most up-to-date and relevant information regarding this query is as "
      "follows. No animal has ever landed on the moon.";
  ASSERT_TRUE(WriteFileAtomic(out, file.dump()));
  auto report = GradeFreshQa(qs, out, nullptr, {}, dir_ / "grades.json");
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->graded, 3);
  ASSERT_FALSE(report->rows.empty());
  EXPECT_EQ(report->rows[0].group, "all");
  EXPECT_EQ(report->rows[0].alias.n, 3);
  EXPECT_GE(report->rows[0].alias.correct, 1);
  EXPECT_EQ(report->rows[0].relaxed.n, 0);  // no judge
  bool saw_fp = false;
  for (const auto& r : report->rows) saw_fp = saw_fp || r.group == "false premise";
  EXPECT_TRUE(saw_fp);
  EXPECT_NE(RenderGradeReport(*report).find("relaxed/strict need an LLM judge"), std::string::npos);
}

TEST_F(RunAndGrade, JudgeGradesAreWrittenAndReused) {
  auto qs = LoadFreshQa(FreshQaFile()).value();
  nlohmann::json responses = {
      {"meta", {{"today", "2023-12-20"}}},
      {"responses", {{{"id", qs[0].id}, {"answer", "No animal has landed on the moon."}},
                     {{"id", qs[1].id}, {"answer", ""}}}}};
  ASSERT_TRUE(WriteFileAtomic(dir_ / "r.json", responses.dump()));
  auto judge = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(judge) << judge.error().ToString();
  auto report = GradeFreshQa(qs, dir_ / "r.json", judge->get(), {.judge_max_tokens = 4, .max_attempts = 2}, dir_ / "g.json");
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->judged);
  // The tiny model writes noise: its verdicts stay unparsable after the
  // re-ask and are reported apart, not counted as wrong; the empty answer is
  // incorrect without asking.
  EXPECT_EQ(report->rows[0].relaxed.n, 1);
  EXPECT_EQ(report->rows[0].relaxed.correct, 0);
  EXPECT_EQ(report->rows[0].relaxed.unparsed, 1);
  EXPECT_EQ(report->unparsed_judgements, 2);
  auto grades = nlohmann::json::parse(ReadFile(dir_ / "g.json").value());
  EXPECT_EQ(grades["grades"][qs[1].id]["relaxed"], "incorrect");
  EXPECT_EQ(grades["grades"][qs[0].id]["relaxed"], "unparsed");
  EXPECT_EQ(grades["grades"][qs[0].id]["relaxed_attempts"], 2);  // asked again, bounded
  EXPECT_TRUE(grades["grades"][qs[0].id].contains("relaxed_output"));
  EXPECT_NE(RenderGradeReport(*report).find("unparsable"), std::string::npos);
  // A second run reuses the saved grades (edit some to prove it).
  grades["grades"][qs[0].id]["relaxed"] = "correct";
  grades["grades"][qs[0].id]["strict"] = "incorrect";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "g.json", grades.dump()));
  auto again = GradeFreshQa(qs, dir_ / "r.json", judge->get(), {}, dir_ / "g.json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rows[0].relaxed.correct, 1);
  EXPECT_EQ(again->unparsed_judgements, 0);
}

TEST_F(RunAndGrade, TheJudgeNeverSeesTheFalsePremiseLabel) {
  auto qs = LoadFreshQa(FreshQaFile()).value();
  // The same question twice, once labelled false premise and once not.
  std::vector<FreshQaQuestion> pair = {qs[0], qs[0]};
  pair[0].id = "fp";
  pair[0].false_premise = true;
  pair[1].id = "valid";
  pair[1].false_premise = false;
  nlohmann::json responses = {{"meta", {{"today", "2023-12-20"}}},
                              {"responses", {{{"id", "fp"}, {"answer", "It was Laika."}},
                                             {{"id", "valid"}, {"answer", "It was Laika."}}}}};
  ASSERT_TRUE(WriteFileAtomic(dir_ / "r.json", responses.dump()));
  auto tiny = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(tiny);
  for (PromptStyle style : {PromptStyle::kCompletion, PromptStyle::kChat}) {
    Recording judge(runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 8192}).value());
    fs::remove(dir_ / "g.json");
    auto report = GradeFreshQa(pair, dir_ / "r.json", &judge,
                               {.judge_max_tokens = 2, .max_attempts = 1, .judge_style = style}, dir_ / "g.json");
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_EQ(judge.seen.size(), 4u);  // two questions, two modes
    // Whatever the label, the judge is shown exactly the same input.
    EXPECT_EQ(judge.seen[0], judge.seen[2]);
    EXPECT_EQ(judge.seen[1], judge.seen[3]);
    for (const auto& in : judge.seen) {
      EXPECT_EQ(in.find("false premise: "), std::string::npos);
      EXPECT_EQ(in.find("false_premise"), std::string::npos);
      EXPECT_EQ(in.find(qs[0].fact_type), std::string::npos);
      EXPECT_NE(in.find("correct answer(s): " + qs[0].answers[0]), std::string::npos);
    }
    // The report still splits by the label: the paper's breakdown.
    bool fp = false, valid = false;
    for (const auto& r : report->rows) {
      fp = fp || r.group == "false premise";
      valid = valid || r.group == "valid premise";
    }
    EXPECT_TRUE(fp && valid);
  }
}

TEST(FreshEvalAgreement, HandLabelledResponses) {
  auto labelled = LoadLabelledResponses(std::string(LMLAB_SOURCE_DIR) + "/tests/fresh/data/fresheval_labelled.json");
  ASSERT_TRUE(labelled) << labelled.error().ToString();
  ASSERT_EQ(labelled->size(), 30u);
  // Offline, FreshQA's alias rule stands in for the judge; its agreement
  // with the labels is what docs/freshqa.md states.
  auto alias = MeasureAgreement(*labelled, nullptr, search::ParseDay("2026-12-02").value(), {});
  ASSERT_TRUE(alias) << alias.error().ToString();
  ASSERT_EQ(alias->size(), 2u);
  const Agreement& relaxed = (*alias)[0];
  const Agreement& strict = (*alias)[1];
  EXPECT_EQ(relaxed.n, 30);
  EXPECT_EQ(relaxed.unparsed, 0);
  // The alias rule accepts a right answer wherever it appears, which is the
  // relaxed mode's spirit: it should agree on most relaxed labels, and less
  // on strict ones (it cannot see hallucinated details).
  EXPECT_GE(relaxed.agree, 24) << "disagreements: " << ::testing::PrintToString(relaxed.disagreements);
  EXPECT_LT(strict.agree, relaxed.agree);
  // With an LLM judge that never states a verdict, nothing counts: all unparsed.
  auto tiny = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(tiny);
  std::vector<LabelledResponse> three(labelled->begin(), labelled->begin() + 3);
  auto judged = MeasureAgreement(three, tiny->get(), search::ParseDay("2026-12-02").value(),
                                 {.judge_max_tokens = 2, .max_attempts = 1});
  ASSERT_TRUE(judged);
  EXPECT_EQ((*judged)[0].n + (*judged)[0].unparsed, 3);
}

// A responses file that was hand-edited or cut short: a clear kParse error
// naming the file, never an exception (issue 13).
TEST_F(RunAndGrade, DamagedResponsesFilesAreParseErrors) {
  auto qs = LoadFreshQa(FreshQaFile()).value();
  const std::vector<std::string> damaged = {
      "",
      "[]",
      R"({"meta": 5, "responses": []})",
      R"({"meta": {"today": "2023-12-20"}, "responses": {"a": 1}})",
      R"({"meta": {"today": "2023-12-20"}, "responses": [5]})",
      R"({"meta": {"today": "2023-12-20"}, "responses": [{"id": 1}]})",
      R"({"meta": {"today": "2023-12-20"}, "responses": [{"id": "1", "answer": ["x"]}]})",
      R"({"meta": {"today": 7}, "responses": []})",
  };
  for (const std::string& text : damaged) {
    SCOPED_TRACE(text);
    ASSERT_TRUE(WriteFileAtomic(dir_ / "r.json", text));
    Result<GradeReport> report = InvalidArgument("not run");
    EXPECT_NO_THROW(report = GradeFreshQa(qs, dir_ / "r.json", nullptr, {}, dir_ / "g.json"));
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().code, ErrorCode::kParse);
    EXPECT_NE(report.error().message.find("r.json"), std::string::npos) << report.error().message;
  }
}

}  // namespace
}  // namespace lmlab::fresh
