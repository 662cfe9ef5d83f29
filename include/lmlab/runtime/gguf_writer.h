// Writes llama-architecture GGUF files that llama.cpp loads: hyperparameters,
// a SentencePiece-style ("llama") vocabulary and F32 weights. Used to export
// models trained by lmlab (train) and to make the tiny test model
// (tiny_model.h) without downloads.
//
//   LlamaHparams hp{.n_vocab = 600, .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 4, .n_ff = 128};
//   std::vector<GgufTensor> tensors;
//   for (const TensorShape& s : LlamaTensorLayout(hp))   // every tensor llama.cpp expects
//     tensors.push_back({s.name, s.shape, weights_for(s)});
//   LMLAB_RETURN_IF_ERROR(WriteLlamaGguf("model.gguf", hp, vocab, tensors));
//
// Shapes are in ggml order: shape[0] is the contiguous dimension. A weight
// matrix that maps n_embd inputs to n_ff outputs is [n_embd, n_ff]; element
// (i, o) is data[o * n_embd + i] (row o of a row-major [n_ff][n_embd] array,
// the same layout as PyTorch's nn.Linear weight).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::runtime {

// Hyperparameters of llama.cpp's "llama" architecture (GGUF keys llama.*).
struct LlamaHparams {
  std::string name = "lmlab";   // general.name
  int64_t n_vocab = 0;          // must equal the vocabulary's size
  int64_t n_ctx_train = 256;    // llama.context_length
  int64_t n_embd = 64;          // llama.embedding_length
  int64_t n_layer = 2;          // llama.block_count
  int64_t n_head = 4;           // llama.attention.head_count; divides n_embd
  int64_t n_head_kv = 4;        // llama.attention.head_count_kv; divides n_head (GQA)
  int64_t n_ff = 128;           // llama.feed_forward_length
  float rms_norm_eps = 1e-5f;   // llama.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // llama.rope.freq_base
  std::string chat_template;    // tokenizer.chat_template (Jinja); "" = none
};

// SentencePiece token types (the values GGUF stores in tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, </s>: never produced by tokenizing plain text
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,         // <0x00>..<0xFF>: byte fallback for characters not in the vocabulary
};

// A SentencePiece-style vocabulary (tokenizer.ggml.model = "llama"). Spaces
// are written as U+2581 ("▁") inside tokens. Higher scores merge first.
struct LlamaVocab {
  std::vector<std::string> tokens;  // [n_vocab]
  std::vector<float> scores;        // [n_vocab]
  std::vector<TokenType> types;     // [n_vocab]
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;              // -1 = none
  bool add_bos = true;              // tokenizer.ggml.add_bos_token
};

// One named F32 tensor. `data` is borrowed for the duration of the write.
struct GgufTensor {
  std::string name;                 // "blk.0.attn_q.weight"
  std::vector<int64_t> shape;       // ggml order, 1 to 4 dimensions
  std::span<const float> data;      // product(shape) values
};

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;  // ggml order
};

// The tensors llama.cpp's llama architecture reads, in file order:
// token_embd [n_embd, n_vocab]; per block attn_norm [n_embd], attn_q
// [n_embd, n_embd], attn_k/attn_v [n_embd, n_embd/n_head*n_head_kv],
// attn_output [n_embd, n_embd], ffn_norm [n_embd], ffn_gate/ffn_up
// [n_embd, n_ff], ffn_down [n_ff, n_embd]; output_norm [n_embd]; output
// [n_embd, n_vocab] (optional in a file: llama.cpp then ties it to token_embd).
std::vector<TensorShape> LlamaTensorLayout(const LlamaHparams& hp);

// Checks hyperparameters and vocabulary for consistency (sizes, head counts,
// special ids in range). kInvalidArgument says what is wrong.
Status ValidateLlama(const LlamaHparams& hp, const LlamaVocab& vocab);

// Writes a GGUF file atomically (a temporary file renamed into place): a
// reader sees the old file or the whole new one. The tensors must be exactly
// LlamaTensorLayout(hp) (any order; "output.weight" may be left out), each
// with its shape; anything else is kInvalidArgument.
Status WriteLlamaGguf(const std::filesystem::path& path, const LlamaHparams& hp, const LlamaVocab& vocab,
                      std::span<const GgufTensor> tensors);

}  // namespace lmlab::runtime
