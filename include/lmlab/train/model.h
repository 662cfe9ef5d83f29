// lmlab's own llama-architecture model: its shape, its weights as plain named
// F32 arrays, a forward pass in ggml that computes what llama.cpp computes at
// inference, and export to a GGUF file that stock llama.cpp loads.
//
//   ModelConfig c{.n_vocab = tok.size(), .n_ctx = 128, .n_embd = 256, .n_layer = 4, .n_head = 4};
//   LMLAB_RETURN_IF_ERROR(ValidateConfig(c));
//   Model m = InitModel(c, tok.vocab(), /*seed=*/1);
//   LMLAB_ASSIGN_OR_RETURN(std::vector<float> logits, ForwardLogits(m, tokens));  // [n_tokens, n_vocab]
//   LMLAB_RETURN_IF_ERROR(ExportGguf(m, "model.gguf"));
//
// Tensor names and layouts are llama.cpp's (runtime/gguf_writer.h): shape[0]
// is the contiguous dimension; a matrix mapping n_in inputs to n_out outputs
// is [n_in, n_out] and element (i, o) is data[o * n_in + i].
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/gguf_writer.h"

namespace lmlab::train {

struct ModelConfig {
  int64_t n_vocab = 0;       // tokenizer size
  int64_t n_ctx = 128;       // training window (llama.context_length)
  int64_t n_embd = 256;      // width
  int64_t n_layer = 4;
  int64_t n_head = 4;        // divides n_embd; head size must be even (RoPE)
  int64_t n_ff = 0;          // 0 = 8/3 * n_embd rounded up to a multiple of 32 (SwiGLU convention)
  float rms_norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
};

// kInvalidArgument with the reason (e.g. "`n_head` 3 does not divide `n_embd` 256").
Status ValidateConfig(const ModelConfig& config);
// n_ff after applying the default.
int64_t FeedForwardSize(const ModelConfig& config);
runtime::LlamaHparams ToHparams(const ModelConfig& config);

struct NamedTensor {
  std::string name;            // llama.cpp name, "blk.0.attn_q.weight"
  std::vector<int64_t> shape;  // ggml order
  std::vector<float> data;     // product(shape) values
};

struct Model {
  ModelConfig config;
  runtime::LlamaVocab vocab;
  std::vector<NamedTensor> tensors;  // in runtime::LlamaTensorLayout order, output.weight included

  const NamedTensor* Find(std::string_view name) const;
  int64_t NumParams() const;
};

// Model FLOPs of training on one token (forward and backward, the
// Chinchilla/PaLM count): 6 x the parameters that take part in matrix
// products (every matrix but token_embd, a row lookup; norm gains left out)
// plus 12 x layers x n_ctx x width for the attention scores and their
// weighted sum (forward 2 products of n_ctx x width per token and layer,
// backward twice that; the full n_ctx x n_ctx scores, as computed before
// the causal mask). What model-FLOP utilisation counts: recomputation and
// other overhead are not model FLOPs.
double TrainingFlopsPerToken(const ModelConfig& config);

// Fresh weights: matrices ~ N(0, 0.02), the two residual output projections
// (attn_output, ffn_down) scaled down by 1/sqrt(2 n_layer) (GPT-2), norms 1.
// The same config and seed give the same weights.
Model InitModel(const ModelConfig& config, const runtime::LlamaVocab& vocab, uint64_t seed);

// Logits for every position of `tokens` (at most n_ctx of them), through the
// same ggml graph the trainer differentiates: shape [n_tokens, n_vocab].
Result<std::vector<float>> ForwardLogits(const Model& model, std::span<const int32_t> tokens, int threads = 0);

// Writes a GGUF that llama.cpp loads (runtime::WriteLlamaGguf), atomically.
Status ExportGguf(const Model& model, const std::filesystem::path& path);

}  // namespace lmlab::train
