// The SearXNG backend against a real HTTP server in the test (cpp-httplib on
// loopback) serving a recorded SearXNG JSON answer; down and slow servers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "lmlab/core/file.h"
#include "lmlab/search/searxng.h"
#include "tests/support/llama_server.h"
#include "tests/support/loopback_server.h"

namespace lmlab::search {
namespace {

std::string Recorded() {
  return ReadFile(std::string(LMLAB_SOURCE_DIR) + "/tests/search/data/searxng_response.json").value();
}

// A loopback server answering /search.
class FakeSearxng {
 public:
  explicit FakeSearxng(std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    lo_.server().Get("/search", std::move(handler));
  }
  std::string url() const { return lo_.url(); }

 private:
  testing::LoopbackServer lo_;
};

TEST(Searxng, ParsesRecordedResults) {
  std::string seen_query, seen_format;
  FakeSearxng server([&](const httplib::Request& req, httplib::Response& res) {
    seen_query = req.get_param_value("q");
    seen_format = req.get_param_value("format");
    res.set_content(Recorded(), "application/json");
  });
  auto backend = OpenSearxng({.base_url = server.url() + "/"});
  EXPECT_EQ(backend->name(), "searxng");
  auto r = backend->Search("latest zlib release?", {.max_results = 10, .timeout_seconds = 5});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(seen_query, "latest zlib release?");  // URL-escaped on the wire, intact on arrival
  EXPECT_EQ(seen_format, "json");
  ASSERT_EQ(r->evidences.size(), 3u);
  const Evidence& first = r->evidences[0];
  EXPECT_EQ(first.source, "zlib.net");
  EXPECT_EQ(first.title, "zlib Home Site");
  EXPECT_EQ(FormatIsoDay(*first.date), "2024-01-22");
  EXPECT_NE(first.snippet.find("1.3.1"), std::string::npos);
  EXPECT_NE(first.highlight.find("latest"), std::string::npos) << first.highlight;
  EXPECT_EQ(first.relevance_rank, 0);
  EXPECT_EQ(FormatIsoTime(*r->evidences[1].date), "2023-08-18T10:30:00Z");  // +02:00 normalised
  EXPECT_FALSE(r->evidences[2].date.has_value());                          // publishedDate: null
  ASSERT_TRUE(r->answer_box.has_value());  // from the infobox
  EXPECT_EQ(r->answer_box->title, "zlib");
  EXPECT_EQ(r->answer_box->url, "https://en.wikipedia.org/wiki/Zlib");
}

TEST(Searxng, AnswersBecomeTheAnswerBoxAndMaxResultsApplies) {
  auto r = ParseSearxngJson(R"({"results": [{"url": "https://a.org/1", "title": "a", "content": "x"},
                                            {"url": "https://b.org/2", "title": "b", "content": "y"}],
                               "answers": [{"answer": "42", "url": "https://calc.example"}]})",
                            "q", {.max_results = 1});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->evidences.size(), 1u);
  ASSERT_TRUE(r->answer_box);
  EXPECT_EQ(r->answer_box->text, "42");
  auto legacy = ParseSearxngJson(R"({"results": [], "answers": ["plain string answer"]})", "q", {});
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->answer_box->text, "plain string answer");
}

TEST(Searxng, MalformedJsonIsAParseError) {
  EXPECT_EQ(ParseSearxngJson("<html>", "q", {}).error().code, ErrorCode::kParse);
  EXPECT_EQ(ParseSearxngJson("{\"results\": 3}", "q", {}).error().code, ErrorCode::kParse);
}

TEST(Searxng, JsonFormatDisabledSaysHowToFix) {
  FakeSearxng server([](const httplib::Request&, httplib::Response& res) { res.status = 403; });
  auto r = OpenSearxng({.base_url = server.url()})->Search("q", {.timeout_seconds = 5});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("search.formats"), std::string::npos) << r.error().message;
}

TEST(Searxng, DownServerIsUnavailable) {
  int port = lmlab::testing::FreeLoopbackPort();
  auto r = OpenSearxng({.base_url = "http://127.0.0.1:" + std::to_string(port)})->Search("q", {.timeout_seconds = 2});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().ToString();
}

TEST(Searxng, SlowServerTimesOut) {
  std::atomic<bool> release{false};
  FakeSearxng server([&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 300 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    res.set_content(Recorded(), "application/json");
  });
  auto start = std::chrono::steady_clock::now();
  auto r = OpenSearxng({.base_url = server.url()})->Search("q", {.timeout_seconds = 0.3});
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  release = true;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout) << r.error().ToString();
  EXPECT_LT(took, 2.0);
}

// The transport is injectable: a scripted HttpClient sees what the backend
// sends and answers without a network.
class ScriptedHttp : public HttpClient {
 public:
  std::vector<Result<HttpResponse>> answers;
  std::vector<HttpRequest> requests;
  Result<HttpResponse> Send(const HttpRequest& request, const BodyCallback&) override {
    requests.push_back(request);
    return answers.at(requests.size() - 1);
  }
};

TEST(Searxng, RefusedConnectionIsTriedOnceMoreThroughTheInjectedClient) {
  auto http = std::make_shared<ScriptedHttp>();
  http->answers.push_back(Unavailable("connection refused"));
  HttpResponse ok;
  ok.status = 200;
  ok.body = Recorded();
  http->answers.push_back(ok);
  auto backend = OpenSearxng({.base_url = "http://searx.example/search/", .language = "de",
                              .retry = {.max_retries = 1, .initial_backoff_seconds = 0.01}, .http = http});
  auto r = backend->Search("zlib 1.3 & co", {.max_results = 2, .timeout_seconds = 5});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->evidences.size(), 2u);
  ASSERT_EQ(http->requests.size(), 2u);
  EXPECT_EQ(http->requests[0].url, "http://searx.example/search?format=json&q=zlib%201.3%20%26%20co&language=de");
  EXPECT_TRUE(http->requests[0].follow_redirects);
  EXPECT_GT(http->requests[0].max_body_bytes, 0u);
}

TEST(Searxng, AnswersOtherThan200AreUnavailable) {
  auto http = std::make_shared<ScriptedHttp>();
  HttpResponse teapot;
  teapot.status = 418;
  http->answers.push_back(teapot);
  auto r = OpenSearxng({.base_url = "http://searx.example", .http = http})->Search("q", {.timeout_seconds = 5});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("HTTP 418"), std::string::npos) << r.error().message;
  EXPECT_EQ(http->requests.size(), 1u);  // a 418 is not worth retrying
}

}  // namespace
}  // namespace lmlab::search
