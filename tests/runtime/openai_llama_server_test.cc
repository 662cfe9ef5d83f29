// The OpenAI-compatible backend against a REAL llama-server built from the
// same llama.cpp source, serving the tiny test model on 127.0.0.1.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "lmlab/runtime/http_openai.h"
#include "tests/support/llama_server.h"
#include "tests/support/tiny_model.h"

namespace lmlab::runtime {
namespace {

using namespace std::chrono_literals;
using testing::LlamaServer;

class LlamaServerEndpoint : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = LlamaServer::Start({.model_path = testing::TextOnlyTinyModelPath()});
    if (!s) {
      start_error_ = new std::string(s.error().ToString());
      return;
    }
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << (start_error_ ? *start_error_ : ""); }

  static std::unique_ptr<LanguageModel> Open() {
    auto lm = OpenModel({.endpoint = server_->url(), .api_model = "tiny", .api_key_env = ""});
    EXPECT_TRUE(lm) << lm.error().ToString();
    return lm ? std::move(*lm) : nullptr;
  }

  static LlamaServer* server_;
  static std::string* start_error_;
};
LlamaServer* LlamaServerEndpoint::server_ = nullptr;
std::string* LlamaServerEndpoint::start_error_ = nullptr;

TEST_F(LlamaServerEndpoint, InfoComesFromModelsAndProps) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  const ModelInfo& info = lm->info();
  EXPECT_EQ(info.backend, "openai");
  EXPECT_EQ(info.name, "tiny");
  EXPECT_EQ(info.n_ctx, 256);  // the -c the server was started with
  EXPECT_GT(info.n_vocab, 100);
  EXPECT_GT(info.n_params, 0);
}

TEST_F(LlamaServerEndpoint, ChatIsDeterministicAndStreamsTheSameText) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Name a colour."}};
  SamplingParams p{.temperature = 0, .seed = 42, .max_tokens = 12};
  auto a = lm->Chat(messages, p);
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = lm->Chat(messages, p);
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(a->text, b->text);
  EXPECT_GT(a->prompt_tokens, 5);
  EXPECT_GT(a->completion_tokens, 0);
  EXPECT_LE(a->completion_tokens, 12);
  EXPECT_TRUE(a->finish_reason == "stop" || a->finish_reason == "length") << a->finish_reason;

  std::vector<std::string> pieces;
  auto s = lm->Chat(messages, p, [&](std::string_view piece) {
    pieces.emplace_back(piece);
    return true;
  });
  ASSERT_TRUE(s) << s.error().ToString();
  std::string joined;
  for (const auto& piece : pieces) joined += piece;
  EXPECT_EQ(joined, a->text);
  EXPECT_EQ(s->text, a->text);
  EXPECT_EQ(s->completion_tokens, a->completion_tokens);  // usage arrives in the last chunk
  EXPECT_GT(pieces.size(), 1u);
}

TEST_F(LlamaServerEndpoint, CompletionLogprobsAreConsistent) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  auto c = lm->Complete("The quick brown fox", {.temperature = 0, .max_tokens = 6, .top_logprobs = 3});
  ASSERT_TRUE(c) << c.error().ToString();
  ASSERT_EQ(static_cast<int64_t>(c->logprobs.size()), c->completion_tokens);
  ASSERT_FALSE(c->logprobs.empty());
  std::string joined;
  for (const TokenLogprob& t : c->logprobs) {
    joined += t.token;
    EXPECT_LE(t.logprob, 0.0f);
    EXPECT_GE(t.id, 0);  // llama-server gives token ids
    ASSERT_EQ(t.top.size(), 3u);
    EXPECT_GE(t.top[0].second, t.top[1].second);
    EXPECT_GE(t.top[1].second, t.top[2].second);
    // Greedy decoding picks the most likely token.
    EXPECT_EQ(t.token, t.top[0].first);
    EXPECT_NEAR(t.logprob, t.top[0].second, 1e-4);
  }
  EXPECT_EQ(joined, c->text);
}

TEST_F(LlamaServerEndpoint, StopStringsEndTheText) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  SamplingParams p{.temperature = 0, .max_tokens = 24};
  auto full = lm->Complete("Once upon a time", p);
  ASSERT_TRUE(full) << full.error().ToString();
  ASSERT_GE(full->text.size(), 6u) << "the tiny model should say something: '" << full->text << "'";
  // Stop at a piece of what the model says when unstopped: the text must end before it.
  std::string stop = full->text.substr(full->text.size() / 2, 2);
  p.stop = {stop};
  auto cut = lm->Complete("Once upon a time", p);
  ASSERT_TRUE(cut) << cut.error().ToString();
  EXPECT_EQ(cut->text, full->text.substr(0, full->text.find(stop)));
  EXPECT_EQ(cut->finish_reason, "stop");
}

TEST_F(LlamaServerEndpoint, TokenizeRoundTripsAndUnsupportedCallsSaySo) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  auto plain = lm->Tokenize("hello world", AddBos::kNo);
  ASSERT_TRUE(plain) << plain.error().ToString();
  auto with_bos = lm->Tokenize("hello world", AddBos::kYes);
  ASSERT_TRUE(with_bos);
  EXPECT_EQ(with_bos->size(), plain->size() + 1);
  auto text = lm->Detokenize(*plain);
  ASSERT_TRUE(text) << text.error().ToString();
  EXPECT_NE(text->find("hello world"), std::string::npos) << *text;

  auto score = lm->ScoreText("hello");
  ASSERT_FALSE(score);
  EXPECT_EQ(score.error().code, ErrorCode::kUnsupported);
  auto next = lm->NextTokenLogprobs("hello");
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, ErrorCode::kUnsupported);
}

TEST_F(LlamaServerEndpoint, PromptLongerThanTheContextIsOutOfRange) {
  auto lm = Open();
  ASSERT_TRUE(lm);
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word" + std::to_string(i) + " ";
  auto c = lm->Complete(long_prompt, {.max_tokens = 4});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kOutOfRange) << c.error().ToString();
}

// A server of its own, killed while the model is open and then mid-stream:
// a clear error each time, and no hang.
TEST(LlamaServerKilled, ClearErrorsNoHang) {
  auto started = LlamaServer::Start({.model_path = testing::TextOnlyTinyModelPath()});
  ASSERT_TRUE(started) << started.error().ToString();
  std::unique_ptr<LlamaServer> server = std::move(*started);
  OpenAiOptions fast;
  fast.retry = {.max_retries = 2, .initial_backoff_seconds = 0.05};
  auto lm = OpenOpenAiModel({.endpoint = server->url(), .api_model = "tiny", .api_key_env = ""}, fast);
  ASSERT_TRUE(lm) << lm.error().ToString();

  // Mid-stream: the server dies after the first piece arrives.
  std::string streamed;
  auto c = (*lm)->Complete("Once upon a time", {.max_tokens = 200}, [&](std::string_view piece) {
    if (streamed.empty()) server->Kill();
    streamed += piece;
    return true;
  });
  EXPECT_FALSE(server->running());
  ASSERT_FALSE(streamed.empty());
  // The text-only model never stops early, so 199 tokens were still to come.
  ASSERT_FALSE(c) << "got a whole answer: " << c->text;
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable) << c.error().ToString();
  EXPECT_NE(c.error().message.find("dropped in the middle of the answer"), std::string::npos) << c.error().message;

  // Afterwards: refused connections, retried twice, then kUnavailable, fast.
  auto start = std::chrono::steady_clock::now();
  auto d = (*lm)->Chat(std::vector<ChatMessage>{{"user", "hi"}}, {.max_tokens = 4});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kUnavailable) << d.error().ToString();
  EXPECT_NE(d.error().message.find(server->url()), std::string::npos) << d.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(LlamaServerAuth, ApiKeyFromTheEnvironment) {
  auto started = LlamaServer::Start({.model_path = testing::TextOnlyTinyModelPath(), .extra_args = {"--api-key", "k-123"}});
  ASSERT_TRUE(started) << started.error().ToString();
  ModelSpec spec{.endpoint = (*started)->url() + "/v1", .api_model = "tiny", .api_key_env = "LMLAB_TEST_LLAMA_KEY"};
  unsetenv("LMLAB_TEST_LLAMA_KEY");
  auto refused = OpenModel(spec);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("$LMLAB_TEST_LLAMA_KEY"), std::string::npos) << refused.error().message;
  setenv("LMLAB_TEST_LLAMA_KEY", "k-123", 1);
  auto lm = OpenModel(spec);
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Complete("hi", {.max_tokens = 2});
  EXPECT_TRUE(c) << c.error().ToString();
  unsetenv("LMLAB_TEST_LLAMA_KEY");
}

}  // namespace
}  // namespace lmlab::runtime
