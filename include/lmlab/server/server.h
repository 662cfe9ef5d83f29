// The lmlab HTTP server (`lmlab serve`): an OpenAI-compatible API over a
// ChatEngine, plus the web page from web/ (embedded at build time).
//
//   GET  /                      the web page: ask box, streamed answer, dated sources
//   GET  /health                {"status":"ok","model":...,"today":"2026-11-27","grounded":true}
//   GET  /v1/models             the one model, OpenAI list format
//   GET  /v1/models/{id}        that model
//   POST /v1/chat/completions   OpenAI chat completions, "stream": true for server-sent
//                               events; extra fields "lmlab_sources" (the evidence list
//                               with dates, links and whether the answer cites each) and
//                               "lmlab_grounding" ({grounded, reason, today, backend})
//   POST /v1/completions        raw text completion (never grounded), streamed or whole
//   POST /v1/embeddings         mean-pooled final hidden states (local models)
//
// Fields a client sends that lmlab does not implement get a 400 naming them
// (src/server/chat_request.h); logprobs come from the generating pass itself.
//
// Errors are OpenAI-shaped: {"error": {"message", "type", "code"}} with 400
// for malformed JSON or bad fields, 401 without the bearer token, 404, 413 for
// bodies over the limit, 503 when every model stays busy.
//
//   LMLAB_ASSIGN_OR_RETURN(auto server, Server::Create(std::move(engine), {.port = 8080}));
//   std::thread t([&] { (void)server->Run(); });
//   ...; server->Stop(); t.join();
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "lmlab/core/error.h"
#include "lmlab/server/chat_engine.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace lmlab::server::internal {
struct ParsedChat;
struct ParsedCompletion;
}  // namespace lmlab::server::internal

namespace lmlab::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0 = any free port (see Server::port())
  std::string bearer_token;          // "" = no auth; else /v1/* needs "Authorization: Bearer <token>"
  size_t max_body_bytes = 1 << 20;   // larger request bodies get 413
  size_t max_question_bytes = 4096;  // a longer last user turn gets 400
  int max_tokens_limit = 4096;       // a larger max_tokens gets 400
  int max_choices = 8;               // a larger "n" gets 400
  int max_inputs = 64;               // prompts (completions) or texts (embeddings) per request
  size_t max_prompt_bytes = 256 << 10;  // one completion prompt or embedding input
  int http_threads = 32;             // connections served at once (keep-alive holds one each)
};

class Server {
 public:
  // Binds the port (kUnavailable when taken); Run() then serves.
  static Result<std::unique_ptr<Server>> Create(std::unique_ptr<ChatEngine> engine, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:8080"

  // Serves until Stop(). kUnavailable if listening fails.
  Status Run();
  // Stops accepting, ends streams in progress at the next token, and makes
  // Run() return. Safe from any thread, more than once.
  void Stop();

 private:
  Server(std::unique_ptr<ChatEngine> engine, ServerOptions options);
  void Routes();
  void HandleChat(std::shared_ptr<internal::ParsedChat> request, httplib::Response& res);
  void HandleCompletion(std::shared_ptr<internal::ParsedCompletion> request, httplib::Response& res);
  std::unique_ptr<ChatEngine> engine_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};  // inside Run()
  std::atomic<uint64_t> next_id_{1};
  int64_t created_ = 0;
};

}  // namespace lmlab::server
