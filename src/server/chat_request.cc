// Validation of the OpenAI request bodies (server/chat_request.h): everything
// the client sends is checked here before an engine sees it.
#include "server/chat_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "lmlab/core/json.h"
#include "lmlab/fresh/fresh_prompt.h"

namespace lmlab::server::internal {
namespace {

using nlohmann::json;

// Fields every endpoint accepts and does not use.
constexpr std::string_view kIgnoredFields[] = {"model", "user"};

// Parses the body and refuses any field not in `known` (nor ignored): a
// client that asks for something lmlab does not do hears so.
Result<json> ParseObject(std::string_view body, std::initializer_list<std::string_view> known,
                         std::string_view endpoint) {
  auto parsed = ParseJson(body, "the request body");
  if (!parsed) return InvalidArgument(parsed.error().message);
  if (!parsed->is_object()) return InvalidArgument("the request body must be a JSON object");
  for (const auto& [key, value] : parsed->items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (std::find(std::begin(kIgnoredFields), std::end(kIgnoredFields), key) != std::end(kIgnoredFields)) continue;
    return InvalidArgument(fmt::format("unsupported field \"{}\": {} on lmlab serve does not implement it", key,
                                       endpoint));
  }
  if (parsed->contains("model") && !(*parsed)["model"].is_null() && !(*parsed)["model"].is_string())
    return InvalidArgument("\"model\" must be a string");
  if (parsed->contains("user") && !(*parsed)["user"].is_null() && !(*parsed)["user"].is_string())
    return InvalidArgument("\"user\" must be a string");
  return std::move(*parsed);
}

// A field that is present and not null.
bool Has(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// Fields lmlab takes only at their no-op value (clients often send those).
Status CheckNoOpFields(const json& j) {
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    if (!Has(j, key)) continue;
    if (!j[key].is_number() || j[key].get<double>() != 0.0)
      return InvalidArgument(fmt::format("unsupported field \"{}\": only 0 (no penalty) is implemented", key));
  }
  if (Has(j, "logit_bias") && !(j["logit_bias"].is_object() && j["logit_bias"].empty()))
    return InvalidArgument("unsupported field \"logit_bias\": only {} (no bias) is implemented");
  if (Has(j, "response_format")) {
    const json& f = j["response_format"];
    if (!f.is_object() || !f.contains("type") || f["type"] != "text" || f.size() != 1)
      return InvalidArgument("unsupported field \"response_format\": only {\"type\": \"text\"} is implemented");
  }
  return {};
}

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

// The sampling fields chat and completions share.
Status ParseGeneration(const json& j, const ServerOptions& options, ParsedGeneration& g) {
  runtime::SamplingParams& s = g.params;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!Has(j, key)) continue;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1 || j[key].get<int64_t>() > options.max_tokens_limit)
      return InvalidArgument(fmt::format("\"{}\" must be an integer from 1 to {}", key, options.max_tokens_limit));
    s.max_tokens = j[key].get<int>();
  }
  if (Has(j, "temperature")) {
    if (!j["temperature"].is_number() || !(j["temperature"].get<double>() >= 0 && j["temperature"].get<double>() <= 2))
      return InvalidArgument("\"temperature\" must be a number from 0 to 2");
    s.temperature = j["temperature"].get<float>();
  }
  if (Has(j, "top_p")) {
    if (!j["top_p"].is_number() || !(j["top_p"].get<double>() > 0 && j["top_p"].get<double>() <= 1))
      return InvalidArgument("\"top_p\" must be a number in (0, 1]");
    s.top_p = j["top_p"].get<float>();
  }
  if (Has(j, "seed")) {
    if (!j["seed"].is_number_integer()) return InvalidArgument("\"seed\" must be an integer");
    s.seed = j["seed"].is_number_unsigned() ? j["seed"].get<uint64_t>() : static_cast<uint64_t>(j["seed"].get<int64_t>());
    g.seed_given = true;
  }
  if (Has(j, "stop")) {
    const json& stop = j["stop"];
    constexpr std::string_view kStopRule = "\"stop\" must be a non-empty string or up to 4 non-empty strings";
    if (stop.is_string()) {
      if (stop.get<std::string>().empty()) return InvalidArgument(std::string(kStopRule));
      s.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array() && stop.size() <= 4) {
      for (const json& x : stop) {
        if (!x.is_string() || x.get<std::string>().empty()) return InvalidArgument(std::string(kStopRule));
        s.stop.push_back(x.get<std::string>());
      }
    } else {
      return InvalidArgument(std::string(kStopRule));
    }
  }
  if (Has(j, "n")) {
    if (!j["n"].is_number_integer() || j["n"].get<int64_t>() < 1 || j["n"].get<int64_t>() > options.max_choices)
      return InvalidArgument(fmt::format("\"n\" must be an integer from 1 to {}", options.max_choices));
    g.n = j["n"].get<int>();
  }
  if (Has(j, "stream")) {
    if (!j["stream"].is_boolean()) return InvalidArgument("\"stream\" must be true or false");
    g.stream = j["stream"].get<bool>();
  }
  if (Has(j, "stream_options")) {
    const json& so = j["stream_options"];
    if (!g.stream) return InvalidArgument("\"stream_options\" is only allowed with \"stream\": true");
    if (!so.is_object()) return InvalidArgument("\"stream_options\" must be an object");
    for (const auto& [key, value] : so.items()) {
      if (key != "include_usage")
        return InvalidArgument(fmt::format("unsupported field \"stream_options.{}\"", key));
      if (!value.is_boolean()) return InvalidArgument("\"stream_options.include_usage\" must be true or false");
      g.include_usage = value.get<bool>();
    }
  }
  return CheckNoOpFields(j);
}

// `field` of /v1/completions or /v1/embeddings: one text or a non-empty array
// of texts (at most `max` of them; `plural` names them in the error); token
// ids are refused.
Result<std::vector<std::string>> TextOrTexts(const json& value, std::string_view field, std::string_view plural,
                                             int max) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_array() && !value.empty() &&
             std::all_of(value.begin(), value.end(), [](const json& x) { return x.is_string(); })) {
    if (value.size() > static_cast<size_t>(max))
      return InvalidArgument(
          fmt::format("\"{}\" holds {} {}; at most {} per request", field, value.size(), plural, max));
    for (const json& x : value) out.push_back(x.get<std::string>());
  } else if (value.is_array() && !value.empty()) {
    return InvalidArgument(fmt::format("\"{}\" as token ids is not supported: send the text", field));
  } else {
    return InvalidArgument(fmt::format("\"{}\" must be a string or a non-empty array of strings", field));
  }
  return out;
}

}  // namespace

Result<ParsedChat> ParseChatRequest(std::string_view body, const ServerOptions& options) {
  LMLAB_ASSIGN_OR_RETURN(
      json j, ParseObject(body,
                          {"messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
                           "n", "stream", "stream_options", "logprobs", "top_logprobs", "presence_penalty",
                           "frequency_penalty", "logit_bias", "response_format"},
                          "/v1/chat/completions"));
  ParsedChat p;
  p.gen.params.max_tokens = 256;

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
    for (const auto& [key, value] : m.items())
      if (key != "role" && key != "content" && !(key == "name" && value.is_string()))
        return InvalidArgument(fmt::format("unsupported field \"messages[{}].{}\"", i, key));
    if (!m.contains("content")) return InvalidArgument(fmt::format("messages[{}].content is required", i));
    LMLAB_ASSIGN_OR_RETURN(std::string content, ContentText(m["content"], i));
    p.chat.messages.push_back({std::move(role), std::move(content)});
  }
  LMLAB_ASSIGN_OR_RETURN(std::string question, LastUserTurn(p.chat.messages));
  LMLAB_RETURN_IF_ERROR(fresh::ValidateQuestion(question, options.max_question_bytes));
  LMLAB_RETURN_IF_ERROR(ParseGeneration(j, options, p.gen));

  // Chat's log-probabilities: "logprobs": true, and "top_logprobs": 0..20
  // alternatives per token (which needs "logprobs": true, as in OpenAI's API).
  bool logprobs = false;
  if (Has(j, "logprobs")) {
    if (!j["logprobs"].is_boolean()) return InvalidArgument("\"logprobs\" must be true or false");
    logprobs = j["logprobs"].get<bool>();
  }
  int top = 0;
  if (Has(j, "top_logprobs")) {
    if (!j["top_logprobs"].is_number_integer() || j["top_logprobs"].get<int64_t>() < 0 ||
        j["top_logprobs"].get<int64_t>() > 20)
      return InvalidArgument("\"top_logprobs\" must be an integer from 0 to 20");
    if (!logprobs) return InvalidArgument("\"top_logprobs\" needs \"logprobs\": true");
    top = j["top_logprobs"].get<int>();
  }
  if (logprobs) {
    p.gen.logprobs = top;
    // The runtime reports the sampled token's log-probability with its
    // alternatives; ask for at least one, the reply keeps `top`.
    p.gen.params.top_logprobs = std::max(top, 1);
  }
  p.chat.params = p.gen.params;
  return p;
}

Result<ParsedCompletion> ParseCompletionRequest(std::string_view body, const ServerOptions& options) {
  LMLAB_ASSIGN_OR_RETURN(json j, ParseObject(body,
                                             {"prompt", "max_tokens", "temperature", "top_p", "seed", "stop", "n",
                                              "stream", "stream_options", "logprobs", "echo", "suffix", "best_of",
                                              "presence_penalty", "frequency_penalty", "logit_bias"},
                                             "/v1/completions"));
  ParsedCompletion p;
  p.gen.params.max_tokens = 16;  // OpenAI's default for completions

  if (!j.contains("prompt")) return InvalidArgument("\"prompt\" is required");
  LMLAB_ASSIGN_OR_RETURN(p.prompts, TextOrTexts(j["prompt"], "prompt", "prompts", options.max_inputs));
  for (size_t i = 0; i < p.prompts.size(); ++i) {
    if (p.prompts[i].size() > options.max_prompt_bytes)
      return InvalidArgument(fmt::format("prompt {} is {} bytes; at most {}", i, p.prompts[i].size(),
                                         options.max_prompt_bytes));
  }
  LMLAB_RETURN_IF_ERROR(ParseGeneration(j, options, p.gen));

  if (Has(j, "logprobs")) {
    if (!j["logprobs"].is_number_integer() || j["logprobs"].get<int64_t>() < 0 || j["logprobs"].get<int64_t>() > 5)
      return InvalidArgument("\"logprobs\" must be an integer from 0 to 5 (alternatives per token)");
    p.gen.logprobs = j["logprobs"].get<int>();
    p.gen.params.top_logprobs = std::max(p.gen.logprobs, 1);
  }
  if (Has(j, "echo") && !(j["echo"].is_boolean() && !j["echo"].get<bool>()))
    return InvalidArgument("unsupported field \"echo\": only false is implemented");
  if (Has(j, "suffix") && !(j["suffix"].is_string() && j["suffix"].get<std::string>().empty()))
    return InvalidArgument("unsupported field \"suffix\": insertion is not implemented");
  if (Has(j, "best_of") && !(j["best_of"].is_number_integer() && j["best_of"].get<int64_t>() == p.gen.n))
    return InvalidArgument("unsupported field \"best_of\": only best_of equal to n is implemented");
  return p;
}

Result<ParsedEmbedding> ParseEmbeddingRequest(std::string_view body, const ServerOptions& options) {
  LMLAB_ASSIGN_OR_RETURN(json j, ParseObject(body, {"input", "encoding_format", "dimensions"}, "/v1/embeddings"));
  ParsedEmbedding p;
  if (!j.contains("input")) return InvalidArgument("\"input\" is required");
  LMLAB_ASSIGN_OR_RETURN(p.inputs, TextOrTexts(j["input"], "input", "texts", options.max_inputs));
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    if (p.inputs[i].empty()) return InvalidArgument(fmt::format("input {} is empty", i));
    if (p.inputs[i].size() > options.max_prompt_bytes)
      return InvalidArgument(fmt::format("input {} is {} bytes; at most {}", i, p.inputs[i].size(),
                                         options.max_prompt_bytes));
  }
  if (Has(j, "encoding_format")) {
    const json& f = j["encoding_format"];
    if (f == "float") p.encoding = EmbeddingEncoding::kFloat;
    else if (f == "base64") p.encoding = EmbeddingEncoding::kBase64;
    else return InvalidArgument("\"encoding_format\" must be \"float\" or \"base64\"");
  }
  if (Has(j, "dimensions"))
    return InvalidArgument(
        "unsupported field \"dimensions\": embeddings have the model's width (shortening is not implemented)");
  return p;
}

}  // namespace lmlab::server::internal
