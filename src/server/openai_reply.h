// The JSON lmlab serve answers with, in OpenAI's shapes: per-token
// log-probabilities (chat's `logprobs.content[]` and the completions API's
// parallel arrays), usage, and base64 embeddings. Internal to src/server/.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lmlab/runtime/language_model.h"

namespace lmlab::server::internal {

// The completion's per-token log-probabilities whose text is part of the
// answer: tokens that only spelled a stop string (which is never emitted)
// are dropped, so the tokens' text adds up to `c.text`. With each, its
// byte offset in the text.
struct AnswerToken {
  const runtime::TokenLogprob* token;
  size_t offset;  // where the token starts in the answer
};
std::vector<AnswerToken> AnswerTokens(const runtime::Completion& c);

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}],
// "refusal": null}, with `top` alternatives per token (0..20).
nlohmann::json ChatLogprobs(const runtime::Completion& c, int top);

// Completions (legacy): {"tokens": [...], "token_logprobs": [...],
// "top_logprobs": [{token: logprob}], "text_offset": [...]}; `top` 0..5.
nlohmann::json CompletionLogprobs(const runtime::Completion& c, int top);

// {"prompt_tokens", "completion_tokens", "total_tokens"}.
nlohmann::json Usage(int64_t prompt_tokens, int64_t completion_tokens);

// The little-endian float32 bytes of `v`, base64 (RFC 4648), as OpenAI's
// "encoding_format": "base64" sends embeddings.
std::string Base64Floats(std::span<const float> v);

}  // namespace lmlab::server::internal
