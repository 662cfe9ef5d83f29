// The web page in a REAL headless Chromium (Debian's `chromium`), driven over
// the DevTools protocol: load the page from a running lmlab server, ask by
// typing and pressing the button, wait for the streamed answer, and check the
// answer, the dated sources (oldest first, with links) and today's date in the
// DOM; hold a three-turn conversation (each turn sends the history, each
// answer keeps its own sources and ignorance verdict); show the server's
// refusals. The console stays silent; a screenshot is saved to
// build/test-artifacts/serve.png.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "lmlab/core/file.h"
#include "lmlab/ood/ignorance.h"
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
  std::string answer = chrome.Evaluate("document.querySelector('.turn .answer').textContent")->get<std::string>();
  EXPECT_TRUE(answer.starts_with("As of today November 27, 2026,")) << answer;
  EXPECT_GT(answer.size(), std::string("As of today November 27, 2026, the most up-to-date and relevant information regarding this query is as follows.").size());
  // The sources: dates in order (undated first), links, the newest last.
  json dates = *chrome.Evaluate("[...document.querySelectorAll('.turn .sources .src-date')].map(e => e.textContent)");
  json links = *chrome.Evaluate("[...document.querySelectorAll('.turn .sources a.src-title')].map(e => e.href)");
  ASSERT_GE(dates.size(), 4u) << dates.dump();
  EXPECT_EQ(dates.front(), "undated") << dates.dump();
  EXPECT_EQ(dates.back(), "Nov 20, 2026") << dates.dump();
  EXPECT_NE(std::find(dates.begin(), dates.end(), "Jan 22, 2024"), dates.end()) << dates.dump();
  EXPECT_EQ(links.back(), "https://news.example.com/zlib-2") << links.dump();
  json machine_dates = *chrome.Evaluate("[...document.querySelectorAll('.turn .sources time.src-date')].map(e => e.dateTime)");
  std::vector<std::string> iso;
  for (const json& d : machine_dates)
    if (!d.get<std::string>().empty()) iso.push_back(d);
  EXPECT_TRUE(std::is_sorted(iso.begin(), iso.end())) << machine_dates.dump();
  std::string grounding = chrome.Evaluate("document.querySelector('.turn .grounding').textContent")->get<std::string>();
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
  // The refused turn stays on the page, marked, and is not sent as history.
  EXPECT_EQ(*chrome.Evaluate("document.querySelectorAll('.turn').length"), 2);
  EXPECT_EQ(*chrome.Evaluate("document.querySelector('.turn').classList.contains('failed')"), true);
  std::string failed = chrome.Evaluate("document.querySelector('.turn .answer').textContent")->get<std::string>();
  EXPECT_TRUE(failed.starts_with("Not answered:")) << failed;
  std::string answer = chrome.Evaluate("document.querySelector('.turn:last-of-type .answer').textContent")->get<std::string>();
  EXPECT_TRUE(answer.starts_with("As of today")) << answer;
  EXPECT_EQ(*chrome.Evaluate("document.body.dataset.turns"), "1");
}

// Three turns with the model run in-process (local GGUF) and an ignorance
// monitor: each request carries the conversation so far, each answer streams
// in with its own dated sources and its own "is the model guessing?" verdict.
TEST(WebPage, HoldsAThreeTurnConversation) {
  auto lm = runtime::OpenModel({.gguf_path = lmlab::testing::TextOnlyTinyModelPath(), .threads = 1, .n_ctx = 8192});
  ASSERT_TRUE(lm) << lm.error().ToString();
  const size_t n_vocab = static_cast<size_t>((*lm)->info().n_vocab);
  auto monitor = testing::UniformMonitor(n_vocab);
  ASSERT_TRUE(monitor) << monitor.error().ToString();
  std::vector<FreshSlot> slots(1);
  slots[0].model = std::move(*lm);
  auto index = search::LocalIndex::Open(testing::ZlibIndexPath(), search::OpenMode::kReadOnly);
  ASSERT_TRUE(index) << index.error().ToString();
  slots[0].search = std::move(*index);
  FreshEngineOptions options{.answer = {.k = 5}, .today = testing::TestToday};
  options.monitor = std::make_shared<const ood::IgnoranceMonitor>(std::move(*monitor));
  auto s = testing::RunningServer::Start(MakeFreshEngine(std::move(slots), std::move(options)));
  ASSERT_TRUE(s);
  auto started = HeadlessChromium::Start();
  ASSERT_TRUE(started) << started.error().ToString();
  HeadlessChromium& chrome = **started;
  ASSERT_TRUE(chrome.Open(s->server->url() + "/"));
  ASSERT_TRUE(chrome.WaitFor("document.getElementById('today').dateTime", 30));
  // Record what the page sends, as the server receives it.
  ASSERT_TRUE(chrome.Evaluate(
      "window.sentBodies = []; const realFetch = window.fetch;"
      "window.fetch = (url, init) => { if (String(url).includes('/v1/')) window.sentBodies.push(JSON.parse(init.body));"
      " return realFetch(url, init); }; true"));

  const std::vector<std::string> questions = {"What is the latest version of zlib?", "When was it released?",
                                              "And the one before it?"};
  for (size_t t = 0; t < questions.size(); ++t) {
    ASSERT_TRUE(chrome.Evaluate("document.getElementById('question').value = " + json(questions[t]).dump() +
                                "; document.getElementById('ask').click(); true"));
    auto finished = chrome.WaitFor("document.body.dataset.turns === '" + std::to_string(t + 1) +
                                       "' || document.body.dataset.state === 'error'",
                                   120);
    ASSERT_TRUE(finished) << finished.error().ToString();
    ASSERT_EQ(*chrome.Evaluate("document.body.dataset.state"), "done")
        << chrome.Evaluate("document.getElementById('status').textContent")->dump();
  }
  json turns = *chrome.Evaluate(
      "[...document.querySelectorAll('.turn')].map(t => ({question: t.querySelector('.question').textContent,"
      " answer: t.querySelector('.answer').textContent,"
      " dates: [...t.querySelectorAll('.sources .src-date')].map(e => e.textContent),"
      " grounding: t.querySelector('.grounding').textContent,"
      " guessing: t.querySelectorAll('.ignorance.guessing, .ignorance.confident').length}))");
  ASSERT_EQ(turns.size(), 3u) << turns.dump();
  for (size_t t = 0; t < 3; ++t) {
    EXPECT_EQ(turns[t]["question"], questions[t]);
    std::string answer = turns[t]["answer"];
    EXPECT_TRUE(answer.starts_with("As of today November 27, 2026,")) << answer;
    // Each answer shows its own sources (the search differs per question);
    // the first question's newest is the zlib release of Nov 20.
    const size_t n_sources = turns[t]["dates"].size();
    ASSERT_GE(n_sources, t == 0 ? 4u : 1u) << turns[t].dump();
    if (t == 0) EXPECT_EQ(turns[t]["dates"].back(), "Nov 20, 2026") << turns[t].dump();
    EXPECT_TRUE(turns[t]["grounding"].get<std::string>().starts_with(fmt::format("Grounded in {} source{}", n_sources, n_sources == 1 ? "" : "s")))
        << turns[t].dump();
    EXPECT_EQ(turns[t]["guessing"], 1) << turns[t].dump();  // the ignorance verdict of this answer
  }
  // Each turn sent the whole conversation: its questions and the answers shown.
  json sent = *chrome.Evaluate("window.sentBodies");
  ASSERT_EQ(sent.size(), 3u);
  for (size_t t = 0; t < 3; ++t) {
    const json& m = sent[t]["messages"];
    ASSERT_EQ(m.size(), 2 * t + 1) << m.dump();
    EXPECT_EQ(sent[t]["stream"], true);
    for (size_t k = 0; k < t; ++k) {
      EXPECT_EQ(m[2 * k]["role"], "user");
      EXPECT_EQ(m[2 * k]["content"], questions[k]);
      EXPECT_EQ(m[2 * k + 1]["role"], "assistant");
      EXPECT_EQ(m[2 * k + 1]["content"], turns[k]["answer"]);
    }
    EXPECT_EQ(m.back()["content"], questions[t]);
  }
  EXPECT_TRUE(chrome.console().empty()) << chrome.console().front();

  // "New conversation" starts over: the next question goes alone.
  ASSERT_TRUE(chrome.Evaluate("document.getElementById('new-conversation').click(); true"));
  EXPECT_EQ(*chrome.Evaluate("document.querySelectorAll('.turn').length"), 0);
  EXPECT_EQ(*chrome.Evaluate("document.body.dataset.turns"), "0");
}

}  // namespace
}  // namespace lmlab::server
