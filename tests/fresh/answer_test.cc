// AnswerWithEvidence end to end with real parts: the tiny llama.cpp model
// (in process and behind a real llama-server), a real SQLite FTS5 index, a
// real HTTP search backend that is down or slow. The tiny model's words are
// noise; what is checked is the prompt it saw, the evidence order, and the
// grounding flags.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/local_index.h"
#include "lmlab/search/searxng.h"
#include "tests/support/llama_server.h"
#include "tests/support/tiny_model.h"

namespace lmlab::fresh {
namespace {

namespace fs = std::filesystem;
using search::Document;
using search::ParseDate;

const search::Day kToday = search::ParseDay("2026-11-27").value();

class Fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lmlab-fresh-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto index = search::LocalIndex::Open(dir_ / "i.sqlite", search::OpenMode::kCreate);
    ASSERT_TRUE(index) << index.error().ToString();
    index_ = std::move(*index);
    std::vector<Document> docs;
    const char* dates[] = {"2019-02-01", "2024-01-22", "2021-06-30", "", "2022-10-14", "2023-08-18"};
    for (int i = 0; i < 6; ++i)
      docs.push_back({"https://zlib.example/" + std::to_string(i), "", "zlib release note " + std::to_string(i),
                      dates[i][0] ? std::optional(ParseDate(dates[i]).value()) : std::nullopt,
                      "zlib version news item " + std::to_string(i) + " about the zlib compression library release."});
    ASSERT_TRUE(index_->Add(docs));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<runtime::LanguageModel> TinyModel(int n_ctx) {
    auto m = runtime::OpenModel({.gguf_path = lmlab::testing::TinyModelPath(), .threads = 1, .n_ctx = n_ctx});
    EXPECT_TRUE(m) << m.error().ToString();
    return m ? std::move(*m) : nullptr;
  }

  AnswerOptions Options() {
    AnswerOptions o;
    o.question = "What is the latest zlib release?";
    o.today = kToday;
    o.max_tokens = 8;
    return o;
  }

  fs::path dir_;
  std::unique_ptr<search::LocalIndex> index_;
};

// The evidences' titles in the asked question's block (the last "query: "), in prompt order.
std::vector<std::string> TitlesInQueryBlock(const std::string& prompt) {
  size_t start = prompt.rfind("query: ");
  start = start == std::string::npos ? 0 : start;
  std::vector<std::string> titles;
  for (size_t at = prompt.find("\ntitle: ", start); at != std::string::npos; at = prompt.find("\ntitle: ", at + 1))
    titles.push_back(prompt.substr(at + 8, prompt.find('\n', at + 1) - at - 8));
  return titles;
}

TEST_F(Fixture, TinyModelAnswersWithEvidenceInDateOrder) {
  auto model = TinyModel(8192);
  ASSERT_TRUE(model);
  std::string streamed;
  auto a = AnswerWithEvidence(*model, *index_, Options(), [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->grounding, Grounding::kGrounded) << a->ungrounded_reason;
  EXPECT_EQ(a->backend, "local");
  EXPECT_EQ(a->evidences_found, 6);
  ASSERT_EQ(a->evidences.size(), 5u);  // k = 5: the undated one is first out
  // The paper's five demonstrations, each with evidence retrieved from the
  // same backend, as many as fit after the question's own evidence.
  EXPECT_GE(a->demonstrations, 1);
  EXPECT_EQ(a->demonstrations + a->demonstrations_dropped, 5);
  EXPECT_EQ(a->dropped_for_context, 0);
  EXPECT_NE(a->prompt.find("query: Who wrote the first version of the Linux kernel?"), std::string::npos);
  // Oldest to newest; the newest (2024-01-22) sits next to the question.
  const std::vector<std::string> want = {"zlib release note 0", "zlib release note 2", "zlib release note 4",
                                         "zlib release note 5", "zlib release note 1"};
  std::vector<std::string> got;
  for (const auto& e : a->evidences) got.push_back(e.evidence.title);
  EXPECT_EQ(got, want);
  EXPECT_EQ(TitlesInQueryBlock(a->prompt), want);
  for (size_t i = 0; i < a->evidences.size(); ++i) EXPECT_EQ(a->evidences[i].number, static_cast<int>(i + 1));
  EXPECT_NE(a->prompt.find("date: Jan 22, 2024\n"), std::string::npos);
  EXPECT_EQ(a->prompt.find("[1]"), std::string::npos);  // the paper's evidences are unnumbered
  // A completion model gets the paper's reasoning prefix prefilled.
  EXPECT_TRUE(a->prompt.ends_with("answer: " + ReasoningPrefix(kToday)));
  EXPECT_TRUE(a->answer.starts_with("As of today November 27, 2026, the most up-to-date")) << a->answer;
  EXPECT_NE(a->answer.find(streamed.substr(0, 3)), std::string::npos);
  EXPECT_GT(a->prompt_tokens, 1000);
  EXPECT_GT(a->completion_tokens, 0);
  EXPECT_LE(a->completion_tokens, 8);
  auto j = ToJson(*a);
  EXPECT_EQ(j["evidences"].size(), 5u);
  EXPECT_EQ(j["evidences"][4]["date"], "2024-01-22");
  EXPECT_EQ(j["grounded"], true);
  EXPECT_EQ(j["prompt"], a->prompt);
  EXPECT_FALSE(ToJson(*a, IncludePrompt::kNo).contains("prompt"));
}

TEST_F(Fixture, RelevanceOrderAblation) {
  auto model = TinyModel(4096);
  ASSERT_TRUE(model);
  AnswerOptions o = Options();
  o.order = EvidenceOrder::kRelevance;
  o.k = 3;
  o.num_demonstrations = 0;
  auto a = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_EQ(a->evidences.size(), 3u);
  for (size_t i = 1; i < a->evidences.size(); ++i)  // least relevant first, best next to the question
    EXPECT_GT(a->evidences[i - 1].evidence.relevance_rank, a->evidences[i].evidence.relevance_rank);
  EXPECT_EQ(a->evidences.back().evidence.relevance_rank, 0);
}

const std::vector<std::string> kDateOrder = {"zlib release note 0", "zlib release note 2", "zlib release note 4",
                                             "zlib release note 5", "zlib release note 1"};

TEST_F(Fixture, SmallContextDropsOldestEvidenceWholeFirst) {
  auto model = TinyModel(4096);
  ASSERT_TRUE(model);
  AnswerOptions o = Options();
  o.num_demonstrations = 0;
  auto full = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(full) << full.error().ToString();
  int64_t full_tokens = model->Tokenize(full->prompt, runtime::AddBos::kYes)->size();
  // One token short of the full prompt: exactly the oldest evidence must go.
  o.context_tokens = static_cast<int>(full_tokens + o.max_tokens - 1);
  auto a = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->dropped_for_context, 1);
  EXPECT_EQ(TitlesInQueryBlock(a->prompt), std::vector<std::string>(kDateOrder.begin() + 1, kDateOrder.end()));
  EXPECT_LE(static_cast<int64_t>(model->Tokenize(a->prompt, runtime::AddBos::kYes)->size()) + o.max_tokens,
            o.context_tokens);
  EXPECT_EQ(a->grounding, Grounding::kGrounded);
  // Whole evidences only: every one in the prompt has all five fields.
  for (const auto& e : a->evidences) {
    size_t at = a->prompt.find("title: " + e.evidence.title + "\n");
    ASSERT_NE(at, std::string::npos);
    EXPECT_NE(a->prompt.find("highlight: ", at), std::string::npos);
  }
  // With demonstrations asked for, evidence still goes first (down to the newest).
  o.num_demonstrations = 5;
  auto with_demos = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(with_demos) << with_demos.error().ToString();
  ASSERT_FALSE(with_demos->evidences.empty());
  EXPECT_EQ(with_demos->evidences.back().evidence.title, "zlib release note 1");
  EXPECT_LT(with_demos->demonstrations, 5);
  // Too small for even the question: a clear error.
  o.context_tokens = 40;
  auto none = AnswerWithEvidence(*model, *index_, o);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kOutOfRange);
}

TEST_F(Fixture, SearchBackendDownGivesAnUngroundedAnswer) {
  auto model = TinyModel(4096);
  ASSERT_TRUE(model);
  int port = lmlab::testing::FreeLoopbackPort();
  auto down = search::OpenSearxng({.base_url = "http://127.0.0.1:" + std::to_string(port)});
  AnswerOptions o = Options();
  o.num_demonstrations = 1;
  auto a = AnswerWithEvidence(*model, *down, o);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->grounding, Grounding::kUngrounded);
  EXPECT_NE(a->ungrounded_reason.find("unavailable"), std::string::npos) << a->ungrounded_reason;
  EXPECT_TRUE(a->evidences.empty());
  // The asked question's block has no evidence at all.
  EXPECT_EQ(a->prompt.find("source: ", a->prompt.rfind("query: ")), std::string::npos);
  EXPECT_TRUE(a->answer.starts_with(ReasoningPrefix(kToday)));
  EXPECT_EQ(ToJson(*a)["grounded"], false);
}

TEST_F(Fixture, SlowSearchBackendGivesAnUngroundedAnswer) {
  auto model = TinyModel(4096);
  ASSERT_TRUE(model);
  std::atomic<bool> release{false};
  httplib::Server slow;
  slow.Get("/search", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    res.set_content(R"({"results": []})", "application/json");
  });
  int port = slow.bind_to_any_port("127.0.0.1");
  std::thread t([&] { slow.listen_after_bind(); });
  auto backend = search::OpenSearxng({.base_url = "http://127.0.0.1:" + std::to_string(port)});
  AnswerOptions o = Options();
  o.num_demonstrations = 0;
  o.search_timeout_seconds = 0.3;
  auto a = AnswerWithEvidence(*model, *backend, o);
  release = true;
  slow.stop();
  t.join();
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->grounding, Grounding::kUngrounded);
  EXPECT_NE(a->ungrounded_reason.find("timeout"), std::string::npos) << a->ungrounded_reason;
  EXPECT_LT(a->search_seconds, 3.0);
}

TEST_F(Fixture, NoSearchAndEmptyResultsAreUngrounded) {
  auto model = TinyModel(4096);
  ASSERT_TRUE(model);
  AnswerOptions o = Options();
  o.num_demonstrations = 0;
  o.search = SearchMode::kNoSearch;
  auto a = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->grounding, Grounding::kUngrounded);
  EXPECT_NE(a->ungrounded_reason.find("search disabled"), std::string::npos);
  EXPECT_EQ(a->backend, "");
  o.search = SearchMode::kSearch;
  o.question = "Who painted the Mona Lisa?";
  auto nothing = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->grounding, Grounding::kUngrounded);
  EXPECT_NE(nothing->ungrounded_reason.find("no evidence"), std::string::npos);
}

TEST_F(Fixture, BadQuestionsAndOptionsAreClearErrors) {
  auto model = TinyModel(1024);
  ASSERT_TRUE(model);
  AnswerOptions o = Options();
  for (std::string q : {std::string(""), std::string("   "), std::string("bad \xff\xfe bytes"), std::string(10000, 'x')}) {
    o.question = q;
    auto a = AnswerWithEvidence(*model, *index_, o);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument) << a.error().ToString();
  }
  o = Options();
  o.k = 0;
  EXPECT_EQ(AnswerWithEvidence(*model, *index_, o).error().code, ErrorCode::kInvalidArgument);
  o = Options();
  o.today = {};
  EXPECT_EQ(AnswerWithEvidence(*model, *index_, o).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(Fixture, LmlabProtocolKeepsItsOwnFormat) {
  auto model = TinyModel(8192);
  ASSERT_TRUE(model);
  AnswerOptions o = Options();
  o.format = {.protocol = Protocol::kLmlab, .citations = Citations::kNumbered, .instruction = Instruction::kOn};
  o.num_demonstrations = 2;
  auto a = AnswerWithEvidence(*model, *index_, o);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->demonstrations, 2);
  EXPECT_NE(a->prompt.find("====="), std::string::npos);
  EXPECT_NE(a->prompt.find("[1]\nsource: "), std::string::npos);
  EXPECT_TRUE(a->prompt.ends_with("answer: Today is Nov 27, 2026."));
  EXPECT_TRUE(a->answer.starts_with("Today is Nov 27, 2026."));
}

TEST_F(Fixture, ThroughARealLlamaServer) {
  auto server = lmlab::testing::LlamaServer::Start(
      {.model_path = lmlab::testing::TextOnlyTinyModelPath(), .context = 4096});
  ASSERT_TRUE(server) << server.error().ToString();
  auto model = runtime::OpenModel({.endpoint = (*server)->url(), .api_model = "tiny", .timeout_seconds = 60});
  ASSERT_TRUE(model) << model.error().ToString();
  // llama-server may cap the tiny model's context at its training length
  // (256 tokens); then the prompt is fitted, and whatever evidence fits must
  // be the newest, in date order.
  EXPECT_GT((*model)->info().n_ctx, 0);
  for (PromptStyle style : {PromptStyle::kCompletion, PromptStyle::kChat}) {
    AnswerOptions o = Options();
    o.num_demonstrations = 2;
    o.style = style;
    auto a = AnswerWithEvidence(**model, *index_, o);
    ASSERT_TRUE(a) << a.error().ToString();
    if (style == PromptStyle::kCompletion) {  // the chat template's spare tokens may leave no room
      EXPECT_EQ(a->grounding, Grounding::kGrounded) << a->ungrounded_reason;
      ASSERT_FALSE(a->evidences.empty());
    }
    EXPECT_EQ(a->evidences.size() + a->dropped_for_context, 5u);
    EXPECT_EQ(TitlesInQueryBlock(a->prompt),
              std::vector<std::string>(kDateOrder.end() - static_cast<std::ptrdiff_t>(a->evidences.size()),
                                       kDateOrder.end()));
    if (style == PromptStyle::kCompletion) {
      EXPECT_TRUE(a->answer.starts_with(ReasoningPrefix(kToday)));
    } else {
      // A chat model writes the prefix itself (the paper's chat mode); the
      // answer is what it wrote.
      EXPECT_EQ(a->answer.find(ReasoningPrefix(kToday)), std::string::npos);
      EXPECT_FALSE(a->prompt.ends_with(ReasoningPrefix(kToday)));
    }
    EXPECT_GT(a->completion_tokens, 0);
  }
}

}  // namespace
}  // namespace lmlab::fresh
