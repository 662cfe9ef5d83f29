// Reads tensors back out of a GGUF file without loading the model: the list
// of tensors (name, shape, ggml type) and any one vector or matrix as floats.
// The counterpart of gguf_writer.h; probe's neuron search reads MLP weights
// (ffn_up, ffn_down, ffn_norm) through it. Parsing is ggml's own (gguf.h);
// only the requested tensor's bytes are read. F32, F16, BF16 and the
// quantised types ggml can dequantise (Q4_0, Q8_0, Q4_K, IQ*, ...) are
// returned as floats; integer and F64 tensors are kUnsupported.
//
//   LMLAB_ASSIGN_OR_RETURN(GgufMatrix down, ReadGgufMatrix("m.gguf", "blk.2.ffn_down.weight"));
//   float w = down.at(r, c);  // row r holds the ne0 contiguous values of ggml row r
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::runtime {

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order (shape[0] is contiguous); trailing 1s dropped, at least one
  uint32_t type = 0;           // ggml type id: 0 = F32, 1 = F16, 8 = Q8_0, 12 = Q4_K, ...
  std::string type_name;       // ggml's name for it: "f32", "f16", "q8_0", "q4_K"
  uint64_t n_bytes = 0;        // size of its data in the file
};

// A 1-D or 2-D tensor as floats: [rows, cols] = [ne1, ne0] (a vector is one
// row), row-major, so row r is ggml row r (for a weight that maps n_embd
// inputs to n_ff outputs, shape [n_embd, n_ff], row o holds output o's weights).
struct GgufMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  // [rows, cols]

  float at(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * cols + c)]; }
};

// Every tensor's name, shape and type, in file order. kNotFound: no such
// file; kParse: not GGUF, an unsupported GGUF version, or a malformed or
// truncated header (ggml's reason is appended).
Result<std::vector<GgufTensorInfo>> ListGgufTensors(const std::filesystem::path& path);

// One tensor as floats (quantised types dequantised). Errors as for
// ListGgufTensors, plus kNotFound when the file has no tensor of that name,
// kUnsupported for tensors of 3 or more dimensions or a type ggml cannot
// convert to floats, and kParse when the tensor's data runs past the end of
// the file (a truncated download).
Result<GgufMatrix> ReadGgufMatrix(const std::filesystem::path& path, const std::string& name);

}  // namespace lmlab::runtime
