// core/http: the retry policy against scripted answers, and the libcurl
// client against a real cpp-httplib server on loopback (redirects, body
// limits, timeouts, lower-cased headers, URL encoding).
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "lmlab/core/http.h"
#include "lmlab/core/http_retry.h"
#include "tests/support/loopback_server.h"

namespace lmlab {
namespace {

// ---------------------------------------------------------------- retry policy

TEST(RetryAfter, SecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("3"), 3.0);
  EXPECT_EQ(ParseRetryAfter(" 0.5 "), 0.5);
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  auto later = ParseRetryAfter("Wed, 21 Oct 2015 07:28:07 GMT", now);
  ASSERT_TRUE(later);
  EXPECT_NEAR(*later, 7.0, 1e-9);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0.0);  // in the past: no wait
  EXPECT_FALSE(ParseRetryAfter("soon"));
  EXPECT_FALSE(ParseRetryAfter("-1"));
  EXPECT_FALSE(ParseRetryAfter(""));
}

// An HttpClient that replays scripted outcomes (the policy's logic alone).
class ScriptedClient : public HttpClient {
 public:
  std::vector<Result<HttpResponse>> script;
  int calls = 0;
  Result<HttpResponse> Send(const HttpRequest&, const BodyCallback& on_body) override {
    Result<HttpResponse> r = script.at(static_cast<size_t>(calls++));
    if (r && r->status == 200 && on_body && !r->body.empty()) {
      on_body(r->body);
      r->body.clear();
    }
    return r;
  }
};

HttpResponse Answer(int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

TEST(SendWithRetry, BacksOffExponentiallyAndStopsAtTheLimit) {
  ScriptedClient client;
  for (int i = 0; i < 4; ++i) client.script.push_back(Answer(503));
  std::vector<double> waits;
  RetryPolicy policy{.max_retries = 3, .initial_backoff_seconds = 0.25, .max_backoff_seconds = 0.75,
                     .sleep = [&](std::chrono::duration<double> d) { waits.push_back(d.count()); }};
  auto r = SendWithRetry(client, {}, policy);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(client.calls, 4);
  EXPECT_EQ(waits, (std::vector<double>{0.25, 0.5, 0.75}));  // doubled, then capped
}

TEST(SendWithRetry, HonoursRetryAfterAndRetriesTransportErrors) {
  ScriptedClient client;
  client.script.push_back(Answer(429, {{"retry-after", "2"}}));
  client.script.push_back(Unavailable("connection refused"));
  client.script.push_back(Answer(200));
  std::vector<double> waits;
  RetryPolicy policy{.max_retries = 5, .initial_backoff_seconds = 0.1,
                     .sleep = [&](std::chrono::duration<double> d) { waits.push_back(d.count()); }};
  auto r = SendWithRetry(client, {}, policy);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(waits, (std::vector<double>{2.0, 0.2}));
}

TEST(SendWithRetry, DoesNotRetryClientErrorsOrAfterStreamedData) {
  ScriptedClient client;
  client.script.push_back(Answer(400));
  auto r = SendWithRetry(client, {}, {.max_retries = 3, .sleep = [](auto) {}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(client.calls, 1);

  // Data already handed to the caller cannot be taken back: no second try.
  class Drops : public HttpClient {
   public:
    int calls = 0;
    Result<HttpResponse> Send(const HttpRequest&, const BodyCallback& cb) override {
      ++calls;
      cb("data: partial\n\n");
      return Unavailable("connection reset");
    }
  } drops;
  auto d = SendWithRetry(drops, {}, {.max_retries = 3, .sleep = [](auto) {}}, [](std::string_view) { return true; });
  EXPECT_FALSE(d);
  EXPECT_EQ(drops.calls, 1);
}

TEST(SendWithRetry, StaysInsideItsBudget) {
  // A budget bounds waits and retries together: a retry whose wait would end
  // past it is not started, and each retry's timeout is what is left.
  class Refuses : public HttpClient {
   public:
    std::vector<double> timeouts;
    Result<HttpResponse> Send(const HttpRequest& request, const BodyCallback&) override {
      timeouts.push_back(request.timeout_seconds);
      return Unavailable("connection refused");
    }
  } refuses;
  // Real sleeps (0.3 s in all): the budget is wall-clock time.
  RetryPolicy policy{.max_retries = 5, .initial_backoff_seconds = 0.3, .multiplier = 3, .budget_seconds = 1.0};
  const auto start = std::chrono::steady_clock::now();
  auto r = SendWithRetry(refuses, {.timeout_seconds = 1.0}, policy);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  // First wait 0.3 s fits (0.7 s left for the retry); the second, 0.9 s,
  // would end past the budget, so the call ends after two attempts.
  ASSERT_EQ(refuses.timeouts.size(), 2u);
  EXPECT_DOUBLE_EQ(refuses.timeouts[0], 1.0);
  EXPECT_LE(refuses.timeouts[1], 0.7);
  EXPECT_LT(took, 1.0);
}

// ---------------------------------------------------------------- libcurl

using Loopback = testing::LoopbackServer;

TEST(CurlHttpClient, GetPostHeadersAndStatus) {
  Loopback lo;
  lo.server().Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Echo-Agent", req.get_header_value("User-Agent"));
    res.set_content("hi " + req.get_param_value("q"), "text/plain");
  });
  lo.server().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_content(req.body, "application/json");
  });
  auto http = MakeCurlHttpClient();
  auto get = http->Send({.url = lo.url("/hello?q=" + UrlEncode("a b&c")), .headers = {{"User-Agent", "lmlab-test"}}});
  ASSERT_TRUE(get) << get.error().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "hi a b&c");
  EXPECT_EQ(get->Header("x-echo-agent"), "lmlab-test");  // names lower-cased
  auto post = http->Send({.method = "POST", .url = lo.url("/echo"), .body = R"({"x":1})"});
  ASSERT_TRUE(post) << post.error().ToString();
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(post->body, R"({"x":1})");
}

TEST(CurlHttpClient, RedirectsOnlyWhenAsked) {
  Loopback lo;
  lo.server().Get("/old", [&](const httplib::Request&, httplib::Response& res) { res.set_redirect(lo.url("/new")); });
  lo.server().Get("/new", [](const httplib::Request&, httplib::Response& res) { res.set_content("moved", "text/plain"); });
  auto http = MakeCurlHttpClient();
  auto stay = http->Send({.url = lo.url("/old")});
  ASSERT_TRUE(stay);
  EXPECT_EQ(stay->status, 302);
  auto follow = http->Send({.url = lo.url("/old"), .follow_redirects = true});
  ASSERT_TRUE(follow) << follow.error().ToString();
  EXPECT_EQ(follow->status, 200);
  EXPECT_EQ(follow->body, "moved");
}

TEST(CurlHttpClient, BodyLimitStreamingAndTimeout) {
  Loopback lo;
  lo.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100000, 'x'), "text/plain");
  });
  std::atomic<bool> release{false};
  lo.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 300 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    res.set_content("late", "text/plain");
  });
  auto http = MakeCurlHttpClient();
  auto big = http->Send({.url = lo.url("/big"), .max_body_bytes = 1000});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(big.error().message.find("over 1000 bytes"), std::string::npos) << big.error().message;
  // A streamed body is handed over, not collected, so the limit does not apply.
  size_t streamed = 0;
  auto stream = http->Send({.url = lo.url("/big"), .max_body_bytes = 1000}, [&](std::string_view chunk) {
    streamed += chunk.size();
    return true;
  });
  ASSERT_TRUE(stream) << stream.error().ToString();
  EXPECT_EQ(streamed, 100000u);
  auto slow = http->Send({.url = lo.url("/slow"), .timeout_seconds = 0.2});
  release = true;
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::kTimeout);
}

TEST(CurlHttpClient, UnreachableAndMalformed) {
  int port = 0;
  {
    Loopback lo;  // a port that was free a moment ago and now has no listener
    port = lo.port();
  }
  auto http = MakeCurlHttpClient();
  auto down = http->Send({.url = "http://127.0.0.1:" + std::to_string(port) + "/"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  auto bad = http->Send({.url = "ftp://127.0.0.1/x"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto method = http->Send({.method = "DELETE", .url = "http://127.0.0.1/"});
  ASSERT_FALSE(method);
  EXPECT_EQ(method.error().code, ErrorCode::kInvalidArgument);
}

TEST(UrlEncode, UnreservedStayOthersArePercentEncoded) {
  EXPECT_EQ(UrlEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(UrlEncode("a b&c=d/e?"), "a%20b%26c%3Dd%2Fe%3F");
  EXPECT_EQ(UrlEncode("\xC3\xA9"), "%C3%A9");  // UTF-8 bytes one by one
  EXPECT_EQ(UrlEncode(""), "");
}

}  // namespace
}  // namespace lmlab
