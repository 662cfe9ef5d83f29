// The OpenAI-compatible endpoint backend with its transport made explicit:
// which HttpClient to use and how to retry. OpenOpenAiModel(spec)
// (backends.h) is this with libcurl and spec.max_retries.
//
//   OpenAiOptions options{.retry = {.max_retries = 1, .initial_backoff_seconds = 0.05}};
//   LMLAB_ASSIGN_OR_RETURN(auto lm, OpenOpenAiModel({.endpoint = "http://127.0.0.1:8080",
//                                                    .api_model = "tiny"}, options));
//
// What the backend maps to the endpoint (see docs/endpoints.md):
//   Chat       -> POST /v1/chat/completions   (stream: true when a TokenCallback is given)
//   Complete   -> POST /v1/completions
//   ScoreText  -> POST /v1/completions with echo + logprobs (vLLM, OpenAI legacy);
//                 kUnsupported where the server has no echo (llama-server)
//   Tokenize / Detokenize -> POST /tokenize, /detokenize (llama-server); else kUnsupported
//   NextTokenLogprobs     -> kUnsupported: endpoints give top-k, never the whole vocabulary
//   info()     <- GET /v1/models, and GET /props on llama-server
#pragma once

#include <memory>

#include "lmlab/core/http.h"
#include "lmlab/core/http_retry.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

struct OpenAiOptions {
  RetryPolicy retry;                  // max_retries here wins over ModelSpec::max_retries
  std::shared_ptr<HttpClient> http;   // null = libcurl
};

Result<std::unique_ptr<LanguageModel>> OpenOpenAiModel(const ModelSpec& spec, OpenAiOptions options);

}  // namespace lmlab::runtime
