// Shared pieces of the server tests: a real llama-server with the text-only
// tiny model as the model (through the OpenAI backend), a real SQLite index of
// dated documents, and an lmlab Server on a free port in a thread.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "lmlab/ood/ignorance.h"
#include "lmlab/search/local_index.h"
#include "lmlab/search/searxng.h"
#include "lmlab/server/server.h"
#include "tests/support/llama_server.h"

namespace lmlab::server::testing {

// An ignorance monitor for a model with n_vocab tokens: a uniform OCS and
// calibration distances spread over [0, 10). Enough to test the plumbing;
// tests/ood checks the score itself.
inline Result<ood::IgnoranceMonitor> UniformMonitor(size_t n_vocab) {
  ood::LmOcs ocs{.source = "test", .probs = std::vector<double>(n_vocab, 1.0 / n_vocab), .tokens = 1};
  std::vector<double> calibration;
  for (int i = 0; i < 100; ++i) calibration.push_back(i * 0.1);
  return ood::IgnoranceMonitor::FromDistances(ocs, calibration);
}

// The day the tests answer as of.
inline search::Day TestToday() { return *search::ParseDay("2026-11-27"); }

// Release notes of a made-up library, dated so the newest (2026) is clear;
// one page is undated.
inline std::vector<search::Document> ZlibDocuments() {
  auto date = [](const char* d) { return search::ParseDate(d).value(); };
  return {
      {"https://zlib.example.org/news/1.2.13", "zlib.example.org", "zlib 1.2.13 released", date("2022-10-13"),
       "zlib version 1.2.13 was released on October 13, 2022 with security fixes."},
      {"https://zlib.example.org/news/1.3", "zlib.example.org", "zlib 1.3 released", date("2023-08-18"),
       "zlib version 1.3 was released on August 18, 2023. It is the latest zlib release at that time."},
      {"https://zlib.example.org/news/1.3.1", "zlib.example.org", "zlib 1.3.1 released", date("2024-01-22"),
       "zlib version 1.3.1 was released on January 22, 2024, a bug fix release of zlib."},
      {"https://news.example.com/zlib-2", "news.example.com", "zlib 2.0 is the latest release", date("2026-11-20"),
       "The latest zlib release is version 2.0, published November 20, 2026."},
      {"https://wiki.example.net/zlib", "wiki.example.net", "zlib (software library)", std::nullopt,
       "zlib is a software library used for data compression; the latest zlib version changes over time."},
      {"https://cooking.example.com/bread", "cooking.example.com", "How to bake bread", date("2025-05-01"),
       "Flour, water, salt and yeast make bread."},
  };
}

// Builds the index once per process under a temporary directory.
inline std::string ZlibIndexPath() {
  static std::string path = [] {
    std::string dir = std::filesystem::temp_directory_path() / ("lmlab-server-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::string p = dir + "/docs.sqlite";
    auto index = search::LocalIndex::Open(p, search::OpenMode::kCreate);
    EXPECT_TRUE(index) << index.error().ToString();
    if (index) {
      auto added = (*index)->Add(ZlibDocuments());
      EXPECT_TRUE(added) << added.error().ToString();
    }
    return p;
  }();
  return path;
}

inline void RemoveZlibIndex() {
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(ZlibIndexPath()).parent_path(), ec);
}

// An lmlab Server running in a thread until the object goes away.
class RunningServer {
 public:
  static std::unique_ptr<RunningServer> Start(std::unique_ptr<ChatEngine> engine, ServerOptions options = {}) {
    options.port = 0;
    auto s = Server::Create(std::move(engine), options);
    EXPECT_TRUE(s) << s.error().ToString();
    if (!s) return nullptr;
    auto r = std::unique_ptr<RunningServer>(new RunningServer());
    r->server = std::move(*s);
    r->thread = std::thread([srv = r->server.get(), rs = r.get()] { rs->run_status = srv->Run(); });
    // Wait until it answers.
    httplib::Client c("127.0.0.1", r->server->port());
    for (int i = 0; i < 200; ++i) {
      if (auto res = c.Get("/health"); res && res->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return r;
  }
  ~RunningServer() {
    server->Stop();
    thread.join();
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  std::unique_ptr<Server> server;
  std::thread thread;
  Status run_status;
};

// Parses a server-sent-event body into the JSON of each "data:" event
// (without the final [DONE], which `saw_done` reports).
inline std::vector<nlohmann::json> ParseEvents(const std::string& body, bool* saw_done) {
  std::vector<nlohmann::json> out;
  *saw_done = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (!event.starts_with("data: ")) continue;
    std::string data = event.substr(6);
    if (data == "[DONE]") {
      *saw_done = true;
      continue;
    }
    out.push_back(nlohmann::json::parse(data));
  }
  return out;
}

}  // namespace lmlab::server::testing

namespace lmlab::server::testing {

// One llama-server (text-only tiny model, a context big enough for the
// FreshPrompt demonstrations) for the whole test binary; stopped at exit by
// SharedLlamaServerEnvironment.
inline lmlab::testing::LlamaServer*& SharedLlamaServerSlot() {
  static lmlab::testing::LlamaServer* server = nullptr;
  return server;
}

inline lmlab::testing::LlamaServer* SharedLlamaServer() {
  auto& slot = SharedLlamaServerSlot();
  if (!slot) {
    auto s = lmlab::testing::LlamaServer::Start(
        {.model_path = lmlab::testing::TextOnlyTinyModelPath(), .context = 16384, .parallel = 2});
    EXPECT_TRUE(s) << s.error().ToString();
    if (s) slot = s->release();
  }
  return slot;
}

class SharedLlamaServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    delete SharedLlamaServerSlot();
    SharedLlamaServerSlot() = nullptr;
    RemoveZlibIndex();
  }
};

// A model on the shared llama-server, through lmlab's OpenAI backend.
inline std::unique_ptr<runtime::LanguageModel> EndpointModel() {
  auto* server = SharedLlamaServer();
  if (!server) return nullptr;
  auto lm = runtime::OpenModel({.endpoint = server->url(), .api_model = "tiny", .api_key_env = ""});
  EXPECT_TRUE(lm) << lm.error().ToString();
  return lm ? std::move(*lm) : nullptr;
}

// A grounding engine over the zlib index with `slots` models.
inline std::unique_ptr<ChatEngine> FreshZlibEngine(int slots = 1,
                                                   fresh::PromptStyle style = fresh::PromptStyle::kCompletion) {
  std::vector<FreshSlot> v;
  for (int i = 0; i < slots; ++i) {
    FreshSlot slot;
    slot.model = EndpointModel();
    auto index = search::LocalIndex::Open(ZlibIndexPath(), search::OpenMode::kReadOnly);
    EXPECT_TRUE(index) << index.error().ToString();
    if (!slot.model || !index) return nullptr;
    slot.search = std::move(*index);
    v.push_back(std::move(slot));
  }
  return MakeFreshEngine(std::move(v), {.answer = {.k = 5, .style = style}, .today = TestToday});
}

}  // namespace lmlab::server::testing
