// Validation of the OpenAI request bodies lmlab serve answers
// (/v1/chat/completions, /v1/completions, /v1/embeddings), apart from the HTTP
// layer so they can be tested and fuzzed on their own (tests/fuzz/). Internal
// to src/server/.
//
//   LMLAB_ASSIGN_OR_RETURN(ParsedChat p, ParseChatRequest(req.body, options));
//
// Every field a client sends is either honoured or refused: a field lmlab does
// not implement is a 400 that names it, never silently dropped. A few fields
// are accepted at their no-op value only ("presence_penalty": 0, "logit_bias":
// {}, "response_format": {"type": "text"}); "user" (an end-user id for abuse
// monitoring) and "model" (this server has one) are accepted and not used.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/server/chat_engine.h"
#include "lmlab/server/server.h"

namespace lmlab::server::internal {

// What a generation request asks for, shared by chat and completions.
struct ParsedGeneration {
  runtime::SamplingParams params;  // params.top_logprobs >= 1 when logprobs were asked for
  int n = 1;                       // choices per prompt; choice i samples with seed + i
  bool seed_given = false;
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage
  // Log-probabilities: off (-1), or on with this many alternatives per token
  // (0..20 for chat's top_logprobs, 0..5 for completions' logprobs).
  int logprobs = -1;
};

// A parsed and checked /v1/chat/completions body.
struct ParsedChat {
  ChatRequest chat;
  ParsedGeneration gen;
};

// A parsed and checked /v1/completions body: each prompt gets `gen.n` choices.
struct ParsedCompletion {
  std::vector<std::string> prompts;
  ParsedGeneration gen;
};

enum class EmbeddingEncoding { kFloat, kBase64 };

// A parsed and checked /v1/embeddings body.
struct ParsedEmbedding {
  std::vector<std::string> inputs;
  EmbeddingEncoding encoding = EmbeddingEncoding::kFloat;
};

// kInvalidArgument naming the field for anything a client got wrong: not
// JSON, not an object, bad messages, values out of range, fields lmlab does
// not implement. Never throws.
Result<ParsedChat> ParseChatRequest(std::string_view body, const ServerOptions& options);
Result<ParsedCompletion> ParseCompletionRequest(std::string_view body, const ServerOptions& options);
Result<ParsedEmbedding> ParseEmbeddingRequest(std::string_view body, const ServerOptions& options);

}  // namespace lmlab::server::internal
