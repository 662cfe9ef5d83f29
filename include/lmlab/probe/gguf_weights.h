// Reads one weight matrix out of a GGUF file, for the neuron search: which
// MLP neurons' input or output weights align with a probe direction. Only
// F32 and F16 tensors (what lmlab's own models and unquantised exports hold);
// quantised tensors are kUnsupported with a message saying so.
//
//   LMLAB_ASSIGN_OR_RETURN(Eigen::MatrixXd down, ReadGgufMatrix("m.gguf", "blk.2.ffn_down.weight"));
//   // down is [ne1, ne0]: row r holds the ne0 contiguous values of ggml row r.
#pragma once

#include <Eigen/Dense>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::probe {

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] is contiguous
  uint32_t type = 0;           // ggml type id (0 = F32, 1 = F16)
};

// Every tensor's name, shape and type (kParse for a file that is not GGUF v2/v3).
Result<std::vector<GgufTensorInfo>> ListGgufTensors(const std::filesystem::path& path);

// A 1-D or 2-D tensor as a matrix [ne1, ne0] (1-D: [1, ne0]). kNotFound when
// the name is absent, kUnsupported for types other than F32/F16.
Result<Eigen::MatrixXd> ReadGgufMatrix(const std::filesystem::path& path, const std::string& name);

}  // namespace lmlab::probe
