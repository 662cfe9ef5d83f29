// The llama forward graph in ggml, shared by training (differentiated) and
// ForwardLogits (evaluated). Private to src/train/.
//
// It reproduces llama.cpp's LLM_ARCH_LLAMA inference graph (non-flash path):
// RMSNorm * weight, Q/K/V projections, RoPE in NORM mode (rope type 0, what
// llama.cpp uses for LLAMA) on Q and K, softmax(K^T Q / sqrt(head_dim) +
// causal mask), V-weighted sum, output projection, residual; RMSNorm, SwiGLU
// FFN (silu(gate) * up, down), residual; final RMSNorm and output head.
// Attention reads the K and V just computed (not a KV cache), so attn_k and
// attn_v get gradients.
#pragma once

#include <vector>

#include "ggml.h"
#include "lmlab/train/model.h"

namespace lmlab::train::internal {

struct LayerWeights {
  ggml_tensor *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *down, *up;
};

struct GraphWeights {
  ggml_tensor* tok_embd = nullptr;
  std::vector<LayerWeights> layers;
  ggml_tensor* out_norm = nullptr;
  ggml_tensor* output = nullptr;
  std::vector<ggml_tensor*> all;  // in runtime::LlamaTensorLayout order (= Model::tensors order)
};

// Creates (unallocated when ctx is no_alloc) F32 weight tensors named as in llama.cpp.
GraphWeights CreateWeights(ggml_context* ctx, const ModelConfig& config);

struct GraphInputs {
  int64_t n_tokens = 0;  // T, tokens per sequence
  int64_t n_seqs = 0;    // B, sequences in the batch
  ggml_tensor* tokens = nullptr;  // I32 [T * B]: sequence b occupies [b*T, (b+1)*T)
  ggml_tensor* pos = nullptr;     // I32 [T]: 0..T-1, RoPE positions
  ggml_tensor* mask = nullptr;    // F32 [T, T]: 0 where key <= query, -inf above
};

GraphInputs CreateInputs(ggml_context* ctx, int64_t n_tokens, int64_t n_seqs);
// Writes pos and mask (their tensors must be allocated in host memory).
void FillPositionsAndMask(const GraphInputs& in);

// Logits [n_vocab, T * B].
ggml_tensor* BuildLogits(ggml_context* ctx, const ModelConfig& config, const GraphWeights& w, const GraphInputs& in);

// Bytes of tensor metadata a context needs for a graph of this config.
size_t GraphContextBytes(const ModelConfig& config);
size_t GraphNodes(const ModelConfig& config);

}  // namespace lmlab::train::internal
