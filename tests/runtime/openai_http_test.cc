// The OpenAI-compatible backend against servers that misbehave: a small
// cpp-httplib server inside the test answers 500s, 429s with Retry-After, 401s
// that echo the key, garbage bodies and streams cut short. (The SSE parser
// and the retry policy on their own: tests/core/sse_test.cc, http_test.cc.)
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "lmlab/runtime/http_openai.h"
#include "tests/support/llama_server.h"
#include "tests/support/loopback_server.h"

namespace lmlab::runtime {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- a fake endpoint

// A loopback server that lists one model at /v1/models, as endpoints do.
class FakeEndpoint {
 public:
  FakeEndpoint() {
    lo_.server().Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"fake","object":"model"}]})", "application/json");
    });
  }
  httplib::Server& server() { return lo_.server(); }
  std::string url() const { return lo_.url("/v1"); }
  std::atomic<int> hits{0};

 private:
  testing::LoopbackServer lo_;
};

ModelSpec Spec(const FakeEndpoint& f) { return {.endpoint = f.url(), .api_model = "fake", .api_key_env = ""}; }

OpenAiOptions Fast(int retries, std::vector<double>* waits = nullptr) {
  OpenAiOptions o;
  o.retry = {.max_retries = retries, .initial_backoff_seconds = 0.01, .max_backoff_seconds = 5,
             .sleep = [waits](std::chrono::duration<double> d) {
               if (waits) waits->push_back(d.count());
               std::this_thread::sleep_for(std::min(d, std::chrono::duration<double>(0.02)));
             }};
  return o;
}

constexpr const char* kChatOk =
    R"({"choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":7,"completion_tokens":2}})";

const std::vector<ChatMessage> kQuestion = {{"user", "Capital of France?"}};

TEST(OpenAiFake, ServerErrorIsRetriedThenReportedWithItsMessage) {
  FakeEndpoint f;
  f.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++f.hits;
    res.status = 500;
    res.set_content(R"({"error":{"message":"the GPU caught fire","type":"server_error"}})", "application/json");
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(2));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Chat(kQuestion, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(f.hits.load(), 3);  // the first try and two retries
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(c.error().message.find("HTTP 500"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("the GPU caught fire"), std::string::npos) << c.error().message;
}

TEST(OpenAiFake, TransientServerErrorRecovers) {
  FakeEndpoint f;
  f.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++f.hits == 1) {
      res.status = 502;
      res.set_content("<html>Bad Gateway</html>", "text/html");
      return;
    }
    res.set_content(kChatOk, "application/json");
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(3));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Chat(kQuestion, {});
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->text, "Paris.");
  EXPECT_EQ(c->finish_reason, "stop");
  EXPECT_EQ(c->prompt_tokens, 7);
  EXPECT_EQ(c->completion_tokens, 2);
  EXPECT_EQ(f.hits.load(), 2);
}

TEST(OpenAiFake, TooManyRequestsWaitsAsRetryAfterSays) {
  FakeEndpoint f;
  f.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++f.hits == 1) {
      res.status = 429;
      res.set_header("Retry-After", "3");
      res.set_content(R"({"error":{"message":"rate limited"}})", "application/json");
      return;
    }
    res.set_content(kChatOk, "application/json");
  });
  std::vector<double> waits;
  auto lm = OpenOpenAiModel(Spec(f), Fast(3, &waits));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Chat(kQuestion, {});
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->text, "Paris.");
  EXPECT_EQ(waits, std::vector<double>{3.0});  // the server's 3 s, not our 0.01 s backoff
}

TEST(OpenAiFake, UnauthorizedSaysSoWithoutEchoingTheKey) {
  const char* kSecret = "sk-lmlab-test-5ecret";
  setenv("LMLAB_TEST_FAKE_KEY", kSecret, 1);
  FakeEndpoint f;
  std::mutex mu;
  std::string seen_auth;
  f.server().Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      seen_auth = req.get_header_value("Authorization");
    }
    res.status = 401;
    res.set_content(std::string(R"({"error":{"message":"Incorrect API key provided: )") + kSecret + R"("}})",
                    "application/json");
  });
  ModelSpec spec = Spec(f);
  spec.api_key_env = "LMLAB_TEST_FAKE_KEY";
  auto lm = OpenOpenAiModel(spec, Fast(3));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Chat(kQuestion, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  const std::string& m = c.error().message;
  EXPECT_NE(m.find("HTTP 401"), std::string::npos) << m;
  EXPECT_NE(m.find("Incorrect API key provided: ***"), std::string::npos) << m;
  EXPECT_NE(m.find("$LMLAB_TEST_FAKE_KEY"), std::string::npos) << m;
  EXPECT_EQ(m.find(kSecret), std::string::npos) << m;
  std::lock_guard lock(mu);
  EXPECT_EQ(seen_auth, std::string("Bearer ") + kSecret);  // it was sent, as a bearer token
  unsetenv("LMLAB_TEST_FAKE_KEY");
}

TEST(OpenAiFake, GarbageBodyIsAParseErrorThatQuotesIt) {
  FakeEndpoint f;
  std::atomic<bool> stream_mode{false};
  f.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (stream_mode)
      res.set_content("data: {\"choices\":[{\"delta\":{\"content\":\"Pa\"}}]}\n\ndata: {oops\n\n",
                      "text/event-stream");
    else
      res.set_content("<html><body>Welcome to nginx!</body></html>", "text/html");
  });
  f.server().Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"choices": "not a list"})", "application/json");
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(3));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto c = (*lm)->Chat(kQuestion, {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kParse);
  EXPECT_NE(c.error().message.find("Welcome to nginx"), std::string::npos) << c.error().message;
  auto k = (*lm)->Complete("x", {});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kParse);
  // A garbage event inside a stream is a parse error too, not a crash or a hang.
  stream_mode = true;
  std::string streamed;
  auto s = (*lm)->Chat(kQuestion, {}, [&](std::string_view p) {
    streamed += p;
    return true;
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kParse);
  EXPECT_NE(s.error().message.find("{oops"), std::string::npos) << s.error().message;
  EXPECT_EQ(streamed, "Pa");
}

TEST(OpenAiFake, StreamCutShortIsAnError) {
  FakeEndpoint f;
  f.server().Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/event-stream", [](size_t, httplib::DataSink& sink) {
      std::string e = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
      sink.write(e.data(), e.size());
      return false;  // the server dies: the connection closes without the last chunk
    });
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(3));
  ASSERT_TRUE(lm) << lm.error().ToString();
  std::string streamed;
  auto c = (*lm)->Chat(kQuestion, {}, [&](std::string_view p) {
    streamed += p;
    return true;
  });
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kUnavailable) << c.error().ToString();
  EXPECT_EQ(streamed, "Hel");
}

TEST(OpenAiFake, ErrorEventInsideAStream) {
  FakeEndpoint f;
  f.server().Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("data: {\"error\":{\"message\":\"slot crashed\"}}\n\n", "text/event-stream");
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(0));
  ASSERT_TRUE(lm);
  auto c = (*lm)->Complete("x", {}, [](std::string_view) { return true; });
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("slot crashed"), std::string::npos) << c.error().message;
}

TEST(OpenAiFake, SlowServerTimesOut) {
  FakeEndpoint f;
  f.server().Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(800ms);
    res.set_content(kChatOk, "application/json");
  });
  ModelSpec spec = Spec(f);
  spec.timeout_seconds = 0.2;
  auto lm = OpenOpenAiModel(spec, Fast(0));
  ASSERT_TRUE(lm) << lm.error().ToString();
  auto start = std::chrono::steady_clock::now();
  auto c = (*lm)->Complete("x", {});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kTimeout) << c.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);
}

TEST(OpenAiFake, UnreachableEndpointIsUnavailable) {
  int port = testing::FreeLoopbackPort();  // nothing listens there
  ModelSpec spec{.endpoint = "http://127.0.0.1:" + std::to_string(port), .api_model = "m", .api_key_env = ""};
  auto lm = OpenOpenAiModel(spec, Fast(1));
  ASSERT_FALSE(lm);
  EXPECT_EQ(lm.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(lm.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << lm.error().message;
  // Through the public entry point too (ModelSpec::max_retries).
  spec.max_retries = 0;
  auto open = OpenModel(spec);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, ErrorCode::kUnavailable);
}

TEST(OpenAiFake, BadEndpointUrls) {
  auto lm = OpenOpenAiModel({.endpoint = "127.0.0.1:8080", .api_model = "m"}, Fast(0));
  ASSERT_FALSE(lm);
  EXPECT_EQ(lm.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(lm.error().message.find("http://"), std::string::npos);
}

TEST(OpenAiFake, LegacyCompletionLogprobsAndEchoScoring) {
  // The OpenAI legacy /v1/completions format (also vLLM's): parallel arrays,
  // top_logprobs as {token: logprob} maps, text_offset for echoed prompts.
  FakeEndpoint f;
  std::mutex mu;
  nlohmann::json last;
  f.server().Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body);
    {
      std::lock_guard lock(mu);
      last = body;
    }
    if (body.value("echo", false)) {
      res.set_content(R"({"choices":[{"text":"a cat!","finish_reason":"length","logprobs":{
        "tokens":["a"," cat","!"],"token_logprobs":[null,-2.5,-0.7],
        "top_logprobs":[null,{" cat":-2.5," dog":-1.0},{"!":-0.7}],"text_offset":[0,1,5]}}]})",
                      "application/json");
      return;
    }
    res.set_content(R"({"choices":[{"text":" dog","finish_reason":"length","logprobs":{
      "tokens":[" dog"],"token_logprobs":[-1.0],"top_logprobs":[{" cat":-2.5," dog":-1.0}]}}],
      "usage":{"prompt_tokens":2,"completion_tokens":1}})",
                    "application/json");
  });
  auto lm = OpenOpenAiModel(Spec(f), Fast(0));
  ASSERT_TRUE(lm);
  auto c = (*lm)->Complete("a", {.seed = 7, .max_tokens = 1, .stop = {"\n"}, .top_logprobs = 2});
  ASSERT_TRUE(c) << c.error().ToString();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(last["logprobs"], 2);
    EXPECT_EQ(last["seed"], 7);
    EXPECT_EQ(last["stop"], nlohmann::json::array({"\n"}));
    EXPECT_EQ(last["model"], "fake");
  }
  ASSERT_EQ(c->logprobs.size(), 1u);
  EXPECT_EQ(c->logprobs[0].token, " dog");
  ASSERT_EQ(c->logprobs[0].top.size(), 2u);
  EXPECT_EQ(c->logprobs[0].top[0].first, " dog");  // sorted best first
  EXPECT_FLOAT_EQ(c->logprobs[0].top[0].second, -1.0f);

  auto scored = (*lm)->ScoreText("a cat");
  ASSERT_TRUE(scored) << scored.error().ToString();
  ASSERT_EQ(scored->size(), 1u);  // " cat"; "a" has no context, "!" was generated
  EXPECT_EQ((*scored)[0].token, " cat");
  EXPECT_FLOAT_EQ((*scored)[0].logprob, -2.5f);
}

TEST(OpenAiFake, ServersWithoutLlamaExtensions) {
  FakeEndpoint f;
  auto lm = OpenOpenAiModel(Spec(f), Fast(0));
  ASSERT_TRUE(lm);
  auto t = (*lm)->Tokenize("hi", AddBos::kNo);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kUnsupported);
  std::vector<int32_t> ids = {1, 2};
  EXPECT_EQ((*lm)->Detokenize(ids).error().code, ErrorCode::kUnsupported);
  EXPECT_EQ((*lm)->NextTokenLogprobs("hi").error().code, ErrorCode::kUnsupported);
  EXPECT_EQ((*lm)->info().backend, "openai");
  EXPECT_EQ((*lm)->info().name, "fake");
}

// Well-formed JSON of the wrong shape, as a broken proxy or a hostile server
// sends it: every reply is a result or a kParse error, never an exception
// escaping the library (issue 13).
TEST(OpenAiFake, HostileReplyShapesNeverThrow) {
  const std::vector<std::string> bodies = {
      R"({"choices":[{"text":"a","logprobs":{"tokens":["a"],"token_logprobs":"x"}}]})",
      R"({"choices":[{"text":"a","logprobs":{"tokens":["a","b"],"token_logprobs":{"0":1},"top_logprobs":"x"}}]})",
      R"({"choices":[{"text":"a","logprobs":{"tokens":["a","b"],"token_logprobs":[0.5],"top_logprobs":[5,{"a":"x"}],"text_offset":"x"}}]})",
      R"({"choices":[{"message":"str","logprobs":{"content":"x"}}]})",
      R"({"choices":[{"message":{"content":5},"logprobs":{"content":[{"logprob":1,"top_logprobs":"x","id":1.5},7]}}],"usage":"x"})",
      R"({"choices":[{"delta":[],"finish_reason":7}],"usage":{"prompt_tokens":"many","completion_tokens":1e300}})",
      R"({"choices":[null]})",
      R"({"choices":[[]]})",
      R"({"choices":{"0":{"text":"a"}}})",
      R"([1,2,3])",
      R"("just a string")",
      "",
  };
  std::atomic<size_t> which{0};
  FakeEndpoint f;
  auto reply = [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(bodies[which.load()], "application/json");
  };
  f.server().Post("/v1/completions", reply);
  f.server().Post("/v1/chat/completions", reply);
  f.server().Post("/tokenize", reply);
  f.server().Post("/detokenize", reply);
  auto lm = OpenOpenAiModel(Spec(f), Fast(0));
  ASSERT_TRUE(lm) << lm.error().ToString();
  for (size_t i = 0; i < bodies.size(); ++i) {
    SCOPED_TRACE(bodies[i]);
    which = i;
    auto check = [&](const auto& r) {
      // ScoreText says kUnsupported when a reply carries no log-probs at all.
      if (!r) {
        EXPECT_TRUE(r.error().code == ErrorCode::kParse || r.error().code == ErrorCode::kUnsupported)
            << r.error().ToString();
      }
    };
    EXPECT_NO_THROW(check((*lm)->Complete("x", {.top_logprobs = 2})));
    EXPECT_NO_THROW(check((*lm)->Chat(kQuestion, {.top_logprobs = 2})));
    EXPECT_NO_THROW(check((*lm)->ScoreText("x")));
    EXPECT_NO_THROW(check((*lm)->Tokenize("x", AddBos::kNo)));
    std::vector<int32_t> ids = {1};
    EXPECT_NO_THROW(check((*lm)->Detokenize(ids)));
  }
}

TEST(OpenAiFake, HostileModelListsNeverThrow) {
  for (std::string list : {R"({"data":[5,{"id":7},{"id":"fake","meta":"x","aliases":"y","owned_by":1}]})",
                           R"({"data":[{"id":"fake","meta":{"n_vocab":"many","n_ctx":-1.5}}]})",
                           R"({"data":"x"})", R"([])", "<html>"}) {
    SCOPED_TRACE(list);
    FakeEndpoint f;
    // Ahead of the fake's own /v1/models handler.
    f.server().set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
      if (req.path != "/v1/models") return httplib::Server::HandlerResponse::Unhandled;
      res.set_content(list, "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    Result<std::unique_ptr<LanguageModel>> lm = InvalidArgument("not run");
    EXPECT_NO_THROW(lm = OpenOpenAiModel(Spec(f), Fast(0)));
    if (!lm) {
      EXPECT_EQ(lm.error().code, ErrorCode::kParse) << lm.error().ToString();
    }
  }
}

}  // namespace
}  // namespace lmlab::runtime
