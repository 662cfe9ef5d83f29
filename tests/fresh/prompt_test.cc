// FreshPrompt's pure parts: evidence order and the k window, rendering
// (golden files), citations, question checks.
#include <gtest/gtest.h>

#include "lmlab/core/text.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "tests/support/run_command.h"

namespace lmlab::fresh {
namespace {

using search::Evidence;
using search::ParseDate;

Evidence Ev(std::string source, const char* date, int rank, std::string title = "") {
  Evidence e;
  e.source = std::move(source);
  e.url = "https://" + e.source + "/" + std::to_string(rank);
  if (date[0]) e.date = ParseDate(date).value();
  e.title = title.empty() ? "result " + std::to_string(rank) : std::move(title);
  e.snippet = "snippet of result " + std::to_string(rank);
  e.highlight = "result";
  e.relevance_rank = rank;
  e.score = 10 - rank;
  return e;
}

std::vector<std::string> Sources(const std::vector<Evidence>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.source);
  return out;
}

// Best first, as a backend returns them.
std::vector<Evidence> Found() {
  return {Ev("a.org", "2021-01-01", 0), Ev("b.org", "", 1), Ev("c.org", "2024-06-01", 2),
          Ev("d.org", "2019-03-03", 3), Ev("e.org", "2024-06-01", 4), Ev("f.org", "", 5),
          Ev("g.org", "2023-02-02", 6)};
}

TEST(OrderEvidence, DateAscendingUndatedFirstNewestLast) {
  auto all = OrderEvidence(Found(), EvidenceOrder::kDate, 100);
  // Undated (more relevant later), then by date; same date: more relevant later.
  EXPECT_EQ(Sources(all), (std::vector<std::string>{"f.org", "b.org", "d.org", "a.org", "g.org", "e.org", "c.org"}));
}

TEST(OrderEvidence, KeepsTheLastKNearestTheQuestion) {
  EXPECT_EQ(Sources(OrderEvidence(Found(), EvidenceOrder::kDate, 3)),
            (std::vector<std::string>{"g.org", "e.org", "c.org"}));
  EXPECT_EQ(Sources(OrderEvidence(Found(), EvidenceOrder::kRelevance, 3)),
            (std::vector<std::string>{"c.org", "b.org", "a.org"}));  // most relevant next to the question
  EXPECT_TRUE(OrderEvidence(Found(), EvidenceOrder::kDate, 0).empty());
  EXPECT_EQ(OrderEvidence({}, EvidenceOrder::kDate, 5).size(), 0u);
}

TEST(OrderEvidence, RandomIsSeededAndAPermutation) {
  auto a = OrderEvidence(Found(), EvidenceOrder::kRandom, 100, 7);
  auto b = OrderEvidence(Found(), EvidenceOrder::kRandom, 100, 7);
  auto c = OrderEvidence(Found(), EvidenceOrder::kRandom, 100, 8);
  EXPECT_EQ(Sources(a), Sources(b));
  EXPECT_NE(Sources(a), Sources(c));
  auto sorted = Sources(a);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"a.org", "b.org", "c.org", "d.org", "e.org", "f.org", "g.org"}));
}

TEST(RenderEvidence, FiveFieldsNormalisedDateOneLineEach) {
  Evidence e = Ev("python.org", "Mon, 07 Oct 2024 23:30:00 -0400", 0, "Python\n3.13.0   released");
  EXPECT_EQ(RenderEvidence(e, 3),
            "[3]\nsource: python.org\ndate: Oct 08, 2024\ntitle: Python 3.13.0 released\n"
            "snippet: snippet of result 0\nhighlight: result\n");
  e.date.reset();
  EXPECT_NE(RenderEvidence(e, 1).find("date: unknown\n"), std::string::npos);
}

// lmlab's variant, as it always was (its extras are on).
PromptFormat LmlabFormat() {
  return {.protocol = Protocol::kLmlab, .citations = Citations::kNumbered, .instruction = Instruction::kOn};
}

TEST(BuildPrompt, GoldenFiveDemonstrations) {
  PromptRequest r;
  r.format = LmlabFormat();
  r.question = "What is the latest version of zlib?";
  r.today = search::ParseDay("2026-11-27").value();
  r.evidences = OrderEvidence(Found(), EvidenceOrder::kDate, 5);
  auto p = BuildPrompt(r);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(*p, lmlab::testing::Golden("fresh/golden/prompt_five_demos.txt", *p));
  // The newest evidence sits right before the question; the answer is prefilled.
  size_t question = p->rfind("question: What is the latest version of zlib?");
  size_t newest = p->rfind("source: c.org");
  ASSERT_NE(question, std::string::npos);
  EXPECT_LT(newest, question);
  EXPECT_EQ(p->find("source: ", newest + 1), std::string::npos);
  EXPECT_TRUE(p->ends_with("answer: Today is Nov 27, 2026."));
}

TEST(BuildPrompt, GoldenPremiseCheckAnswerBoxNoDemonstrations) {
  PromptRequest r;
  r.question = "Which year did humans first land on Venus?";
  r.today = search::ParseDay("2026-01-05").value();
  r.evidences = {Ev("nasa.gov", "", 0), Ev("esa.int", "2025-12-01", 1)};
  r.answer_box = search::AnswerBox{"Venus", "Venus is the second planet from the Sun.", "https://en.wikipedia.org/wiki/Venus"};
  r.format = LmlabFormat();
  r.format.premise = PremiseCheck::kEveryBlock;
  r.num_demonstrations = 0;
  auto p = BuildPrompt(r);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, lmlab::testing::Golden("fresh/golden/prompt_premise_answer_box.txt", *p));
  EXPECT_NE(p->find("check whether the question rests on a false premise"), std::string::npos);
  EXPECT_EQ(p->find("====="), std::string::npos);  // no demonstrations
}

TEST(BuildPrompt, DemonstrationsCoverTheRequiredKinds) {
  PromptRequest r{.question = "q", .today = search::ParseDay("2026-11-27").value()};
  r.format = LmlabFormat();
  auto p = BuildPrompt(r).value();
  // Five demonstrations, each ending with a separator.
  size_t n = 0;
  for (size_t at = p.find("====="); at != std::string::npos; at = p.find("=====", at + 1)) ++n;
  EXPECT_EQ(n, 5u);
  EXPECT_NE(p.find("false premise"), std::string::npos);
  EXPECT_NE(p.find("How many years ago"), std::string::npos);
  EXPECT_NE(p.find("outdated"), std::string::npos);
  // Every demonstration answer states its day first.
  for (const char* day : {"Today is Oct 15, 2024.", "Today is Jan 20, 2025.", "Today is Nov 20, 2024.",
                          "Today is May 02, 2025.", "Today is Feb 01, 2024."})
    EXPECT_NE(p.find(std::string("answer: ") + day), std::string::npos) << day;
}

// ---- The paper's protocol --------------------------------------------------

// The golden paper prompt: five demonstrations with fixed evidence (in real
// use it is retrieved live from the backend), then the asked question with
// its window of k = 5 in date order and the prefilled reasoning prefix.
PromptRequest PaperRequest() {
  PromptRequest r;
  r.question = "What is the latest version of zlib?";
  r.today = search::ParseDay("2026-11-27").value();
  r.evidences = OrderEvidence(Found(), EvidenceOrder::kDate, 5);
  auto demos = PaperDemonstrations(r.today, AnswerStyle::kConcise);
  EXPECT_TRUE(demos) << demos.error().ToString();
  int i = 0;
  for (Block& d : *demos) {
    std::vector<Evidence> found = {Ev("demo" + std::to_string(i) + ".org", "2020-05-05", 0),
                                   Ev("demo" + std::to_string(i) + ".net", "", 1)};
    d.evidences = OrderEvidence(found, EvidenceOrder::kDate, 5);
    ++i;
  }
  r.demonstrations = std::move(*demos);
  return r;
}

TEST(PaperPrompt, Golden) {
  PromptRequest r = PaperRequest();
  auto p = BuildPrompt(r, /*prefilled=*/true);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(*p, lmlab::testing::Golden("fresh/golden/paper_prompt.txt", *p));
  // Five unnumbered fields per evidence, no separators, no instruction.
  EXPECT_EQ(p->find("[1]"), std::string::npos);
  EXPECT_EQ(p->find("====="), std::string::npos);
  EXPECT_TRUE(p->starts_with("query: Who wrote the first version of the Linux kernel?\n\nsource: demo0.net\ndate: None\n"));
  // Blocks are three newlines apart; every demonstration answers with the prefix.
  size_t blocks = 0;
  for (size_t at = p->find("\n\n\nquery: "); at != std::string::npos; at = p->find("\n\n\nquery: ", at + 1)) ++blocks;
  EXPECT_EQ(blocks, 5u);
  size_t prefixes = 0;
  const std::string prefix = "answer: As of today November 27, 2026, the most up-to-date and relevant information "
                             "regarding this query is as follows.";
  for (size_t at = p->find(prefix); at != std::string::npos; at = p->find(prefix, at + 1)) ++prefixes;
  EXPECT_EQ(prefixes, 6u);
  EXPECT_TRUE(p->ends_with("\nquestion: What is the latest version of zlib?\n" + prefix));
  // The newest evidence sits right before the question.
  EXPECT_LT(p->rfind("source: c.org"), p->rfind("question: "));
  EXPECT_EQ(p->find("source: ", p->rfind("source: c.org") + 1), std::string::npos);
  // "How many years ago" is answered for today.
  EXPECT_NE(p->find("Thus, it was released 30 years ago."), std::string::npos);
}

TEST(PaperPrompt, ModelWritesThePrefixAndPremiseCheck) {
  PromptRequest r = PaperRequest();
  r.demonstrations.clear();
  r.format.premise = PremiseCheck::kQuestion;
  auto p = BuildPrompt(r, /*prefilled=*/false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->ends_with("\nquestion: What is the latest version of zlib?\n"
                           "Please check if the question contains a valid premise before answering.\nanswer: "))
      << *p;
  // The extras are named options on the same format.
  r.format.citations = Citations::kNumbered;
  auto numbered = BuildPrompt(r).value();
  EXPECT_NE(numbered.find("[1]\nsource: "), std::string::npos);
  EXPECT_NE(numbered.find("[5]\nsource: c.org"), std::string::npos);
  EXPECT_TRUE(numbered.starts_with("Cite the search results you use by their number, like [2]."));
  r.format.instruction = Instruction::kOn;
  EXPECT_TRUE(BuildPrompt(r).value().starts_with("Answer each question from the search results"));
}

TEST(PaperPrompt, VerboseDemonstrationsAndTheirKinds) {
  const search::Day today = search::ParseDay("2026-05-01").value();
  auto concise = PaperDemonstrations(today, AnswerStyle::kConcise).value();
  auto verbose = PaperDemonstrations(today, AnswerStyle::kVerbose).value();
  ASSERT_EQ(concise.size(), 5u);
  ASSERT_EQ(verbose.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(concise[i].question, verbose[i].question);
    EXPECT_GT(verbose[i].answer.size(), concise[i].answer.size());
  }
  EXPECT_NE(concise[3].answer.find("29 years ago"), std::string::npos);  // June 17, 1996 to May 1, 2026
  EXPECT_NE(concise[4].answer.find("never released"), std::string::npos);  // the false premise
}

TEST(PaperPrompt, MergeResultTypesPutsTheAnswerBoxAmongTheEvidence) {
  search::SearchResults r;
  r.evidences = Found();
  r.answer_box = search::AnswerBox{"zlib", "zlib 1.3.1 is the latest release.", "https://www.zlib.net/"};
  auto merged = MergeResultTypes(r);
  ASSERT_EQ(merged.size(), Found().size() + 1);
  const search::Evidence& box = merged.back();
  EXPECT_EQ(box.type, search::ResultType::kAnswerBox);
  EXPECT_EQ(box.source, "zlib.net");
  EXPECT_EQ(box.snippet, "zlib 1.3.1 is the latest release.");
  EXPECT_EQ(box.highlight, box.snippet);
  EXPECT_FALSE(box.date);
  // Undated, so date order puts it first, where a small k drops it first.
  EXPECT_EQ(OrderEvidence(merged, EvidenceOrder::kDate, 100).front().type, search::ResultType::kAnswerBox);
  EXPECT_EQ(RenderPaperEvidence(box, 1, Citations::kNone),
            "source: zlib.net\ndate: None\ntitle: zlib\nsnippet: zlib 1.3.1 is the latest release.\n"
            "highlight: zlib 1.3.1 is the latest release.");
}

TEST(PaperPrompt, ChatFramingStatesTheDate) {
  auto m = PaperChatMessages("PROMPT", search::ParseDay("2026-11-27").value());
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_NE(m[0].content.find("Knowledge cutoff: November 27, 2026."), std::string::npos);
  EXPECT_EQ(m[1].role, "user");
  EXPECT_EQ(m[1].content, "What is today's date?");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[2].content, "Today is November 27, 2026.");
  EXPECT_EQ(m[3].content, "PROMPT");
}

TEST(PaperPrompt, ClipSnippetAtAWordBoundary) {
  search::Evidence e;
  e.snippet = "zlib (1:1.2.13.dfsg-1) unstable; urgency=low * New upstream release.";
  EXPECT_EQ(ClipSnippet(e, 0).snippet, e.snippet);
  EXPECT_EQ(ClipSnippet(e, 1000).snippet, e.snippet);
  EXPECT_EQ(ClipSnippet(e, 30).snippet, "zlib (1:1.2.13.dfsg-1)…");
  e.snippet = "ééééééééé";
  EXPECT_TRUE(IsValidUtf8(ClipSnippet(e, 5).snippet));
}

TEST(MapCitations, MarkersAndSourceDateMentions) {
  std::vector<Evidence> ev = {Ev("a.org", "2021-01-01", 0), Ev("b.org", "", 1), Ev("python.org", "2024-10-07", 2)};
  EXPECT_EQ(MapCitations("As [3] says, and [1].", ev), (std::vector<int>{0, 2}));
  EXPECT_EQ(MapCitations("See [1, 2] and [2][3].", ev), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(MapCitations("Out of range [4] [0] [x] [12345678]", ev), std::vector<int>{});
  EXPECT_EQ(MapCitations("According to Python.org on Oct 07, 2024 ...", ev), (std::vector<int>{2}));
  EXPECT_EQ(MapCitations("python.org says so", ev), std::vector<int>{});  // a source without its date is not enough
  EXPECT_EQ(MapCitations("unclosed [2", ev), std::vector<int>{});
}

TEST(ValidateQuestion, BadQuestions) {
  EXPECT_TRUE(ValidateQuestion("What is new?", 4096));
  EXPECT_EQ(ValidateQuestion("", 4096).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateQuestion(" \n\t ", 4096).error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(ValidateQuestion("caf\xe9?", 4096).error().message.find("UTF-8"), std::string::npos);
  auto huge = ValidateQuestion(std::string(5000, 'a'), 4096);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("5000 bytes"), std::string::npos);
}

TEST(EvidenceOrderNames, RoundTrip) {
  for (auto o : {EvidenceOrder::kDate, EvidenceOrder::kRelevance, EvidenceOrder::kRandom})
    EXPECT_EQ(ParseEvidenceOrder(EvidenceOrderName(o)).value(), o);
  EXPECT_FALSE(ParseEvidenceOrder("newest"));
  for (auto p : {Protocol::kPaper, Protocol::kLmlab}) EXPECT_EQ(ParseProtocol(ProtocolName(p)).value(), p);
  EXPECT_FALSE(ParseProtocol("fresh"));
  EXPECT_EQ(ParseAnswerStyle("verbose").value(), AnswerStyle::kVerbose);
}

}  // namespace
}  // namespace lmlab::fresh
