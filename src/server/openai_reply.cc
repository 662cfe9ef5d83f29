#include "server/openai_reply.h"

#include <bit>
#include <cstdint>

namespace lmlab::server::internal {
namespace {

using nlohmann::json;

json Bytes(const std::string& s) {
  json out = json::array();
  for (char c : s) out.push_back(static_cast<unsigned char>(c));
  return out;
}

}  // namespace

std::vector<AnswerToken> AnswerTokens(const runtime::Completion& c) {
  std::vector<AnswerToken> out;
  size_t offset = 0;
  for (const runtime::TokenLogprob& t : c.logprobs) {
    // A token past the end of the text spelled (part of) a stop string.
    if (offset >= c.text.size()) break;
    out.push_back({&t, offset});
    offset += t.token.size();
  }
  return out;
}

json ChatLogprobs(const runtime::Completion& c, int top) {
  json content = json::array();
  for (const AnswerToken& a : AnswerTokens(c)) {
    json alternatives = json::array();
    for (size_t i = 0; i < a.token->top.size() && static_cast<int>(i) < top; ++i) {
      const auto& [text, logprob] = a.token->top[i];
      alternatives.push_back({{"token", text}, {"logprob", logprob}, {"bytes", Bytes(text)}});
    }
    content.push_back({{"token", a.token->token},
                       {"logprob", a.token->logprob},
                       {"bytes", Bytes(a.token->token)},
                       {"top_logprobs", std::move(alternatives)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json CompletionLogprobs(const runtime::Completion& c, int top) {
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  for (const AnswerToken& a : AnswerTokens(c)) {
    tokens.push_back(a.token->token);
    token_logprobs.push_back(a.token->logprob);
    json alternatives = json::object();
    for (size_t i = 0; i < a.token->top.size() && static_cast<int>(i) < top; ++i)
      alternatives[a.token->top[i].first] = a.token->top[i].second;
    top_logprobs.push_back(std::move(alternatives));
    offsets.push_back(a.offset);
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

json Usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

std::string Base64Floats(std::span<const float> v) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u = std::bit_cast<uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + static_cast<size_t>(b)] = static_cast<char>((u >> (8 * b)) & 0xff);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(group >> 18) & 63];
    out += kAlphabet[(group >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[group & 63] : '=';
  }
  return out;
}

}  // namespace lmlab::server::internal
