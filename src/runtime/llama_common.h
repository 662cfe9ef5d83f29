// What the llama.cpp backends (llama_model.cc, llama_activations.cc) share:
// one-time backend setup, llama.cpp's log kept quiet but its last error kept
// for our messages, checked model loading, and RAII handles. Internal to
// src/runtime/: the only place that includes llama.h.
#pragma once

#include <filesystem>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"
#include "llama.h"

namespace lmlab::runtime::internal {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// llama_backend_init once per process, and llama.cpp's logging routed into a
// buffer (set LMLAB_LLAMA_LOG=1 to see it on stderr).
void EnsureLlamaBackend();

// kNotFound (no such file), kInvalidArgument (a directory), kIoError (cannot
// open) or kParse (does not start with "GGUF"): the checks before llama.cpp
// or ggml's gguf reader see a path, so their failures name the real problem.
Status CheckGgufFile(const std::filesystem::path& path);

// The last error line llama.cpp logged since the previous call ("" if none).
std::string TakeLlamaError();

// Loads a GGUF file (mmapped) after checking it exists and looks like GGUF,
// so a wrong path or file gives a message that says so. Errors:
// kNotFound (no file), kParse (not GGUF, truncated, unknown architecture:
// llama.cpp's own reason is appended).
Result<ModelPtr> LoadLlamaModel(const ModelSpec& spec);

// Context parameters from a spec: n_ctx (0 = the training context, capped at
// 4096), threads (0 = the idle cores, core/threads.h).
llama_context_params ContextParams(const ModelSpec& spec, const llama_model* model);

// Metadata for ModelInfo (chat_format is the chat formatter's to say).
ModelInfo DescribeModel(const llama_model* model, const ModelSpec& spec, int64_t n_ctx);

// Tokenizes `text`; BOS is prepended when add_bos is kYes and the vocabulary
// has one. parse_special: whether "<s>"-style text becomes control tokens.
enum class ParseSpecial { kNo, kYes };
Result<std::vector<llama_token>> TokenizeText(const llama_vocab* vocab, std::string_view text, AddBos add_bos,
                                              ParseSpecial parse_special);

// The text of one token, as generation emits it (control tokens render as "").
std::string TokenPiece(const llama_vocab* vocab, llama_token token);

// kOutOfRange with a message that says how to fix it.
std::unexpected<Error> ContextOverflow(int64_t n_tokens, int64_t n_ctx, std::string_view what);

}  // namespace lmlab::runtime::internal
