// A tiny llama-architecture GGUF with random weights and a small
// SentencePiece-style vocabulary, written by lmlab itself in milliseconds, so
// tests (and users smoke-testing a build: `lmlab model tiny tiny.gguf`) run
// real llama.cpp inference without downloading anything.
//
//   LMLAB_RETURN_IF_ERROR(WriteTinyModel("tiny.gguf", {}));          // ~600 KB
//   LMLAB_RETURN_IF_ERROR(WriteTinyModel("bench.gguf", {.n_embd = 256, .n_layer = 4, .n_ff = 768}));
//
// The same options and seed always give the same bytes. The text it generates
// is noise: the weights are random.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"
#include "lmlab/runtime/gguf_writer.h"

namespace lmlab::runtime {

// ChatML as a Jinja template, for TinyModelOptions::chat_template (llama.cpp
// recognizes it by its <|im_start|> markers).
inline constexpr std::string_view kChatmlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

struct TinyModelOptions {
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;     // fewer KV heads than heads: exercises grouped-query attention
  int64_t n_ff = 128;
  int64_t n_ctx_train = 256;
  int n_merges = 256;        // multi-character tokens learned from a built-in English text
  uint64_t seed = 1;         // weights are a pure function of the seed
  std::string chat_template; // "" = none, so callers exercise the fallback template
};

// The tiny vocabulary: <unk>, <s>, </s>, 256 byte tokens <0x00>..<0xFF>, "▁"
// and the printable ASCII characters, then `n_merges` merges learned by BPE
// from a built-in text, scored by rank (earlier merges score higher).
LlamaVocab TinyVocab(int n_merges);

// Writes the model atomically; kInvalidArgument for inconsistent options.
Status WriteTinyModel(const std::filesystem::path& path, const TinyModelOptions& options);

}  // namespace lmlab::runtime
