// LanguageModel: the one interface through which ask, improve, probe and ood
// call a model. Two backends sit behind it:
//   - a local GGUF file run by llama.cpp (OpenModel with ModelSpec::gguf_path),
//   - an OpenAI-compatible HTTP endpoint: llama-server, vLLM, Ollama, hosted
//     APIs (ModelSpec::endpoint + ModelSpec::api_model).
//
//   ModelSpec spec{.gguf_path = "tiny.gguf"};
//   LMLAB_ASSIGN_OR_RETURN(std::unique_ptr<LanguageModel> lm, OpenModel(spec));
//   LMLAB_ASSIGN_OR_RETURN(Completion c, lm->Complete("The capital of France is", {.max_tokens = 8}));
//
// Thread-safety: one LanguageModel serves one caller at a time; open one per
// thread (a local model's weights are mmapped and shared by the OS).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"

namespace lmlab::runtime {

struct ModelInfo {
  std::string backend;        // "llama.cpp" or "openai"
  std::string name;           // GGUF file name or the endpoint's model name
  std::string architecture;   // "llama", ... ("" when an endpoint does not say)
  int64_t n_layers = 0;       // 0 when unknown (endpoints)
  int64_t n_embd = 0;
  int64_t n_ctx_train = 0;
  int64_t n_ctx = 0;          // context window of this session
  int64_t n_vocab = 0;
  int64_t n_params = 0;
  std::string quantization;   // weight type as llama.cpp names it: "F16", "Q8_0", "Q4_K - Medium" ("" = unknown)
  std::string chat_template;  // from the GGUF; "" when none
  // How Chat() formats a conversation: the llama.cpp built-in format the
  // GGUF's template was recognised as ("llama3", "chatml", "gemma", ...), or
  // "chatml (fallback: ...)" when there is none or it is not recognised.
  std::string chat_format;
};

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;             // 0 = off
  uint64_t seed = 0;
  int max_tokens = 256;
  std::vector<std::string> stop;  // generation ends before any of these
  int top_logprobs = 0;      // > 0: return that many alternatives per token
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct TokenLogprob {
  std::string token;
  int32_t id = -1;       // -1 when the backend gives no ids (endpoints)
  float logprob = 0.0f;  // natural log
  std::vector<std::pair<std::string, float>> top;  // alternatives, best first
};

// A text's embedding: the final hidden state (after the model's last norm,
// the vector its output head reads) averaged over the text's tokens.
struct Embedding {
  std::vector<float> vector;  // [n_embd]
  int64_t tokens = 0;         // tokens averaged (BOS excluded)
};

struct Completion {
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::vector<TokenLogprob> logprobs;  // filled when SamplingParams::top_logprobs > 0
  double seconds = 0;
};

// Streaming: called with each new piece of text; return false to stop early.
using TokenCallback = std::function<bool(std::string_view piece)>;

enum class AddBos { kNo, kYes };

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  virtual const ModelInfo& info() const = 0;

  // Raw text completion. kOutOfRange when the prompt does not fit the context.
  virtual Result<Completion> Complete(std::string_view prompt, const SamplingParams& params,
                                      const TokenCallback& on_token = {}) = 0;
  // Chat completion, formatted with the model's chat template (or a fallback).
  virtual Result<Completion> Chat(std::span<const ChatMessage> messages, const SamplingParams& params,
                                  const TokenCallback& on_token = {}) = 0;

  // Log-probabilities of the next token after `prompt`, over the whole
  // vocabulary: shape [n_vocab]. kUnsupported where a backend only returns
  // top-k (most endpoints).
  virtual Result<std::vector<float>> NextTokenLogprobs(std::string_view prompt) = 0;
  // Log-probability of each token of `text` given the tokens before it.
  virtual Result<std::vector<TokenLogprob>> ScoreText(std::string_view text) = 0;

  // Full next-token log-probabilities [n_vocab] at every position of `tokens`
  // from index `first` on: visit(i, logprobs) receives the distribution that
  // predicts tokens[i] from tokens[0, i). Local models do this in one forward
  // pass (what the ood ignorance score needs for a whole answer); the default
  // answers kUnsupported, and callers fall back to NextTokenLogprobs.
  using DistributionVisitor = std::function<Status(size_t index, std::span<const float> logprobs)>;
  virtual Status ForEachNextTokenDistribution(std::span<const int32_t> tokens, size_t first,
                                              const DistributionVisitor& visit) {
    (void)tokens, (void)first, (void)visit;
    return Unsupported(info().backend + " models do not return full distributions for every position");
  }

  // The exact prompt Chat() sends for `messages`: the chat template applied
  // (info().chat_format says which), ending where the assistant speaks.
  // kUnsupported where the server applies the template (endpoints).
  virtual Result<std::string> FormatChat(std::span<const ChatMessage> messages) {
    (void)messages;
    return Unsupported(info().backend + " models apply the chat template on the server");
  }

  // Mean-pooled final hidden state of `text` (see Embedding). kUnsupported
  // where the backend has no hidden states to give (endpoints).
  virtual Result<Embedding> Embed(std::string_view text) {
    (void)text;
    return Unsupported(info().backend + " models do not return embeddings here; use a local GGUF (--model)");
  }

  virtual Result<std::vector<int32_t>> Tokenize(std::string_view text, AddBos add_bos) = 0;
  virtual Result<std::string> Detokenize(std::span<const int32_t> tokens) = 0;
};

// Which model to open. Exactly one of gguf_path or endpoint.
struct ModelSpec {
  std::string gguf_path;
  std::string endpoint;      // "http://127.0.0.1:8080" (with or without /v1)
  std::string api_model;     // model name sent to the endpoint
  std::string api_key_env = "OPENAI_API_KEY";  // read at open time, never logged
  int threads = 0;           // 0 = the idle cores (core/threads.h ResolveThreads)
  int n_ctx = 0;             // 0 = the model's training context (capped at 4096)
  int n_gpu_layers = 0;      // layers offloaded when built with CUDA
  double timeout_seconds = 120;
  int max_retries = 3;       // endpoint retries on 429/5xx, with backoff
};

Result<std::unique_ptr<LanguageModel>> OpenModel(const ModelSpec& spec);

}  // namespace lmlab::runtime
