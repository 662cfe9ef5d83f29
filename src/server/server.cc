// The HTTP layer of `lmlab serve`: cpp-httplib routes that validate OpenAI
// chat requests, hand them to a ChatEngine and write JSON or server-sent
// events. The engine does the work; this file only speaks HTTP.
#include "lmlab/server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <thread>
#include <nlohmann/json.hpp>

#include "lmlab/core/embedded.h"
#include "lmlab/core/sse.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/date.h"
#include "server/chat_request.h"
#include "server/openai_reply.h"

namespace lmlab::server {
namespace {

using internal::EmbeddingEncoding;
using internal::ParseChatRequest;
using internal::ParseCompletionRequest;
using internal::ParsedChat;
using internal::ParsedCompletion;
using internal::ParsedEmbedding;
using internal::ParsedGeneration;
using internal::ParseEmbeddingRequest;
using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A library message in the server's terms: the options it names (core/error.h)
// as their bare names, which for a request's fields ("max_tokens") are the
// names the client sent; the rest are the server's own settings.
std::string InServerTerms(std::string_view message) {
  return RenderOptionNames(message, [](const OptionMention& m) {
    return m.value.empty() ? std::string(m.name) : fmt::format("{}={}", m.name, m.value);
  });
}

void SendError(httplib::Response& res, int status, std::string_view type, std::string_view message) {
  res.status = status;
  json body = {{"error", {{"message", InServerTerms(message)}, {"type", type}, {"code", status}}}};
  res.set_content(Dump(body), "application/json");
}

std::string_view ErrorTypeFor(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 503: return "unavailable_error";
    default: return "server_error";
  }
}

// HTTP status for an engine error.
int StatusFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kUnsupported:  // e.g. embeddings from an endpoint model
    case ErrorCode::kParse: return 400;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout: return 503;
    default: return 500;
  }
}

// Compares in time that depends only on the lengths, so response times do
// not reveal how much of a guessed token was right.
bool SameSecret(std::string_view given, std::string_view secret) {
  if (given.size() != secret.size() || secret.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

std::string MimeType(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".svg")) return "image/svg+xml";
  if (path.ends_with(".png")) return "image/png";
  if (path.ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

// The extra fields: the evidence list (with dates and links) and how the
// answer was grounded.
void AddSources(json& out, const ChatReply& r, bool engine_grounds) {
  json sources = json::array();
  json grounding = {{"grounded", false},
                    {"reason", InServerTerms(r.ungrounded_reason)},
                    {"today", search::FormatIsoDay(r.today)},
                    {"search", engine_grounds}};
  if (r.grounded) {
    json full = fresh::ToJson(*r.grounded, fresh::IncludePrompt::kNo);
    if (full.contains("evidences")) sources = full["evidences"];
    grounding["grounded"] = r.grounded->grounding == fresh::Grounding::kGrounded;
    grounding["backend"] = r.grounded->backend;
    grounding["cited"] = r.grounded->cited;
    grounding["evidences_found"] = r.grounded->evidences_found;
  }
  out["lmlab_sources"] = std::move(sources);
  out["lmlab_grounding"] = std::move(grounding);
  if (r.ignorance) {
    out["lmlab_ignorance"] = {{"ignorance", r.ignorance->ignorance},
                              {"mean_distance_to_ocs", r.ignorance->mean_distance},
                              {"flagged", r.ignorance->flagged},
                              {"tokens", r.ignorance->tokens.size()}};
  } else if (!r.ignorance_unavailable.empty()) {
    out["lmlab_ignorance"] = {{"unavailable", r.ignorance_unavailable}};
  }
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// FreshPrompt builds the prompt, prefills the answer's first sentence and
// samples on its own terms: what a grounded answer cannot honour is refused
// rather than dropped.
Status CheckGroundedRequest(const ParsedGeneration& g) {
  constexpr std::string_view kWhy =
      "on grounded answers (FreshPrompt writes the answer's first sentence and samples itself); a server run "
      "without a search backend answers plain chat, and /v1/completions takes a raw prompt";
  if (g.logprobs >= 0) return InvalidArgument(fmt::format("\"logprobs\" is not supported {}", kWhy));
  if (g.n > 1) return InvalidArgument(fmt::format("\"n\" above 1 is not supported {}", kWhy));
  if (!g.params.stop.empty()) return InvalidArgument(fmt::format("\"stop\" is not supported {}", kWhy));
  if (g.params.top_p < 1) return InvalidArgument(fmt::format("\"top_p\" below 1 is not supported {}", kWhy));
  if (g.seed_given && g.params.temperature > 0)
    return InvalidArgument(fmt::format("\"seed\" with a temperature above 0 is not supported {}", kWhy));
  return {};
}

// Server-sent events over httplib's chunked sink: "data: <json>\n\n" each,
// then "data: [DONE]". Send returns false once the client has gone.
class EventSink {
 public:
  explicit EventSink(httplib::DataSink& sink) : sink_(sink) {}
  bool Send(const json& j) {
    if (!open_) return false;
    std::string event = SseFormat(Dump(j));
    open_ = sink_.write(event.data(), event.size());
    return open_;
  }
  // An error after the stream began: an error event, then [DONE].
  void SendError(const Error& e) {
    int status = StatusFor(e);
    Send({{"error", {{"message", InServerTerms(e.message)}, {"type", ErrorTypeFor(status)}, {"code", status}}}});
    Done();
  }
  void Done() {
    if (done_) return;
    done_ = true;
    const std::string done = SseFormat("[DONE]");
    if (open_) open_ = sink_.write(done.data(), done.size());
    sink_.done();
  }
  bool open() const { return open_; }
  bool done() const { return done_; }

 private:
  httplib::DataSink& sink_;
  bool open_ = true;
  bool done_ = false;
};

void StartEventStream(httplib::Response& res, std::function<void(EventSink&)> body) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream", [body = std::move(body)](size_t, httplib::DataSink& sink) {
    EventSink events(sink);
    body(events);
    if (events.open() && !events.done()) events.Done();
    return events.open();
  });
}

}  // namespace

Server::Server(std::unique_ptr<ChatEngine> engine, ServerOptions options)
    : engine_(std::move(engine)), options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Server::~Server() {
  Stop();
}

std::string Server::url() const { return fmt::format("http://{}:{}", options_.host, port_); }

Result<std::unique_ptr<Server>> Server::Create(std::unique_ptr<ChatEngine> engine, ServerOptions options) {
  if (!engine) return InvalidArgument("the server needs a chat engine");
  if (options.port < 0 || options.port > 65535) return InvalidArgument("`port` must be from 0 to 65535");
  if (options.http_threads < 1) return InvalidArgument("`http_threads` must be at least 1");
  if (options.max_body_bytes < 64) return InvalidArgument("the body size limit must be at least 64 bytes");
  std::unique_ptr<Server> s(new Server(std::move(engine), std::move(options)));
  s->Routes();
  const ServerOptions& o = s->options_;
  if (o.port == 0) {
    s->port_ = s->http_->bind_to_any_port(o.host);
    if (s->port_ < 0) return Unavailable(fmt::format("cannot listen on {}", o.host));
  } else {
    if (!s->http_->bind_to_port(o.host, o.port))
      return Unavailable(fmt::format("cannot listen on {}:{} (in use? try another `port`)", o.host, o.port));
    s->port_ = o.port;
  }
  return s;
}

Status Server::Run() {
  running_ = true;
  bool ok = stopping_ || http_->listen_after_bind();
  running_ = false;
  if (!ok && !stopping_) return Unavailable(fmt::format("the server on {} stopped unexpectedly", url()));
  return {};
}

void Server::Stop() {
  stopping_ = true;
  if (!http_) return;
  // Run() may be between its check and httplib starting to listen; stop()
  // only acts on a listening server, so wait for that moment (briefly).
  for (int i = 0; i < 500 && running_ && !http_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  http_->stop();
}

void Server::Routes() {
  httplib::Server& h = *http_;
  int threads = options_.http_threads;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  h.set_payload_max_length(options_.max_body_bytes);
  h.set_keep_alive_max_count(1000);
  // Small JSON answers and SSE chunks must leave at once: with Nagle on, a
  // keep-alive client waits ~40 ms per request for the delayed ACK.
  h.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind a
  // port already in use and silently share its traffic; REUSEADDR only
  // allows a quick restart.
  h.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  // Bodies too large are refused from Content-Length alone, before reading.
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Length")) {
      uint64_t length = req.get_header_value<uint64_t>("Content-Length");
      if (length > options_.max_body_bytes) {
        SendError(res, 413, ErrorTypeFor(413),
                  fmt::format("the request body ({} bytes) is over the limit of {} bytes", length,
                              options_.max_body_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!options_.bearer_token.empty() && req.path.starts_with("/v1/")) {
      std::string auth = req.get_header_value("Authorization");
      std::string_view given = auth;
      if (!given.starts_with("Bearer ") || !SameSecret(given.substr(7), options_.bearer_token)) {
        res.set_header("WWW-Authenticate", "Bearer");
        SendError(res, 401, ErrorTypeFor(401),
                  auth.empty() ? "this server needs \"Authorization: Bearer <token>\""
                               : "the bearer token is not the one this server was started with");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Fills in a body for statuses httplib produces itself (404, 413, 400).
  h.set_error_handler([limit = options_.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = res.status == 404   ? fmt::format("no such route: {} {}", req.method, req.path)
                          : res.status == 413 ? fmt::format("the request body is over the limit of {} bytes", limit)
                                              : fmt::format("HTTP {}", res.status);
    SendError(res, res.status, ErrorTypeFor(res.status), message);
  });
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, 500, "server_error", "internal error while handling the request");
  });

  h.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    json j = {{"status", "ok"},
              {"model", engine_->model_name()},
              {"today", search::FormatIsoDay(engine_->today())},
              {"search", engine_->grounds()},
              {"auth", !options_.bearer_token.empty()}};
    res.set_content(Dump(j), "application/json");
  });
  h.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json j = {{"object", "list"},
              {"data", json::array({{{"id", engine_->model_name()},
                                     {"object", "model"},
                                     {"created", created_},
                                     {"owned_by", "lmlab"}}})}};
    res.set_content(Dump(j), "application/json");
  });
  h.Get("/v1/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1].str() != engine_->model_name())
      return SendError(res, 404, ErrorTypeFor(404),
                       fmt::format("no model \"{}\" here; this server has \"{}\"", req.matches[1].str(),
                                   engine_->model_name()));
    json j = {{"id", engine_->model_name()}, {"object", "model"}, {"created", created_}, {"owned_by", "lmlab"}};
    res.set_content(Dump(j), "application/json");
  });
  // The web page and its files, from web/ embedded at build time.
  h.Get(R"(/([A-Za-z0-9_\-.]*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1].str();
    if (name.empty()) name = "index.html";
    if (name.find("..") != std::string::npos) return SendError(res, 404, "not_found_error", "no such file");
    Result<std::string_view> file = embedded::Find("web/" + name);
    if (!file) return SendError(res, 404, "not_found_error", fmt::format("no such page: /{}", name));
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(*file), MimeType(name));
  });

  h.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ParsedChat> parsed = ParseChatRequest(req.body, options_);
    if (parsed && engine_->grounds()) {
      Status ok = CheckGroundedRequest(parsed->gen);
      if (!ok) parsed = std::unexpected(ok.error());
    }
    if (!parsed) return SendError(res, 400, ErrorTypeFor(400), parsed.error().message);
    HandleChat(std::make_shared<ParsedChat>(std::move(*parsed)), res);
  });
  h.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ParsedCompletion> parsed = ParseCompletionRequest(req.body, options_);
    if (!parsed) return SendError(res, 400, ErrorTypeFor(400), parsed.error().message);
    HandleCompletion(std::make_shared<ParsedCompletion>(std::move(*parsed)), res);
  });
  h.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ParsedEmbedding> parsed = ParseEmbeddingRequest(req.body, options_);
    if (!parsed) return SendError(res, 400, ErrorTypeFor(400), parsed.error().message);
    json data = json::array();
    int64_t tokens = 0;
    Status s = engine_->UseModel([&](runtime::LanguageModel& model) -> Status {
      for (size_t i = 0; i < parsed->inputs.size(); ++i) {
        LMLAB_ASSIGN_OR_RETURN(runtime::Embedding e, model.Embed(parsed->inputs[i]));
        tokens += e.tokens;
        json vector = parsed->encoding == EmbeddingEncoding::kBase64 ? json(internal::Base64Floats(e.vector))
                                                                      : json(e.vector);
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(vector)}});
      }
      return {};
    });
    if (!s) {
      int status = StatusFor(s.error());
      return SendError(res, status, ErrorTypeFor(status), s.error().message);
    }
    json out = {{"object", "list"},
                {"data", std::move(data)},
                {"model", engine_->model_name()},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    res.set_content(Dump(out), "application/json");
  });
}

// Chat: n choices (choice i samples with seed + i), each the engine's answer
// with its sources; whole, or streamed as chat.completion.chunk events.
void Server::HandleChat(std::shared_ptr<ParsedChat> request, httplib::Response& res) {
  const std::string id = fmt::format("chatcmpl-lmlab-{}", next_id_++);
  const int64_t created = UnixNow();
  const std::string model = engine_->model_name();
  auto choice_request = [request](int i) {
    ChatRequest r = request->chat;
    r.params.seed = request->gen.params.seed + static_cast<uint64_t>(i);
    return r;
  };
  auto finish = [request, this](json& choice, json& holder, const ChatReply& r) {
    if (request->gen.logprobs >= 0) choice["logprobs"] = internal::ChatLogprobs(r.completion, request->gen.logprobs);
    AddSources(holder, r, engine_->grounds());
  };

  if (!request->gen.stream) {
    json choices = json::array(), out;
    int64_t prompt_tokens = 0, completion_tokens = 0;
    for (int i = 0; i < request->gen.n; ++i) {
      Result<ChatReply> r = engine_->Chat(choice_request(i), [this](std::string_view) { return !stopping_.load(); });
      if (!r) {
        int status = StatusFor(r.error());
        return SendError(res, status, ErrorTypeFor(status), r.error().message);
      }
      json choice = {{"index", i},
                     {"message", {{"role", "assistant"}, {"content", r->completion.text}}},
                     {"logprobs", nullptr},
                     {"finish_reason", r->completion.finish_reason}};
      finish(choice, out, *r);
      choices.push_back(std::move(choice));
      prompt_tokens = r->completion.prompt_tokens;
      completion_tokens += r->completion.completion_tokens;
    }
    out["id"] = id;
    out["object"] = "chat.completion";
    out["created"] = created;
    out["model"] = model;
    out["choices"] = std::move(choices);
    out["usage"] = internal::Usage(prompt_tokens, completion_tokens);
    res.set_content(Dump(out), "application/json");
    return;
  }

  // Streaming: per choice, a first chunk with the role, one chunk per piece,
  // a last chunk with finish_reason, the log-probabilities and the sources;
  // then usage (when asked for) in a chunk without choices, then [DONE].
  StartEventStream(res, [this, request, id, created, model, choice_request, finish](EventSink& sink) {
    auto chunk = [&](int index, json delta, json finish_reason) {
      return json{{"id", id},
                  {"object", "chat.completion.chunk"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({{{"index", index},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish_reason)}}})}};
    };
    int64_t prompt_tokens = 0, completion_tokens = 0;
    for (int i = 0; i < request->gen.n; ++i) {
      if (!sink.Send(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr))) return;
      Result<ChatReply> r = engine_->Chat(choice_request(i), [&](std::string_view piece) {
        return !stopping_ && sink.Send(chunk(i, {{"content", std::string(piece)}}, nullptr));
      });
      if (!sink.open()) return;  // the client went away
      if (!r) return sink.SendError(r.error());
      json last = chunk(i, json::object(), r->completion.finish_reason);
      finish(last["choices"][0], last, *r);
      if (!sink.Send(last)) return;
      prompt_tokens = r->completion.prompt_tokens;
      completion_tokens += r->completion.completion_tokens;
    }
    if (request->gen.include_usage)
      sink.Send({{"id", id},
                 {"object", "chat.completion.chunk"},
                 {"created", created},
                 {"model", model},
                 {"choices", json::array()},
                 {"usage", internal::Usage(prompt_tokens, completion_tokens)}});
    sink.Done();
  });
}

// Completions: raw text in, text out, never grounded. Choice p * n + i is
// prompt p's i-th sample (seed + i).
void Server::HandleCompletion(std::shared_ptr<ParsedCompletion> request, httplib::Response& res) {
  const std::string id = fmt::format("cmpl-lmlab-{}", next_id_++);
  const int64_t created = UnixNow();
  const std::string model = engine_->model_name();
  // Runs every choice on one model, calling `on_choice` after each.
  auto run = [this, request](const std::function<runtime::TokenCallback(int index)>& callback_for,
                             const std::function<Status(int index, const runtime::Completion&)>& on_choice) {
    return engine_->UseModel([&](runtime::LanguageModel& lm) -> Status {
      for (size_t p = 0; p < request->prompts.size(); ++p) {
        for (int i = 0; i < request->gen.n; ++i) {
          const int index = static_cast<int>(p) * request->gen.n + i;
          runtime::SamplingParams params = request->gen.params;
          params.seed += static_cast<uint64_t>(i);
          LMLAB_ASSIGN_OR_RETURN(runtime::Completion c, lm.Complete(request->prompts[p], params, callback_for(index)));
          LMLAB_RETURN_IF_ERROR(on_choice(index, c));
        }
      }
      return {};
    });
  };
  // A choice, or a streamed piece of one (finish_reason null): the
  // log-probabilities come with the choice's end.
  auto choice_json = [request](int index, std::string text, const runtime::Completion& c, json finish_reason) {
    const bool last = !finish_reason.is_null();
    json choice = {{"index", index}, {"text", std::move(text)}, {"logprobs", nullptr},
                   {"finish_reason", std::move(finish_reason)}};
    if (request->gen.logprobs >= 0 && last) choice["logprobs"] = internal::CompletionLogprobs(c, request->gen.logprobs);
    return choice;
  };

  if (!request->gen.stream) {
    json choices = json::array();
    int64_t prompt_tokens = 0, completion_tokens = 0;
    Status s = run([this](int) -> runtime::TokenCallback { return [this](std::string_view) { return !stopping_.load(); }; },
                   [&](int index, const runtime::Completion& c) -> Status {
                     choices.push_back(choice_json(index, c.text, c, c.finish_reason));
                     if (index % request->gen.n == 0) prompt_tokens += c.prompt_tokens;
                     completion_tokens += c.completion_tokens;
                     return {};
                   });
    if (!s) {
      int status = StatusFor(s.error());
      return SendError(res, status, ErrorTypeFor(status), s.error().message);
    }
    json out = {{"id", id},           {"object", "text_completion"}, {"created", created},
                {"model", model},     {"choices", std::move(choices)},
                {"usage", internal::Usage(prompt_tokens, completion_tokens)}};
    res.set_content(Dump(out), "application/json");
    return;
  }

  StartEventStream(res, [this, request, id, created, model, run, choice_json](EventSink& sink) {
    auto chunk = [&](json choice) {
      return json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                  {"choices", json::array({std::move(choice)})}};
    };
    int64_t prompt_tokens = 0, completion_tokens = 0;
    const runtime::Completion none;
    Status s = run(
        [&](int index) -> runtime::TokenCallback {
          return [&, index](std::string_view piece) {
            return !stopping_ && sink.Send(chunk(choice_json(index, std::string(piece), none, nullptr)));
          };
        },
        [&](int index, const runtime::Completion& c) -> Status {
          if (!sink.Send(chunk(choice_json(index, "", c, c.finish_reason))))
            return MakeError(ErrorCode::kCancelled, "the client went away");
          if (index % request->gen.n == 0) prompt_tokens += c.prompt_tokens;
          completion_tokens += c.completion_tokens;
          return {};
        });
    if (!sink.open()) return;
    if (!s) return sink.SendError(s.error());
    if (request->gen.include_usage)
      sink.Send({{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                 {"choices", json::array()}, {"usage", internal::Usage(prompt_tokens, completion_tokens)}});
    sink.Done();
  });
}

}  // namespace lmlab::server
