// Owning handles for ggml's gguf API and one checked way to open a GGUF
// header, shared by runtime's GGUF reader, writer and model-file tools
// (internal to src/runtime/).
#pragma once

#include <filesystem>
#include <memory>

#include "ggml.h"
#include "gguf.h"
#include "lmlab/core/error.h"

namespace lmlab::runtime::internal {

struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
struct GgmlFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;
using GgmlPtr = std::unique_ptr<ggml_context, GgmlFree>;

struct GgufHeader {
  GgufPtr gguf;
  GgmlPtr meta;  // the tensors' metadata (no data), when asked for
};

// Parses the key-value pairs and tensor infos of a GGUF file (no tensor data
// is read). Errors: kNotFound (no file), kParse (not GGUF, or a malformed,
// truncated or unsupported header; ggml's reason appended).
Result<GgufHeader> OpenGgufHeader(const std::filesystem::path& path, bool with_meta = false);

}  // namespace lmlab::runtime::internal
