// `lmlab serve`: the OpenAI-compatible server with FreshPrompt grounding and
// the web page. See docs/serve.md.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "lmlab/ood/ignorance.h"
#include "cli/fresh_flags.h"
#include "cli/model_flags.h"
#include "lmlab/fresh/reader.h"
#include "lmlab/search/date.h"
#include "lmlab/server/server.h"

namespace lmlab::cli::serve_cmd {
namespace {

struct Options {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 8080;
  SearchFlags search;
  AnswerFlags answer;
  std::string monitor;  // saved IgnoranceMonitor (JSON)
  std::string today;
  std::string token_env;
  int parallel = 1;
  int http_threads = 32;
  double max_body_kb = 1024;
  bool json = false;
};

int Run(const Options& o) {
  if (o.parallel < 1 || o.parallel > 64) throw UsageError("--parallel must be from 1 to 64");
  if (!(o.max_body_kb >= 1)) throw UsageError("--max-body-kb must be at least 1");
  if (o.port < 0 || o.port > 65535) throw UsageError("--port must be from 0 to 65535");
  if (o.http_threads < 1 || o.http_threads > 1024) throw UsageError("--http-threads must be from 1 to 1024");
  ModelFlags model = o.model;
  ProgressBar bar;
  // No model named: lmlab's reader, grounded in this machine's dated sources.
  const bool reader = NoModelGiven(model);
  fresh::AnswerOptions answer =
      ToAnswerOptions(o.answer, reader ? fresh::ReaderAnswerOptions(train::ReaderModelRecipe()) : fresh::AnswerOptions{});
  // A local GGUF gets FreshPrompt as raw text; an endpoint usually serves a
  // chat-tuned model, which gets chat messages with the paper's date framing.
  answer.style = model.spec.endpoint.empty() ? fresh::PromptStyle::kCompletion : fresh::PromptStyle::kChat;
  if (!reader) CheckModelFlags(model);
  // One backend per slot, opened by the same rule (the first open reports errors).
  auto open_search = [&] {
    return OpenSearchOrExit(o.search, reader ? fresh::WhenUnset::kDatedSources : fresh::WhenUnset::kNoBackend, bar);
  };
  fresh::OpenedBackend first = open_search();
  const bool grounded = first.grounds;
  if (!o.monitor.empty() && !grounded)
    throw UsageError("--monitor scores grounded answers: add --index PATH or --searxng URL");
  if (UseReaderModelIfNone(model, bar)) CheckModelFlags(model);

  server::ServerOptions so{.host = o.host, .port = o.port, .max_body_bytes = static_cast<size_t>(o.max_body_kb * 1024),
                           .http_threads = o.http_threads};
  if (!o.token_env.empty()) {
    const char* token = std::getenv(o.token_env.c_str());
    if (!token || !*token) throw UsageError("--token-env " + o.token_env + ": that environment variable is empty");
    so.bearer_token = token;
  }
  std::optional<search::Day> today;
  if (!o.today.empty()) today = OrExit(search::ParseDay(o.today));

  // SIGINT/SIGTERM are taken by one thread that stops the server cleanly.
  // They are blocked before any model opens, so every thread started later
  // (llama.cpp's workers, the HTTP pool) inherits the mask and none of them
  // is picked to die by a signal's default action.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<server::ChatEngine> engine;
  std::string search_desc = first.description;
  if (grounded) {
    server::FreshEngineOptions fo;
    fo.answer = answer;
    if (today) fo.today = [d = *today] { return d; };
    if (!o.monitor.empty()) {
      fo.monitor = std::make_shared<const ood::IgnoranceMonitor>(OrExit(ood::LoadIgnoranceMonitor(o.monitor)));
    }
    std::vector<server::FreshSlot> slots;
    for (int i = 0; i < o.parallel; ++i) {
      server::FreshSlot slot;
      slot.model = OpenModelOrExit(model);
      slot.search = i == 0 ? std::move(first.backend) : open_search().backend;
      slots.push_back(std::move(slot));
    }
    engine = server::MakeFreshEngine(std::move(slots), std::move(fo));
  } else {
    std::vector<std::unique_ptr<runtime::LanguageModel>> models;
    for (int i = 0; i < o.parallel; ++i) models.push_back(OpenModelOrExit(model));
    engine = server::MakePlainEngine(std::move(models));
    search_desc = "none (answers are not grounded; add --index PATH or --searxng URL)";
  }
  std::string model_name = engine->model_name();

  auto server = OrExit(server::Server::Create(std::move(engine), so));
  if (o.json) {
    // One line, so a supervisor (or a test) can read where it listens.
    nlohmann::json started = {{"url", server->url()}, {"port", server->port()}, {"model", model_name},
                              {"search", grounded ? search_desc : ""}, {"auth", !so.bearer_token.empty()}};
    std::cout << started.dump() << "\n";
  } else {
    std::cout << "lmlab serve: " << server->url() << "/  (model " << model_name << ", search " << search_desc
              << (so.bearer_token.empty() ? "" : ", bearer token required for /v1/*") << ")\n"
              << "  API: " << server->url() << "/v1/chat/completions, /v1/completions, /v1/embeddings   Ctrl-C stops\n";
  }
  std::cout.flush();

  std::atomic<bool> finished{false};
  std::atomic<int> got_signal{0};
  std::thread waiter([&] {
    timespec tick{0, 200'000'000};
    while (!finished) {
      int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig > 0) {
        got_signal = sig;
        server->Stop();
        return;
      }
    }
  });
  Status s = server->Run();
  finished = true;
  waiter.join();
  OrExit(s);
  if (got_signal && !o.json) std::cerr << "lmlab serve: stopped (" << (got_signal == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  return 0;
}

}  // namespace

void Register(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = AddCommand(
      app, "serve",
      "Serve grounded answers: an OpenAI-compatible API (chat, completions, embeddings, logprobs) and a web page",
      "  lmlab serve                                                       # lmlab's reader over this machine's changelogs\n"
      "  lmlab serve --model tiny.gguf --index docs.sqlite                 # http://127.0.0.1:8080/\n"
      "  lmlab serve --endpoint http://127.0.0.1:8081 --api-model qwen --index docs.sqlite --port 9000\n"
      "  lmlab serve --model m.gguf --searxng http://127.0.0.1:8888 --k 15\n"
      "  LMLAB_TOKEN=s3cret lmlab serve --model m.gguf --index docs.sqlite --token-env LMLAB_TOKEN --host 0.0.0.0\n"
      "  curl -s localhost:8080/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Latest zlib?\"}]}'\n"
      "  curl -s localhost:8080/v1/completions -d '{\"prompt\":\"The capital of France is\",\"logprobs\":3}'\n"
      "  curl -s localhost:8080/v1/embeddings -d '{\"input\":[\"Paris\",\"Tokyo\"]}'\n");
  auto& s = *sub;
  AddModelFlags(sub, o->model);
  s.add_option("--parallel", o->parallel, "Model instances answering at once (requests queue for one)")
      ->capture_default_str()
      ->group("Model");
  AddSearchFlags(sub, o->search,
                 "A local index built with 'lmlab index add' (with no --model: default this machine's dated sources)");
  AddAnswerFlags(sub, o->answer, AnswerFlagSet::kServer);
  s.add_option("--monitor", o->monitor,
               "Ignorance monitor from 'lmlab ood lm --save-monitor': flags answers where the model is guessing")
      ->group("FreshPrompt");
  s.add_option("--today", o->today, "The date answers are given as of, YYYY-MM-DD (default: today, UTC)")->group("FreshPrompt");
  s.option_defaults()->group("HTTP");
  s.add_option("--host", o->host, "Address to listen on (0.0.0.0 for every interface)")->capture_default_str();
  s.add_option("--port", o->port, "Port to listen on (0 = any free port)")->capture_default_str();
  s.add_option("--token-env", o->token_env, "Require 'Authorization: Bearer <$VAR>' on /v1/* (VAR names the variable)");
  s.add_option("--max-body-kb", o->max_body_kb, "Largest request body in KiB (larger: 413)")->capture_default_str();
  s.add_option("--http-threads", o->http_threads, "Connections served at once")->capture_default_str();
  s.add_flag("--json", o->json, "Print the listening address as one JSON line");
  SetRun(sub, [o] { return Run(*o); });
}

}  // namespace lmlab::cli::serve_cmd
