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

TEST(JudgeVerdict, Parsing) {
  EXPECT_EQ(ParseJudgeVerdict(" The main answer matches.\nverdict: correct"), Verdict::kCorrect);
  EXPECT_EQ(ParseJudgeVerdict("bad detail\nVerdict: **Incorrect**"), Verdict::kIncorrect);
  EXPECT_EQ(ParseJudgeVerdict("verdict:incorrect."), Verdict::kIncorrect);
  EXPECT_EQ(ParseJudgeVerdict("I think it is correct"), Verdict::kUnparsed);
  EXPECT_EQ(ParseJudgeVerdict("verdict: maybe"), Verdict::kUnparsed);
}

TEST(JudgePrompt, GoldenRelaxedAndStrictDiffer) {
  auto q = Q({"Jon Fosse"});
  q.question = "Who won the Nobel Prize in Literature in 2023?";
  auto relaxed = BuildJudgePrompt(q, search::ParseDay("2024-02-01").value(), "Jon Fosse won it.", GradeMode::kRelaxed);
  auto strict = BuildJudgePrompt(q, search::ParseDay("2024-02-01").value(), "Jon Fosse won it.", GradeMode::kStrict);
  ASSERT_TRUE(relaxed && strict);
  EXPECT_EQ(*strict, lmlab::testing::Golden("fresh/golden/judge_strict.txt", *strict));
  EXPECT_NE(relaxed->find("Relaxed grading"), std::string::npos);
  EXPECT_NE(strict->find("Strict grading"), std::string::npos);
  EXPECT_NE(strict->find("false premise: yes"), std::string::npos);  // an example teaches it
  EXPECT_TRUE(strict->ends_with("response: Jon Fosse won it.\ncomment:"));
}

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
  file["responses"][0]["answer"] = "Today is Dec 20, 2023. No animal has ever landed on the moon.";
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
  for (const auto& r : report->rows) saw_fp = saw_fp || r.group == "false_premise=true";
  EXPECT_TRUE(saw_fp);
  EXPECT_NE(RenderGradeReport(*report).find("relaxed/strict need an LLM judge"), std::string::npos);
}

TEST_F(RunAndGrade, JudgeGradesAreWrittenAndReused) {
  auto qs = LoadFreshQa(FreshQaFile()).value();
  nlohmann::json responses = {
      {"meta", {{"today", "2023-12-20"}}},
      {"responses", {{{"id", qs[0].id}, {"answer", "Today is Dec 20, 2023. No animal has landed on the moon."}},
                     {{"id", qs[1].id}, {"answer", ""}}}}};
  ASSERT_TRUE(WriteFileAtomic(dir_ / "r.json", responses.dump()));
  auto judge = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = 4096});
  ASSERT_TRUE(judge) << judge.error().ToString();
  auto report = GradeFreshQa(qs, dir_ / "r.json", judge->get(), {.judge_max_tokens = 4}, dir_ / "g.json");
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->judged);
  EXPECT_EQ(report->rows[0].relaxed.n, 2);
  EXPECT_EQ(report->rows[0].strict.n, 2);
  // The tiny model writes noise, so its verdicts are unparsed (counted incorrect);
  // the empty answer is incorrect without asking.
  auto grades = nlohmann::json::parse(ReadFile(dir_ / "g.json").value());
  EXPECT_EQ(grades["grades"][qs[1].id]["relaxed"], "incorrect");
  EXPECT_TRUE(grades["grades"][qs[0].id].contains("relaxed_output"));
  // A second run reuses the saved grades (edit one to prove it).
  grades["grades"][qs[0].id]["relaxed"] = "correct";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "g.json", grades.dump()));
  auto again = GradeFreshQa(qs, dir_ / "r.json", judge->get(), {}, dir_ / "g.json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rows[0].relaxed.correct, 1);
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
