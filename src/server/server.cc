// The HTTP layer of `lmlab serve`: cpp-httplib routes that validate OpenAI
// chat requests, hand them to a ChatEngine and write JSON or server-sent
// events. The engine does the work; this file only speaks HTTP.
#include "lmlab/server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <cmath>
#include <nlohmann/json.hpp>

#include "lmlab/core/embedded.h"
#include "lmlab/core/sse.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/search/date.h"

namespace lmlab::server {
namespace {

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

// A parsed and checked /v1/chat/completions body.
struct ParsedChat {
  ChatRequest chat;
  bool stream = false;
  bool include_usage = false;
};

// Message content: a string, or OpenAI's list of parts (text parts joined).
Result<std::string> ContentText(const json& content, size_t index) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (const json& part : content) {
      if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
          !part["text"].is_string())
        return InvalidArgument(fmt::format("messages[{}].content: only text parts are supported", index));
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
    return text;
  }
  return InvalidArgument(fmt::format("messages[{}].content must be a string", index));
}

Result<ParsedChat> ParseChatRequest(const std::string& body, const ServerOptions& options) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again with exceptions to get the position; cheap and only on errors.
    try {
      json again = json::parse(body);
    } catch (const json::parse_error& e) {
      return InvalidArgument(fmt::format("the request body is not valid JSON: {}", e.what()));
    }
    return InvalidArgument("the request body is not valid JSON");
  }
  if (!j.is_object()) return InvalidArgument("the request body must be a JSON object");
  ParsedChat p;
  runtime::SamplingParams& s = p.chat.params;
  s.max_tokens = 256;

  if (!j.contains("messages")) return InvalidArgument("\"messages\" is required");
  const json& msgs = j["messages"];
  if (!msgs.is_array() || msgs.empty()) return InvalidArgument("\"messages\" must be a non-empty array");
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    if (!m.is_object()) return InvalidArgument(fmt::format("messages[{}] must be an object", i));
    if (!m.contains("role") || !m["role"].is_string())
      return InvalidArgument(fmt::format("messages[{}].role must be a string", i));
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      return InvalidArgument(fmt::format("messages[{}].role must be system, user or assistant (got '{}')", i, role));
    if (!m.contains("content")) return InvalidArgument(fmt::format("messages[{}].content is required", i));
    LMLAB_ASSIGN_OR_RETURN(std::string content, ContentText(m["content"], i));
    p.chat.messages.push_back({std::move(role), std::move(content)});
  }
  LMLAB_ASSIGN_OR_RETURN(std::string question, LastUserTurn(p.chat.messages));
  LMLAB_RETURN_IF_ERROR(fresh::ValidateQuestion(question, options.max_question_bytes));

  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1 || j[key].get<int64_t>() > options.max_tokens_limit)
      return InvalidArgument(fmt::format("\"{}\" must be an integer from 1 to {}", key, options.max_tokens_limit));
    s.max_tokens = j[key].get<int>();
  }
  if (j.contains("temperature") && !j["temperature"].is_null()) {
    if (!j["temperature"].is_number() || !(j["temperature"].get<double>() >= 0 && j["temperature"].get<double>() <= 2))
      return InvalidArgument("\"temperature\" must be a number from 0 to 2");
    s.temperature = j["temperature"].get<float>();
  }
  if (j.contains("top_p") && !j["top_p"].is_null()) {
    if (!j["top_p"].is_number() || !(j["top_p"].get<double>() > 0 && j["top_p"].get<double>() <= 1))
      return InvalidArgument("\"top_p\" must be a number in (0, 1]");
    s.top_p = j["top_p"].get<float>();
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) return InvalidArgument("\"seed\" must be an integer");
    s.seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
  }
  if (j.contains("stop") && !j["stop"].is_null()) {
    const json& stop = j["stop"];
    if (stop.is_string()) {
      s.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array() && stop.size() <= 4) {
      for (const json& x : stop) {
        if (!x.is_string() || x.get<std::string>().empty())
          return InvalidArgument("\"stop\" must be a string or up to 4 non-empty strings");
        s.stop.push_back(x.get<std::string>());
      }
    } else {
      return InvalidArgument("\"stop\" must be a string or up to 4 non-empty strings");
    }
  }
  if (j.contains("n") && !j["n"].is_null() && j["n"] != 1) return InvalidArgument("only \"n\": 1 is supported");
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return InvalidArgument("\"stream\" must be true or false");
    p.stream = j["stream"].get<bool>();
  }
  if (j.contains("stream_options") && j["stream_options"].is_object() &&
      j["stream_options"].contains("include_usage") && j["stream_options"]["include_usage"].is_boolean())
    p.include_usage = j["stream_options"]["include_usage"].get<bool>();
  if (j.contains("model") && !j["model"].is_null() && !j["model"].is_string())
    return InvalidArgument("\"model\" must be a string");
  return p;
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

json Usage(const runtime::Completion& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"total_tokens", c.prompt_tokens + c.completion_tokens}};
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
    if (!parsed) return SendError(res, 400, ErrorTypeFor(400), parsed.error().message);
    const std::string id = fmt::format("chatcmpl-lmlab-{}", next_id_++);
    const int64_t created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string model = engine_->model_name();

    if (!parsed->stream) {
      Result<ChatReply> r = engine_->Chat(parsed->chat, [this](std::string_view) { return !stopping_.load(); });
      if (!r) {
        int status = StatusFor(r.error());
        return SendError(res, status, ErrorTypeFor(status), r.error().message);
      }
      json out = {{"id", id},
                  {"object", "chat.completion"},
                  {"created", created},
                  {"model", model},
                  {"choices", json::array({{{"index", 0},
                                            {"message", {{"role", "assistant"}, {"content", r->completion.text}}},
                                            {"finish_reason", r->completion.finish_reason}}})},
                  {"usage", Usage(r->completion)}};
      AddSources(out, *r, engine_->grounds());
      res.set_content(Dump(out), "application/json");
      return;
    }

    // Streaming: one chat.completion.chunk per piece, then a last chunk with
    // finish_reason and the sources, then [DONE].
    auto request = std::make_shared<ParsedChat>(std::move(*parsed));
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [this, request, id, created, model](size_t, httplib::DataSink& sink) {
          auto chunk = [&](json delta, json finish) {
            return json{{"id", id},
                        {"object", "chat.completion.chunk"},
                        {"created", created},
                        {"model", model},
                        {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                                  {"finish_reason", std::move(finish)}}})}};
          };
          auto send = [&](const json& j) {
            std::string event = SseFormat(Dump(j));
            return sink.write(event.data(), event.size());
          };
          bool open = send(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
          Result<ChatReply> r = engine_->Chat(request->chat, [&](std::string_view piece) {
            if (!open || stopping_) return false;
            open = send(chunk({{"content", std::string(piece)}}, nullptr));
            return open;
          });
          if (!open) return false;  // the client went away
          if (!r) {
            int status = StatusFor(r.error());
            send({{"error", {{"message", InServerTerms(r.error().message)}, {"type", ErrorTypeFor(status)}, {"code", status}}}});
          } else {
            json last = chunk(json::object(), r->completion.finish_reason);
            AddSources(last, *r, engine_->grounds());
            if (request->include_usage) last["usage"] = Usage(r->completion);
            send(last);
          }
          const std::string done = SseFormat("[DONE]");
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        });
  });
}

}  // namespace lmlab::server
