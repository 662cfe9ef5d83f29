#include "lmlab/runtime/gguf_reader.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string_view>

#include "ggml.h"
#include "gguf.h"
#include "runtime/gguf_handles.h"
#include "runtime/llama_common.h"  // ggml's log routed into a buffer, so its reason can go in our errors

namespace lmlab::runtime {
namespace {

using internal::GgufPtr;

Result<GgufPtr> OpenHeader(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(internal::GgufHeader h, internal::OpenGgufHeader(path));
  return std::move(h.gguf);
}

GgufTensorInfo Describe(const gguf_context* ctx, int64_t id) {
  GgufTensorInfo t;
  t.name = gguf_get_tensor_name(ctx, id);
  const int64_t* ne = gguf_get_tensor_ne(ctx, id);
  int dims = GGML_MAX_DIMS;
  while (dims > 1 && ne[dims - 1] == 1) --dims;
  t.shape.assign(ne, ne + dims);
  const ggml_type type = gguf_get_tensor_type(ctx, id);
  t.type = static_cast<uint32_t>(type);
  t.type_name = ggml_type_name(type);
  t.n_bytes = gguf_get_tensor_size(ctx, id);
  return t;
}

}  // namespace

namespace internal {

Result<GgufHeader> OpenGgufHeader(const std::filesystem::path& path, bool with_meta) {
  LMLAB_RETURN_IF_ERROR(CheckGgufFile(path));
  EnsureLlamaBackend();  // routes ggml's log (gguf's errors) into our buffer
  TakeLlamaError();
  ggml_context* meta = nullptr;
  gguf_init_params params{.no_alloc = true, .ctx = with_meta ? &meta : nullptr};
  GgufHeader h;
  h.gguf.reset(gguf_init_from_file(path.c_str(), params));
  h.meta.reset(meta);
  if (!h.gguf || (with_meta && !h.meta)) {
    const std::string why = TakeLlamaError();
    return ParseError(fmt::format("{}: malformed, truncated or unsupported GGUF header{}{}", path.string(),
                                  why.empty() ? "" : ": ", why));
  }
  return h;
}

}  // namespace internal

Result<std::vector<GgufTensorInfo>> ListGgufTensors(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(GgufPtr ctx, OpenHeader(path));
  std::vector<GgufTensorInfo> out;
  const int64_t n = gguf_get_n_tensors(ctx.get());
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(Describe(ctx.get(), i));
  return out;
}

Result<GgufMatrix> ReadGgufMatrix(const std::filesystem::path& path, const std::string& name) {
  LMLAB_ASSIGN_OR_RETURN(GgufPtr ctx, OpenHeader(path));
  const int64_t id = gguf_find_tensor(ctx.get(), name.c_str());
  if (id < 0) return NotFound(fmt::format("{} has no tensor named {}", path.string(), name));
  const GgufTensorInfo t = Describe(ctx.get(), id);
  if (t.shape.size() > 2)
    return Unsupported(fmt::format("{} has {} dimensions; only vectors and matrices are read", name, t.shape.size()));
  const auto type = static_cast<ggml_type>(t.type);
  const ggml_type_traits* traits = ggml_get_type_traits(type);
  if (type != GGML_TYPE_F32 && (traits == nullptr || traits->to_float == nullptr))
    return Unsupported(fmt::format("{} has ggml type {}, which cannot be converted to floats", name, t.type_name));

  const int64_t cols = t.shape[0], rows = t.shape.size() == 2 ? t.shape[1] : 1;
  const size_t row_bytes = ggml_row_size(type, cols);
  if (row_bytes * static_cast<size_t>(rows) != t.n_bytes)
    return Internal(fmt::format("{}: tensor {} is {} bytes, expected {} rows of {}", path.string(), name, t.n_bytes,
                                rows, row_bytes));
  const uint64_t begin = gguf_get_data_offset(ctx.get()) + gguf_get_tensor_offset(ctx.get(), id);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return IoError(fmt::format("cannot stat {}: {}", path.string(), ec.message()));
  if (begin + t.n_bytes > file_size)
    return ParseError(
        fmt::format("{}: tensor {} runs past the end of the file (bytes {} to {} of a {}-byte file); "
                    "the file is truncated",
                    path.string(), name, begin, begin + t.n_bytes, file_size));

  std::vector<char> bytes(t.n_bytes);
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(begin));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) return IoError(fmt::format("cannot read tensor {} from {}", name, path.string()));

  GgufMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.data.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const char* src = bytes.data() + static_cast<size_t>(r) * row_bytes;
    float* dst = m.data.data() + static_cast<size_t>(r * cols);
    if (type == GGML_TYPE_F32) {
      std::memcpy(dst, src, row_bytes);
    } else {
      traits->to_float(src, dst, cols);
    }
  }
  return m;
}

}  // namespace lmlab::runtime
