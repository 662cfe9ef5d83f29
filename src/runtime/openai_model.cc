// LanguageModel over an OpenAI-compatible HTTP endpoint (llama-server, vLLM,
// Ollama, hosted APIs). Requests are built and responses parsed here; the
// transport (libcurl) and retries sit behind HttpClient / SendWithRetry.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "lmlab/core/sse.h"
#include "lmlab/runtime/backends.h"
#include "lmlab/runtime/http_openai.h"

namespace lmlab::runtime {
namespace {

using nlohmann::json;

constexpr size_t kMaxQuotedBody = 300;  // how much of an unexpected body an error message quotes

// Typed reads that never throw: a field of the wrong type counts as missing.
std::string Str(const json& j, const char* key, std::string fallback = "") {
  if (j.is_object() && j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  return fallback;
}
int64_t Int(const json& j, const char* key, int64_t fallback = 0) {
  if (j.is_object() && j.contains(key) && j[key].is_number()) return j[key].get<int64_t>();
  return fallback;
}
const json& Field(const json& j, const char* key) {
  static const json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

// JSON text for a request body. Invalid UTF-8 in a prompt becomes U+FFFD
// instead of an exception.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Replaces every occurrence of `secret` in `text` (a server may echo the key back).
std::string Redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos))
    text.replace(pos, secret.size(), "***");
  return text;
}

// A printable excerpt of a body for error messages: control bytes dropped, cut.
std::string Excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kMaxQuotedBody)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 && c != '\n') ? ' ' : (c == '\n' ? ' ' : c);
  }
  if (body.size() > kMaxQuotedBody) out += "...";
  return out;
}

// The server's own words about an error: {"error": {"message": ...}},
// {"error": "..."}, {"message": ...}, {"detail": ...}, or the raw body.
std::string ServerMessage(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (j.contains("error")) {
      const json& e = j["error"];
      if (e.is_string()) return e.get<std::string>();
      if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    }
    for (const char* key : {"message", "detail"})
      if (j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
  }
  std::string text = Excerpt(body);
  return text.empty() ? "(empty body)" : text;
}

std::string ErrorType(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("type") &&
      j["error"]["type"].is_string())
    return j["error"]["type"].get<std::string>();
  return "";
}

// Strips "/" and "/v1" from the end: the base URL, under which /v1/... and
// llama-server's /tokenize, /props live.
Result<std::string> BaseUrl(std::string url) {
  if (!url.starts_with("http://") && !url.starts_with("https://"))
    return InvalidArgument("`endpoint` must start with http:// or https:// (got '" + url + "')");
  while (url.ends_with("/")) url.pop_back();
  if (url.ends_with("/v1")) url.resize(url.size() - 3);
  while (url.ends_with("/")) url.pop_back();
  return url;
}

std::vector<std::pair<std::string, float>> TopFromArray(const json& arr) {
  std::vector<std::pair<std::string, float>> top;
  if (!arr.is_array()) return top;
  for (const json& t : arr) {
    if (!t.is_object() || !t.contains("logprob") || !t["logprob"].is_number()) continue;
    top.emplace_back(Str(t, "token"), t["logprob"].get<float>());
  }
  return top;
}

// Appends the per-token log-probs of a choice, in either format servers use:
//   {"content": [{"token", "logprob", "id"?, "top_logprobs": [{"token", "logprob"}]}]}   (chat; llama-server)
//   {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{tok: lp}], "text_offset": [...]}   (legacy)
// Tokens whose logprob is null (the first token of an echoed prompt) are skipped.
void AppendLogprobs(const json& lp, std::vector<TokenLogprob>& out, std::vector<int64_t>* offsets = nullptr) {
  if (!lp.is_object()) return;
  if (lp.contains("content") && lp["content"].is_array()) {
    for (const json& t : lp["content"]) {
      if (!t.is_object() || !t.contains("logprob") || !t["logprob"].is_number()) continue;
      TokenLogprob tl;
      tl.token = Str(t, "token");
      tl.logprob = t["logprob"].get<float>();
      if (t.contains("id") && t["id"].is_number_integer()) tl.id = t["id"].get<int32_t>();
      tl.top = TopFromArray(Field(t, "top_logprobs"));
      out.push_back(std::move(tl));
    }
    return;
  }
  if (lp.contains("tokens") && lp["tokens"].is_array() && lp.contains("token_logprobs") &&
      lp["token_logprobs"].is_array()) {
    const json& tokens = lp["tokens"];
    const json& lps = lp["token_logprobs"];
    const json& tops = lp.contains("top_logprobs") ? lp["top_logprobs"] : json();
    const json& offs = lp.contains("text_offset") ? lp["text_offset"] : json();
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i >= lps.size() || !lps[i].is_number() || !tokens[i].is_string()) continue;
      TokenLogprob tl;
      tl.token = tokens[i].get<std::string>();
      tl.logprob = lps[i].get<float>();
      if (tops.is_array() && i < tops.size() && tops[i].is_object()) {
        for (const auto& [tok, v] : tops[i].items())
          if (v.is_number()) tl.top.emplace_back(tok, v.get<float>());
        std::sort(tl.top.begin(), tl.top.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      }
      if (offsets) offsets->push_back(offs.is_array() && i < offs.size() && offs[i].is_number() ? offs[i].get<int64_t>() : -1);
      out.push_back(std::move(tl));
    }
  }
}

enum class Api { kChat, kCompletions };

class OpenAiModel : public LanguageModel {
 public:
  OpenAiModel(ModelSpec spec, std::string base, std::string key, OpenAiOptions options)
      : spec_(std::move(spec)), base_(std::move(base)), key_(std::move(key)), options_(std::move(options)) {
    info_.backend = "openai";
    info_.name = spec_.api_model;
  }

  Status Init() {
    // /v1/models: proves the endpoint answers and the key is accepted.
    LMLAB_ASSIGN_OR_RETURN(HttpResponse res, Call("GET", "/v1/models", "", options_.retry));
    if (res.status == 200) {
      json j = json::parse(res.body, nullptr, false);
      if (!j.is_object() || !j.contains("data") || !j["data"].is_array())
        return ParseError(fmt::format("{}/v1/models did not return a model list: {}", base_, Excerpt(res.body)));
      // The listed model with our name (or alias); failing that, the only one
      // listed (llama-server answers to any name and lists its one model).
      const json* chosen = nullptr;
      for (const json& m : j["data"]) {
        if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
        if (info_.name.empty()) info_.name = m["id"].get<std::string>();
        if (m["id"].get<std::string>() == info_.name || Aliases(m).contains(info_.name)) chosen = &m;
      }
      if (!chosen && j["data"].size() == 1 && j["data"][0].is_object()) chosen = &j["data"][0];
      if (chosen) {
        const json& m = *chosen;
        if (Str(m, "owned_by") == "llamacpp") llama_server_ = true;
        if (m.contains("meta") && m["meta"].is_object()) {
          const json& meta = m["meta"];
          info_.n_vocab = Int(meta, "n_vocab");
          info_.n_ctx_train = Int(meta, "n_ctx_train");
          info_.n_ctx = Int(meta, "n_ctx");
          info_.n_embd = Int(meta, "n_embd");
          info_.n_params = Int(meta, "n_params");
        }
      }
    } else if (res.status != 404) {  // a server without /v1/models can still serve completions
      return HttpError(res, "/v1/models");
    }
    if (info_.name.empty()) return InvalidArgument("the server lists no models: name the model to request (`api_model`)");
    if (llama_server_) {
      RetryPolicy once = options_.retry;
      once.max_retries = 0;
      if (auto props = Call("GET", "/props", "", once); props && props->status == 200) {
        json p = json::parse(props->body, nullptr, false);
        if (p.is_object()) {
          if (p.contains("chat_template") && p["chat_template"].is_string())
            info_.chat_template = p["chat_template"].get<std::string>();
          if (p.contains("default_generation_settings") && p["default_generation_settings"].is_object())
            info_.n_ctx = Int(p["default_generation_settings"], "n_ctx", info_.n_ctx);
        }
      }
    }
    return {};
  }

  const ModelInfo& info() const override { return info_; }

  Result<Completion> Complete(std::string_view prompt, const SamplingParams& params,
                              const TokenCallback& on_token) override {
    json body = Sampling(params);
    body["prompt"] = std::string(prompt);
    if (params.top_logprobs > 0) body["logprobs"] = params.top_logprobs;
    return Generate(Api::kCompletions, std::move(body), on_token);
  }

  Result<Completion> Chat(std::span<const ChatMessage> messages, const SamplingParams& params,
                          const TokenCallback& on_token) override {
    json body = Sampling(params);
    json msgs = json::array();
    for (const ChatMessage& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(msgs);
    if (params.top_logprobs > 0) {
      body["logprobs"] = true;
      body["top_logprobs"] = params.top_logprobs;
    }
    return Generate(Api::kChat, std::move(body), on_token);
  }

  Result<std::vector<float>> NextTokenLogprobs(std::string_view) override {
    return Unsupported(
        "an OpenAI-compatible endpoint returns only the top few log-probs, not the whole vocabulary; "
        "use a local GGUF model (`gguf_path`) for next-token distributions");
  }

  Result<std::vector<TokenLogprob>> ScoreText(std::string_view text) override {
    if (llama_server_)
      return Unsupported("llama-server cannot score a given text (its /v1/completions has no echo); "
                         "use a local GGUF model (`gguf_path`) or an endpoint with echo (vLLM)");
    json body = {{"model", info_.name}, {"prompt", std::string(text)}, {"max_tokens", 1},
                 {"temperature", 0},    {"echo", true},              {"logprobs", 1}};
    LMLAB_ASSIGN_OR_RETURN(HttpResponse res, Call("POST", "/v1/completions", Dump(body), options_.retry));
    if (res.status != 200) {
      std::string msg = ServerMessage(res.body);
      if (res.status >= 400 && res.status < 600 && msg.find("echo") != std::string::npos)
        return Unsupported(fmt::format("{} cannot score a given text: {}", base_, Redact(msg, key_)));
      return HttpError(res, "/v1/completions");
    }
    json j = json::parse(res.body, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty())
      return ParseError(fmt::format("{}/v1/completions returned no choices: {}", base_, Excerpt(res.body)));
    std::vector<TokenLogprob> all;
    std::vector<int64_t> offsets;
    AppendLogprobs(Field(j["choices"][0], "logprobs"), all, &offsets);
    if (all.empty())
      return Unsupported(fmt::format("{} does not return log-probs of an echoed prompt", base_));
    // Keep the prompt's tokens, not the one generated after it.
    std::vector<TokenLogprob> out;
    int64_t consumed = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      int64_t start = i < offsets.size() && offsets[i] >= 0 ? offsets[i] : consumed;
      if (start >= static_cast<int64_t>(text.size())) break;
      consumed = start + static_cast<int64_t>(all[i].token.size());
      out.push_back(std::move(all[i]));
    }
    return out;
  }

  Result<std::vector<int32_t>> Tokenize(std::string_view text, AddBos add_bos) override {
    json body = {{"content", std::string(text)}, {"add_special", add_bos == AddBos::kYes}};
    LMLAB_ASSIGN_OR_RETURN(json j, PostNonOpenAi("/tokenize", body));
    if (!j.contains("tokens") || !j["tokens"].is_array())
      return ParseError(fmt::format("{}/tokenize returned no token list", base_));
    std::vector<int32_t> tokens;
    for (const json& t : j["tokens"]) {
      if (!t.is_number_integer()) return ParseError(fmt::format("{}/tokenize returned a non-integer token", base_));
      tokens.push_back(t.get<int32_t>());
    }
    return tokens;
  }

  Result<std::string> Detokenize(std::span<const int32_t> tokens) override {
    json body = {{"tokens", std::vector<int32_t>(tokens.begin(), tokens.end())}};
    LMLAB_ASSIGN_OR_RETURN(json j, PostNonOpenAi("/detokenize", body));
    if (!j.contains("content") || !j["content"].is_string())
      return ParseError(fmt::format("{}/detokenize returned no text", base_));
    return j["content"].get<std::string>();
  }

 private:
  static std::set<std::string> Aliases(const json& m) {
    std::set<std::string> out;
    if (m.contains("aliases") && m["aliases"].is_array())
      for (const json& a : m["aliases"])
        if (a.is_string()) out.insert(a.get<std::string>());
    return out;
  }

  json Sampling(const SamplingParams& p) const {
    json body = {{"model", info_.name}, {"max_tokens", p.max_tokens}, {"temperature", p.temperature}};
    if (p.top_p < 1.0f) body["top_p"] = p.top_p;
    if (p.top_k > 0) body["top_k"] = p.top_k;  // not OpenAI's; llama-server, vLLM and Ollama take it
    body["seed"] = p.seed;
    if (!p.stop.empty()) body["stop"] = p.stop;
    return body;
  }

  Result<HttpResponse> Call(const std::string& method, const std::string& path, std::string body,
                            const RetryPolicy& policy, const BodyCallback& on_body = {}) {
    HttpRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = std::move(body);
    req.timeout_seconds = spec_.timeout_seconds;
    req.connect_timeout_seconds = std::min(10.0, spec_.timeout_seconds);
    req.headers.emplace_back("Accept", on_body ? "text/event-stream" : "application/json");
    if (method == "POST") req.headers.emplace_back("Content-Type", "application/json");
    if (!key_.empty()) req.headers.emplace_back("Authorization", "Bearer " + key_);
    Result<HttpResponse> r = SendWithRetry(*options_.http, req, policy, on_body);
    if (!r) return std::unexpected(Error{r.error().code, Redact(r.error().message, key_)});
    return r;
  }

  // An error for a non-2xx answer, quoting the server (with any key redacted).
  std::unexpected<Error> HttpError(const HttpResponse& res, std::string_view path) const {
    std::string msg = Redact(ServerMessage(res.body), key_);
    std::string where = fmt::format("{}{} answered HTTP {}", base_, path, res.status);
    if (res.status == 401 || res.status == 403) {
      std::string hint = key_.empty() ? fmt::format("no API key was sent: set ${}", spec_.api_key_env)
                                      : fmt::format("check the key in ${}", spec_.api_key_env);
      return InvalidArgument(fmt::format("{} (not authorized): {}; {}", where, msg, hint));
    }
    if (res.status == 400 && (ErrorType(res.body) == "exceed_context_size_error" ||
                              msg.find("context length") != std::string::npos ||
                              msg.find("context size") != std::string::npos))
      return OutOfRange(fmt::format("{}: {}", where, msg));
    if (res.status == 404) return NotFound(fmt::format("{}: {} (check `endpoint` and `api_model`)", where, msg));
    if (IsRetryableStatus(res.status))
      return Unavailable(fmt::format("{} after {} retries: {}", where, options_.retry.max_retries, msg));
    if (res.status >= 400 && res.status < 500) return InvalidArgument(fmt::format("{}: {}", where, msg));
    return Unavailable(fmt::format("{}: {}", where, msg));
  }

  // POST to a llama-server extension (/tokenize): kUnsupported where absent.
  Result<json> PostNonOpenAi(const std::string& path, const json& body) {
    LMLAB_ASSIGN_OR_RETURN(HttpResponse res, Call("POST", path, Dump(body), options_.retry));
    if (res.status == 404 || res.status == 405 || res.status == 501)
      return Unsupported(fmt::format("{} has no {} (only llama-server offers it)", base_, path));
    if (res.status != 200) return HttpError(res, path);
    json j = json::parse(res.body, nullptr, false);
    if (!j.is_object()) return ParseError(fmt::format("{}{} returned a malformed body: {}", base_, path, Excerpt(res.body)));
    return j;
  }

  // Reads one choice object (a whole response's or a stream chunk's) into `c`;
  // returns the new text it carries.
  static std::string TakeChoice(Api api, const json& choice, Completion& c) {
    std::string piece;
    if (api == Api::kChat) {
      const char* field = choice.contains("delta") ? "delta" : "message";
      if (choice.contains(field) && choice[field].is_object()) {
        const json& m = choice[field];
        if (m.contains("content") && m["content"].is_string()) piece = m["content"].get<std::string>();
      }
    } else if (choice.contains("text") && choice["text"].is_string()) {
      piece = choice["text"].get<std::string>();
    }
    if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
      c.finish_reason = choice["finish_reason"].get<std::string>();
    if (choice.contains("logprobs")) AppendLogprobs(choice["logprobs"], c.logprobs);
    c.text += piece;
    return piece;
  }

  static void TakeUsage(const json& j, Completion& c) {
    if (j.contains("usage") && j["usage"].is_object()) {
      c.prompt_tokens = Int(j["usage"], "prompt_tokens", c.prompt_tokens);
      c.completion_tokens = Int(j["usage"], "completion_tokens", c.completion_tokens);
    }
  }

  Result<Completion> ParseWhole(Api api, const std::string& body, std::string_view path) const {
    json j = json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
        !j["choices"][0].is_object())
      return ParseError(fmt::format("{}{} returned a malformed body (expected JSON with \"choices\"): {}", base_,
                                    path, Excerpt(body)));
    Completion c;
    TakeChoice(api, j["choices"][0], c);
    TakeUsage(j, c);
    return c;
  }

  Result<Completion> Generate(Api api, json body, const TokenCallback& on_token) {
    const std::string path = api == Api::kChat ? "/v1/chat/completions" : "/v1/completions";
    auto start = std::chrono::steady_clock::now();
    auto finish = [&](Completion c) {
      c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (c.finish_reason.empty()) c.finish_reason = "stop";
      return c;
    };
    if (!on_token) {
      body["stream"] = false;
      LMLAB_ASSIGN_OR_RETURN(HttpResponse res, Call("POST", path, Dump(body), options_.retry));
      if (res.status != 200) return HttpError(res, path);
      LMLAB_ASSIGN_OR_RETURN(Completion c, ParseWhole(api, res.body, path));
      return finish(std::move(c));
    }

    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    Completion c;
    SseParser parser;
    std::string raw;             // the body while it does not look like SSE
    std::optional<Error> error;  // a problem found inside the stream
    bool done = false, user_stopped = false;
    auto handle = [&](const std::vector<SseEvent>& events) {
      for (const SseEvent& e : events) {
        if (done) return true;
        if (e.data == "[DONE]") {
          done = true;
          return true;
        }
        json j = json::parse(e.data, nullptr, false);
        if (!j.is_object()) {
          error = Error{ErrorCode::kParse, fmt::format("{}{} sent a malformed stream event: {}", base_, path,
                                                       Excerpt(e.data))};
          return false;
        }
        if (j.contains("error")) {
          error = Error{ErrorCode::kUnavailable, fmt::format("{}{} failed mid-stream: {}", base_, path,
                                                             Redact(ServerMessage(e.data), key_))};
          return false;
        }
        TakeUsage(j, c);
        if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty() && j["choices"][0].is_object()) {
          std::string piece = TakeChoice(api, j["choices"][0], c);
          if (!piece.empty() && !on_token(piece)) {
            user_stopped = true;
            return false;
          }
        }
      }
      return true;
    };
    BodyCallback on_body = [&](std::string_view chunk) {
      if (!parser.saw_any_field() && raw.size() < (1u << 20)) raw.append(chunk);
      return handle(parser.Feed(chunk));
    };
    Result<HttpResponse> res = Call("POST", path, Dump(body), options_.retry, on_body);
    if (error) return std::unexpected(*error);
    if (user_stopped) return finish(std::move(c));
    if (!res) {
      if (!c.text.empty() || parser.saw_any_field())
        return std::unexpected(res.error().WithContext("the connection dropped in the middle of the answer"));
      return std::unexpected(res.error());
    }
    if (res->status != 200) return HttpError(*res, path);
    if (!handle(parser.Finish()) && error) return std::unexpected(*error);
    if (!parser.saw_any_field()) {
      // Not an event stream: some servers ignore "stream" and answer whole.
      LMLAB_ASSIGN_OR_RETURN(Completion whole, ParseWhole(api, raw, path));
      if (!whole.text.empty()) on_token(whole.text);
      return finish(std::move(whole));
    }
    if (!done && c.finish_reason.empty())
      return Unavailable(fmt::format("{}{}: the stream ended before the answer was complete", base_, path));
    return finish(std::move(c));
  }

  ModelSpec spec_;
  std::string base_;
  std::string key_;
  OpenAiOptions options_;
  ModelInfo info_;
  bool llama_server_ = false;
};

}  // namespace

Result<std::unique_ptr<LanguageModel>> OpenOpenAiModel(const ModelSpec& spec, OpenAiOptions options) {
  LMLAB_ASSIGN_OR_RETURN(std::string base, BaseUrl(spec.endpoint));
  if (!(spec.timeout_seconds > 0)) return InvalidArgument("the endpoint timeout must be positive");
  if (options.retry.max_retries < 0) return InvalidArgument("max_retries must be >= 0");
  std::string key;
  if (!spec.api_key_env.empty())
    if (const char* k = std::getenv(spec.api_key_env.c_str())) key = k;
  if (!options.http) options.http = MakeCurlHttpClient();
  auto model = std::make_unique<OpenAiModel>(spec, std::move(base), std::move(key), std::move(options));
  LMLAB_RETURN_IF_ERROR(model->Init());
  return std::unique_ptr<LanguageModel>(std::move(model));
}

Result<std::unique_ptr<LanguageModel>> OpenOpenAiModel(const ModelSpec& spec) {
  OpenAiOptions options;
  options.retry.max_retries = spec.max_retries;
  return OpenOpenAiModel(spec, std::move(options));
}

}  // namespace lmlab::runtime
