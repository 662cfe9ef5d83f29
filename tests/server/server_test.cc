// `lmlab serve`'s HTTP server end to end: a real model (the tiny model on a
// real llama-server, through lmlab's OpenAI backend), a real SQLite index,
// real HTTP on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <future>
#include <vector>

#include "tests/server/server_support.h"

namespace lmlab::server {
namespace {

using nlohmann::json;
using testing::ParseEvents;
using testing::RunningServer;

const ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new testing::SharedLlamaServerEnvironment);

std::string ChatBody(const std::string& question, bool stream, int max_tokens = 24) {
  json j = {{"model", "tiny"},
            {"messages", json::array({{{"role", "user"}, {"content", question}}})},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"stream", stream}};
  if (stream) j["stream_options"] = {{"include_usage", true}};
  return j.dump();
}

// Evidence dates in the order the server returned them ("" = undated).
std::vector<std::string> Dates(const json& sources) {
  std::vector<std::string> out;
  for (const json& s : sources) out.push_back(s["date"].is_null() ? "" : s["date"].get<std::string>());
  return out;
}

class GroundedServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto engine = testing::FreshZlibEngine(/*slots=*/2);
    if (engine) server_ = RunningServer::Start(std::move(engine)).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }
  static RunningServer* server_;
};
RunningServer* GroundedServer::server_ = nullptr;

TEST_F(GroundedServer, HealthModelsAndThePage) {
  auto c = server_->Client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  json h = json::parse(health->body);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["today"], "2026-11-27");
  EXPECT_EQ(h["search"], true);

  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  json m = json::parse(models->body);
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "tiny");

  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("id=\"question\""), std::string::npos);
  auto js = c.Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_NE(js->body.find("/v1/chat/completions"), std::string::npos);

  auto missing = c.Get("/no-such-page.html");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json::parse(missing->body)["error"]["message"].is_string());
}

TEST_F(GroundedServer, AnswerCarriesDatedSourcesNewestLast) {
  auto c = server_->Client();
  auto res = c.Post("/v1/chat/completions", ChatBody("What is the latest version of zlib?", false), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["object"], "chat.completion");
  std::string answer = j["choices"][0]["message"]["content"];
  EXPECT_TRUE(answer.starts_with("As of today November 27, 2026,")) << answer;
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0);

  // FreshPrompt's order: undated first, then oldest to newest, so the 2026
  // release sits next to the question. The bread page does not match.
  const json& sources = j["lmlab_sources"];
  ASSERT_GE(sources.size(), 4u) << sources.dump(1);
  std::vector<std::string> dates = Dates(sources);
  EXPECT_TRUE(std::is_sorted(dates.begin(), dates.end())) << sources.dump(1);
  EXPECT_EQ(dates.back(), "2026-11-20");
  EXPECT_EQ(sources.back()["url"], "https://news.example.com/zlib-2");
  for (const json& s : sources) {
    EXPECT_FALSE(s["title"].get<std::string>().empty());
    EXPECT_TRUE(s["url"].get<std::string>().starts_with("https://"));
    EXPECT_NE(s["title"], "How to bake bread");
    EXPECT_EQ(s["number"].get<int>(), &s - &sources[0] + 1);
  }
  EXPECT_EQ(j["lmlab_grounding"]["grounded"], true);
  EXPECT_EQ(j["lmlab_grounding"]["today"], "2026-11-27");
  EXPECT_EQ(j["lmlab_grounding"]["backend"], "local");
}

TEST_F(GroundedServer, StreamMatchesTheWholeAnswer) {
  auto c = server_->Client();
  const std::string q = "When was zlib 1.3.1 released?";
  // llama-server keeps the last prompt's KV cache: a request that reuses it
  // sums in a different order than one that prefills from scratch, and the
  // random tiny model's near-ties can then flip. A first request warms the
  // cache, so the whole and the streamed answer below are computed alike.
  auto warm = c.Post("/v1/chat/completions", ChatBody(q, false), "application/json");
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->status, 200) << warm->body;
  auto whole = c.Post("/v1/chat/completions", ChatBody(q, false), "application/json");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);

  auto res = c.Post("/v1/chat/completions", ChatBody(q, true), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  bool done = false;
  std::vector<json> events = ParseEvents(res->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  std::string streamed;
  for (const json& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e["choices"].empty()) continue;
    const json& delta = e["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) streamed += delta["content"].get<std::string>();
  }
  // Greedy decoding: the stream shows exactly the non-streamed answer.
  std::string expected = w["choices"][0]["message"]["content"];
  EXPECT_EQ(streamed.substr(0, expected.size()), expected);
  // The choice's last chunk: finish_reason and the sources; then, as OpenAI
  // sends it, usage in a chunk without choices.
  const json& last = events[events.size() - 2];
  EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(last["lmlab_sources"], w["lmlab_sources"]);
  const json& usage = events.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], w["usage"]["completion_tokens"]);
}

TEST_F(GroundedServer, ConcurrentRequestsAllAnswerTheSame) {
  auto first = server_->Client().Post("/v1/chat/completions", ChatBody("latest zlib release", false, 8),
                                      "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  std::string expected = json::parse(first->body)["choices"][0]["message"]["content"];
  std::vector<std::future<std::pair<int, std::string>>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(std::async(std::launch::async, [&, i] {
      auto res = server_->Client().Post("/v1/chat/completions", ChatBody("latest zlib release", i % 2 == 1, 8),
                                        "application/json");
      if (!res) return std::pair<int, std::string>(-1, "");
      if (i % 2 == 1) {
        bool done = false;
        std::string text;
        for (const json& e : ParseEvents(res->body, &done))
          if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content"))
            text += e["choices"][0]["delta"]["content"].get<std::string>();
        return std::pair<int, std::string>(res->status, text.substr(0, expected.size()));
      }
      return std::pair<int, std::string>(res->status, json::parse(res->body)["choices"][0]["message"]["content"]);
    }));
  }
  for (auto& f : calls) {
    auto [status, text] = f.get();
    EXPECT_EQ(status, 200);
    EXPECT_EQ(text, expected);
  }
}

struct BadRequest {
  std::string name;
  std::string body;
  std::string message_part;
};

TEST_F(GroundedServer, MalformedRequestsGet400WithAMessage) {
  std::string huge_question(5000, 'a');
  const std::vector<BadRequest> cases = {
      {"not json", "{\"messages\": [", "not valid JSON"},
      {"not an object", "[1,2]", "JSON object"},
      {"no messages", "{}", "\"messages\" is required"},
      {"messages not a list", R"({"messages": "hi"})", "non-empty array"},
      {"empty messages", R"({"messages": []})", "non-empty array"},
      {"bad role", R"({"messages": [{"role": "wizard", "content": "hi"}]})", "role"},
      {"content not text", R"({"messages": [{"role": "user", "content": 42}]})", "content"},
      {"no user turn", R"({"messages": [{"role": "system", "content": "be brief"}]})", "user"},
      {"empty question", R"({"messages": [{"role": "user", "content": "   "}]})", "empty"},
      {"huge question", json({{"messages", {{{"role", "user"}, {"content", huge_question}}}}}).dump(), "4096"},
      {"negative max_tokens", R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1})", "max_tokens"},
      {"temperature text", R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})", "temperature"},
      {"stream not bool", R"({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"})", "stream"},
      {"non-UTF-8", "{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xE9\"}]}", "JSON"},
      // Never a silent drop: what lmlab does not implement is named.
      {"unknown field", R"({"messages": [{"role": "user", "content": "hi"}], "tools": []})", "unsupported field \"tools\""},
      {"penalty", R"({"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 1})", "\"presence_penalty\""},
      {"unknown message field",
       R"({"messages": [{"role": "user", "content": "hi", "tool_calls": []}]})", "messages[0].tool_calls"},
      {"top_logprobs alone", R"({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})", "logprobs"},
      {"n too large", R"({"messages": [{"role": "user", "content": "hi"}], "n": 99})", "\"n\""},
      {"stream_options without stream",
       R"({"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}})", "stream"},
      // What a grounded answer cannot honour.
      {"grounded logprobs", R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": true})", "grounded"},
      {"grounded stop", R"({"messages": [{"role": "user", "content": "hi"}], "stop": "x"})", "grounded"},
      {"grounded n", R"({"messages": [{"role": "user", "content": "hi"}], "n": 2})", "grounded"},
  };
  auto c = server_->Client();
  for (const BadRequest& b : cases) {
    auto res = c.Post("/v1/chat/completions", b.body, "application/json");
    ASSERT_TRUE(res) << b.name;
    EXPECT_EQ(res->status, 400) << b.name << ": " << res->body;
    json j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << b.name;
    std::string message = j["error"]["message"];
    EXPECT_NE(message.find(b.message_part), std::string::npos) << b.name << ": " << message;
    // A client reads the request's field names, never lmlab's CLI flags or
    // the library's `option` markers (core/error.h).
    EXPECT_EQ(message.find(" --"), std::string::npos) << b.name << ": " << message;
    EXPECT_EQ(message.find('`'), std::string::npos) << b.name << ": " << message;
    EXPECT_EQ(j["error"]["type"], "invalid_request_error") << b.name;
  }
  // The server still answers afterwards.
  auto ok = c.Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(ServerLimits, OversizedBodyIs413AndAuthIsChecked) {
  setenv("LMLAB_TEST_SERVE_TOKEN", "tok-42", 1);
  auto engine = testing::FreshZlibEngine();
  ASSERT_TRUE(engine);
  auto s = RunningServer::Start(std::move(engine), {.bearer_token = "tok-42", .max_body_bytes = 4096});
  ASSERT_TRUE(s);
  auto c = s->Client();

  std::string big = ChatBody(std::string(8000, 'x'), false);
  httplib::Headers auth = {{"Authorization", "Bearer tok-42"}};
  auto too_big = c.Post("/v1/chat/completions", auth, big, "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  EXPECT_NE(json::parse(too_big->body)["error"]["message"].get<std::string>().find("4096"), std::string::npos)
      << too_big->body;

  auto missing = c.Post("/v1/chat/completions", ChatBody("zlib?", false), "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(json::parse(missing->body)["error"]["message"].get<std::string>().find("Bearer"), std::string::npos);
  auto wrong = c.Post("/v1/chat/completions", {{"Authorization", "Bearer nope"}}, ChatBody("zlib?", false),
                      "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body.find("tok-42"), std::string::npos);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);

  auto ok = c.Post("/v1/chat/completions", auth, ChatBody("zlib?", false, 4), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  // The page and health stay public (the page asks for the token itself).
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["auth"], true);
  unsetenv("LMLAB_TEST_SERVE_TOKEN");
}

TEST(ServerSearchDown, AnswerIsFlaggedUngroundedNotACrash) {
  // A SearXNG backend pointed at a port where nothing listens.
  std::vector<FreshSlot> slots(1);
  slots[0].model = testing::EndpointModel();
  ASSERT_TRUE(slots[0].model);
  slots[0].search = search::OpenSearxng({.base_url = "http://127.0.0.1:" +
                                                     std::to_string(lmlab::testing::FreeLoopbackPort())});
  auto s = RunningServer::Start(MakeFreshEngine(std::move(slots), {.answer = {.search_timeout_seconds = 2}, .today = testing::TestToday}));
  ASSERT_TRUE(s);
  auto res = s->Client().Post("/v1/chat/completions", ChatBody("latest zlib?", false, 8), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["lmlab_grounding"]["grounded"], false);
  EXPECT_NE(j["lmlab_grounding"]["reason"].get<std::string>().find("searxng"), std::string::npos)
      << j["lmlab_grounding"].dump();
  EXPECT_TRUE(j["lmlab_sources"].empty());
  EXPECT_TRUE(j["choices"][0]["message"]["content"].get<std::string>().starts_with("As of today November 27, 2026,"));
}

TEST(ServerPlain, UngroundedEngineAnswersTheConversation) {
  std::vector<std::unique_ptr<runtime::LanguageModel>> models;
  models.push_back(testing::EndpointModel());
  ASSERT_TRUE(models[0]);
  auto s = RunningServer::Start(MakePlainEngine(std::move(models)));
  ASSERT_TRUE(s);
  json body = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}},
               {"max_tokens", 6}};
  auto res = s->Client().Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json j = json::parse(res->body);
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);  // the text-only model never stops early
  EXPECT_EQ(j["lmlab_grounding"]["grounded"], false);
  EXPECT_EQ(j["lmlab_grounding"]["search"], false);
  EXPECT_TRUE(j["lmlab_sources"].empty());
}

TEST(ServerStop, StopEndsRunPromptly) {
  auto engine = testing::FreshZlibEngine();
  ASSERT_TRUE(engine);
  auto s = Server::Create(std::move(engine), {.port = 0});
  ASSERT_TRUE(s);
  std::promise<Status> ran;
  std::thread t([&] { ran.set_value((*s)->Run()); });
  httplib::Client c("127.0.0.1", (*s)->port());
  for (int i = 0; i < 200 && !c.Get("/health"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  (*s)->Stop();
  auto f = ran.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  t.join();
  // A second server may take the same port once the first is gone.
  auto again = Server::Create(testing::FreshZlibEngine(), {.port = (*s)->port()});
  EXPECT_TRUE(again) << again.error().ToString();
}

TEST(ServerCreate, BadOptionsAndTakenPorts) {
  EXPECT_FALSE(Server::Create(nullptr, {}));
  auto a = RunningServer::Start(testing::FreshZlibEngine());
  ASSERT_TRUE(a);
  auto b = Server::Create(testing::FreshZlibEngine(), {.port = a->server->port()});
  ASSERT_FALSE(b) << "a second server bound a port in use";
  EXPECT_EQ(b.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(b.error().message.find(std::to_string(a->server->port())), std::string::npos);
  auto bad = Server::Create(testing::FreshZlibEngine(), {.port = 70000});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

// The live "is the model guessing?" signal (ood/ignorance.h): with a monitor,
// every answer carries its ignorance score, computed from the model's full
// next-token distributions in one pass over the answer.
TEST(LocalModelServer, AnswersCarryTheIgnoranceScore) {
  std::vector<FreshSlot> slots(1);
  auto lm = runtime::OpenModel({.gguf_path = lmlab::testing::TextOnlyTinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(lm) << lm.error().ToString();
  const size_t n_vocab = static_cast<size_t>((*lm)->info().n_vocab);
  auto monitor = testing::UniformMonitor(n_vocab);
  ASSERT_TRUE(monitor) << monitor.error().ToString();
  slots[0].model = std::move(*lm);
  auto index = search::LocalIndex::Open(testing::ZlibIndexPath(), search::OpenMode::kReadOnly);
  ASSERT_TRUE(index);
  slots[0].search = std::move(*index);
  FreshEngineOptions options{.answer = {.k = 5}, .today = testing::TestToday};
  options.monitor = std::make_shared<const ood::IgnoranceMonitor>(std::move(*monitor));
  auto s = RunningServer::Start(MakeFreshEngine(std::move(slots), std::move(options)));
  ASSERT_TRUE(s);
  auto r = s->Client().Post("/v1/chat/completions", ChatBody("What is the latest version of zlib?", false, 8),
                            "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_TRUE(j.contains("lmlab_ignorance")) << r->body;
  ASSERT_TRUE(j["lmlab_ignorance"].contains("ignorance")) << j["lmlab_ignorance"].dump();
  double u = j["lmlab_ignorance"]["ignorance"].get<double>();
  EXPECT_GE(u, 0.0);
  EXPECT_LE(u, 1.0);
  EXPECT_GE(j["lmlab_ignorance"]["tokens"].get<int>(), 1);
  EXPECT_TRUE(j["lmlab_ignorance"]["flagged"].is_boolean());
}

}  // namespace
}  // namespace lmlab::server

namespace lmlab::server {
namespace {

// The same server over the tiny model run in-process by llama.cpp (no
// llama-server): grounded, streamed, the newest evidence last.
TEST(LocalModelServer, GroundedAnswersThroughLlamaCpp) {
  std::vector<FreshSlot> slots(1);
  auto lm = runtime::OpenModel({.gguf_path = lmlab::testing::TextOnlyTinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(lm) << lm.error().ToString();
  slots[0].model = std::move(*lm);
  auto index = search::LocalIndex::Open(testing::ZlibIndexPath(), search::OpenMode::kReadOnly);
  ASSERT_TRUE(index) << index.error().ToString();
  slots[0].search = std::move(*index);
  auto s = RunningServer::Start(MakeFreshEngine(std::move(slots), {.answer = {.k = 5}, .today = testing::TestToday}));
  ASSERT_TRUE(s);
  auto c = s->Client();
  auto whole = c.Post("/v1/chat/completions", ChatBody("What is the latest version of zlib?", false, 12),
                      "application/json");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  json w = json::parse(whole->body);
  EXPECT_TRUE(w["choices"][0]["message"]["content"].get<std::string>().starts_with("As of today November 27, 2026,"));
  EXPECT_EQ(w["usage"]["completion_tokens"], 12);
  std::vector<std::string> dates = Dates(w["lmlab_sources"]);
  ASSERT_GE(dates.size(), 4u);
  EXPECT_TRUE(std::is_sorted(dates.begin(), dates.end()));
  EXPECT_EQ(dates.back(), "2026-11-20");

  auto streamed = c.Post("/v1/chat/completions", ChatBody("What is the latest version of zlib?", true, 12),
                         "application/json");
  ASSERT_TRUE(streamed);
  bool done = false;
  std::string text;
  for (const json& e : ParseEvents(streamed->body, &done)) {
    ASSERT_TRUE(e.contains("choices")) << e.dump();
    if (e["choices"].empty()) {  // the usage chunk closes the stream
      EXPECT_TRUE(e.contains("usage")) << e.dump();
      continue;
    }
    if (e["choices"][0]["delta"].contains("content")) text += e["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_TRUE(done);
  std::string expected = w["choices"][0]["message"]["content"];
  EXPECT_EQ(text.substr(0, expected.size()), expected);
}

}  // namespace
}  // namespace lmlab::server

namespace lmlab::server {
namespace {

std::vector<float> DecodeBase64Floats(const std::string& b64) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    int v = value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// The OpenAI surface beyond chat, on a model run in-process: completions
// (several prompts, n samples each, streamed or whole, legacy logprobs),
// embeddings (float and base64, the same numbers), chat logprobs from the
// generating pass, and refusals that name the field.
TEST(LocalModelServer, CompletionsEmbeddingsAndLogprobs) {
  std::vector<std::unique_ptr<runtime::LanguageModel>> models;
  auto lm = runtime::OpenModel({.gguf_path = lmlab::testing::TextOnlyTinyModelPath(), .threads = 1, .n_ctx = 1024});
  ASSERT_TRUE(lm) << lm.error().ToString();
  models.push_back(std::move(*lm));
  auto s = RunningServer::Start(MakePlainEngine(std::move(models)));
  ASSERT_TRUE(s);
  auto c = s->Client();
  auto post = [&](const char* route, const json& body) {
    auto res = c.Post(route, body.dump(), "application/json");
    EXPECT_TRUE(res);
    return res ? std::make_pair(res->status, json::parse(res->body, nullptr, false)) : std::make_pair(0, json());
  };

  auto [cs, completion] = post("/v1/completions", {{"prompt", json::array({"The river", "A city"})}, {"n", 2},
                                                   {"max_tokens", 5}, {"temperature", 1}, {"seed", 9}, {"logprobs", 2}});
  ASSERT_EQ(cs, 200) << completion.dump();
  ASSERT_EQ(completion["choices"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const json& ch = completion["choices"][i];
    EXPECT_EQ(ch["index"], i);
    EXPECT_EQ(ch["finish_reason"], "length");
    std::string joined;
    for (const json& t : ch["logprobs"]["tokens"]) joined += t.get<std::string>();
    EXPECT_EQ(joined, ch["text"]);
    EXPECT_EQ(ch["logprobs"]["top_logprobs"][0].size(), 2u);
  }
  EXPECT_EQ(completion["usage"]["completion_tokens"], 20);
  // Choices 0 and 2 are the two prompts' first samples (seed 9), 0 and 1 differ in seed.
  EXPECT_NE(completion["choices"][0]["text"], completion["choices"][1]["text"]);

  auto streamed = c.Post("/v1/completions",
                         json({{"prompt", "The river"}, {"max_tokens", 5}, {"temperature", 1}, {"seed", 9},
                               {"stream", true}, {"stream_options", {{"include_usage", true}}}})
                             .dump(),
                         "application/json");
  ASSERT_TRUE(streamed);
  bool done = false;
  std::string text;
  std::vector<json> events = ParseEvents(streamed->body, &done);
  for (const json& e : events)
    if (!e["choices"].empty()) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_TRUE(done);
  EXPECT_EQ(text, completion["choices"][0]["text"]);
  EXPECT_EQ(events.back()["usage"]["completion_tokens"], 5);

  auto [es, floats] = post("/v1/embeddings", {{"input", json::array({"Paris", "Tokyo", "Paris"})}});
  ASSERT_EQ(es, 200) << floats.dump();
  ASSERT_EQ(floats["data"].size(), 3u);
  std::vector<float> paris = floats["data"][0]["embedding"];
  EXPECT_EQ(paris.size(), 64u);
  EXPECT_EQ(floats["data"][2]["embedding"], floats["data"][0]["embedding"]);  // deterministic
  EXPECT_NE(floats["data"][1]["embedding"], floats["data"][0]["embedding"]);
  auto [bs, packed] = post("/v1/embeddings", {{"input", "Paris"}, {"encoding_format", "base64"}});
  ASSERT_EQ(bs, 200);
  EXPECT_EQ(DecodeBase64Floats(packed["data"][0]["embedding"].get<std::string>()), paris);

  auto [ls, chat] = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                                  {"max_tokens", 4}, {"logprobs", true}});
  ASSERT_EQ(ls, 200) << chat.dump();
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u);
  EXPECT_TRUE(content[0]["top_logprobs"].empty());  // logprobs without top_logprobs: none listed

  for (const auto& [route, body, part] : std::vector<std::tuple<const char*, json, std::string>>{
           {"/v1/completions", json{{"prompt", "x"}, {"echo", true}}, "\"echo\""},
           {"/v1/completions", json{{"prompt", "x"}, {"suffix", "y"}}, "\"suffix\""},
           {"/v1/completions", json{{"prompt", json::array({1, 2})}}, "token ids"},
           {"/v1/completions", json{{"prompt", "x"}, {"logprobs", 9}}, "\"logprobs\""},
           {"/v1/completions", json{{"prompt", "x"}, {"best_of", 3}}, "\"best_of\""},
           {"/v1/completions", json{{"messages", json::array()}}, "\"messages\""},
           {"/v1/embeddings", json{{"input", ""}}, "empty"},
           {"/v1/embeddings", json{{"input", "x"}, {"dimensions", 8}}, "\"dimensions\""},
           {"/v1/embeddings", json{{"input", "x"}, {"encoding_format", "int8"}}, "encoding_format"},
       }) {
    auto [status, err] = post(route, body);
    EXPECT_EQ(status, 400) << route << " " << body.dump();
    EXPECT_NE(err["error"]["message"].get<std::string>().find(part), std::string::npos) << err.dump();
  }
}

// Embeddings need hidden states: an endpoint model says so (400), it does
// not pretend.
TEST(ServerPlain, EmbeddingsFromAnEndpointModelAreRefusedClearly) {
  std::vector<std::unique_ptr<runtime::LanguageModel>> models;
  models.push_back(testing::EndpointModel());
  ASSERT_TRUE(models[0]);
  auto s = RunningServer::Start(MakePlainEngine(std::move(models)));
  ASSERT_TRUE(s);
  auto res = s->Client().Post("/v1/embeddings", R"({"input": "Paris"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("local GGUF"), std::string::npos) << res->body;
}

}  // namespace
}  // namespace lmlab::server
