// The web page in a REAL headless Chromium (Debian's `chromium`), driven over
// the DevTools protocol: load the page from a running lmlab server, ask a
// question by typing it and pressing the button, wait for the streamed answer,
// and check the answer, the dated sources (oldest first, with links) and
// today's date in the DOM; the console stays silent; a screenshot is saved to
// build/test-artifacts/serve.png.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "lmlab/core/file.h"
#include "tests/server/headless_chromium.h"
#include "tests/server/server_support.h"

namespace lmlab::server {
namespace {

using nlohmann::json;
using testing::HeadlessChromium;

const ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new testing::SharedLlamaServerEnvironment);

TEST(WebPage, AsksAndShowsTheAnswerWithDatedSourcesInChromium) {
  auto engine = testing::FreshZlibEngine();
  ASSERT_TRUE(engine);
  auto s = testing::RunningServer::Start(std::move(engine));
  ASSERT_TRUE(s);
  auto started = HeadlessChromium::Start();
  ASSERT_TRUE(started) << started.error().ToString();
  HeadlessChromium& chrome = **started;

  ASSERT_TRUE(chrome.Open(s->server->url() + "/"));
  ASSERT_TRUE(chrome.WaitFor("document.getElementById('today') && document.getElementById('today').dateTime", 30));
  // Ask as a person would: type, then click Ask.
  ASSERT_TRUE(chrome.Evaluate(
      "document.getElementById('question').value = 'What is the latest version of zlib?';"
      "document.getElementById('ask').click(); true"));
  auto finished = chrome.WaitFor("['done', 'error'].includes(document.body.dataset.state)", 90);
  ASSERT_TRUE(finished) << finished.error().ToString();
  EXPECT_EQ(*chrome.Evaluate("document.body.dataset.state"), "done")
      << chrome.Evaluate("document.getElementById('status').textContent")->dump();

  // Today's date, as the server sees it, is visible.
  EXPECT_EQ(*chrome.Evaluate("document.getElementById('today').textContent"), "Nov 27, 2026");
  // The streamed answer.
  std::string answer = chrome.Evaluate("document.getElementById('answer').textContent")->get<std::string>();
  EXPECT_TRUE(answer.starts_with("As of today November 27, 2026,")) << answer;
  EXPECT_GT(answer.size(), std::string("As of today November 27, 2026, the most up-to-date and relevant information regarding this query is as follows.").size());
  // The sources: dates in order (undated first), links, the newest last.
  json dates = *chrome.Evaluate("[...document.querySelectorAll('#sources .src-date')].map(e => e.textContent)");
  json links = *chrome.Evaluate("[...document.querySelectorAll('#sources a.src-title')].map(e => e.href)");
  ASSERT_GE(dates.size(), 4u) << dates.dump();
  EXPECT_EQ(dates.front(), "undated") << dates.dump();
  EXPECT_EQ(dates.back(), "Nov 20, 2026") << dates.dump();
  EXPECT_NE(std::find(dates.begin(), dates.end(), "Jan 22, 2024"), dates.end()) << dates.dump();
  EXPECT_EQ(links.back(), "https://news.example.com/zlib-2") << links.dump();
  json machine_dates = *chrome.Evaluate("[...document.querySelectorAll('#sources time.src-date')].map(e => e.dateTime)");
  std::vector<std::string> iso;
  for (const json& d : machine_dates)
    if (!d.get<std::string>().empty()) iso.push_back(d);
  EXPECT_TRUE(std::is_sorted(iso.begin(), iso.end())) << machine_dates.dump();
  std::string grounding = chrome.Evaluate("document.getElementById('grounding').textContent")->get<std::string>();
  EXPECT_TRUE(grounding.starts_with("Grounded in")) << grounding;
  std::string page_text = chrome.Evaluate("document.body.innerText")->get<std::string>();
  EXPECT_EQ(page_text.find("How to bake bread"), std::string::npos);
  EXPECT_TRUE(chrome.console().empty()) << chrome.console().front();

  std::filesystem::path artifacts = std::filesystem::path(LMLAB_BINARY_DIR) / "test-artifacts";
  std::filesystem::create_directories(artifacts);
  auto png = chrome.Screenshot();
  ASSERT_TRUE(png) << png.error().ToString();
  EXPECT_TRUE(png->starts_with("\x89PNG\r\n\x1a\n"));
  EXPECT_GT(png->size(), 10'000u);  // a rendered page, not an empty canvas
  ASSERT_TRUE(WriteFileAtomic(artifacts / "serve.png", *png));
}

TEST(WebPage, AsksFromTheUrlAndShowsTheServersErrors) {
  // A server that needs a token the page does not have: the page shows the
  // server's 401 message and the token box.
  auto engine = testing::FreshZlibEngine();
  ASSERT_TRUE(engine);
  auto s = testing::RunningServer::Start(std::move(engine), {.bearer_token = "t0ken"});
  ASSERT_TRUE(s);
  auto started = HeadlessChromium::Start();
  ASSERT_TRUE(started) << started.error().ToString();
  HeadlessChromium& chrome = **started;
  ASSERT_TRUE(chrome.Open(s->server->url() + "/?q=zlib"));
  ASSERT_TRUE(chrome.WaitFor("['done', 'error'].includes(document.body.dataset.state)", 60));
  EXPECT_EQ(*chrome.Evaluate("document.body.dataset.state"), "error");
  std::string status = chrome.Evaluate("document.getElementById('status').textContent")->get<std::string>();
  EXPECT_NE(status.find("Authorization: Bearer"), std::string::npos) << status;
  EXPECT_EQ(*chrome.Evaluate("document.getElementById('token-label').hidden"), false);
  // The only console line is the browser noting the 401.
  ASSERT_EQ(chrome.console().size(), 1u);
  EXPECT_NE(chrome.console()[0].find("401"), std::string::npos) << chrome.console()[0];

  // With the token typed in, the same page answers.
  ASSERT_TRUE(chrome.Evaluate("document.body.dataset.state = 'idle';"
                              "document.getElementById('token').value = 't0ken';"
                              "document.getElementById('ask').click(); true"));
  ASSERT_TRUE(chrome.WaitFor("['done', 'error'].includes(document.body.dataset.state)", 60));
  EXPECT_EQ(*chrome.Evaluate("document.body.dataset.state"), "done")
      << chrome.Evaluate("document.getElementById('status').textContent")->dump();
  std::string answer = chrome.Evaluate("document.getElementById('answer').textContent")->get<std::string>();
  EXPECT_TRUE(answer.starts_with("As of today")) << answer;
}

}  // namespace
}  // namespace lmlab::server
