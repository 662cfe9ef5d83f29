// Validation of a /v1/chat/completions request body (server/chat_request.h):
// everything the client sends is checked here before the engine sees it.
#include "server/chat_request.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "lmlab/core/json.h"
#include "lmlab/fresh/fresh_prompt.h"

namespace lmlab::server::internal {
namespace {

using nlohmann::json;

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

}  // namespace

Result<ParsedChat> ParseChatRequest(std::string_view body, const ServerOptions& options) {
  auto parsed = ParseJson(body, "the request body");
  if (!parsed) return InvalidArgument(parsed.error().message);
  const json& j = *parsed;
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

}  // namespace lmlab::server::internal
