// New GGUF files made from an existing one, for controlled comparisons:
//
//   - a random-init twin: the same architecture, metadata and tokenizer, the
//     same tensors with the same names and shapes, but freshly initialised
//     weights (what a probe finds in it, it finds without anything learned);
//   - a quantised copy through llama.cpp's own quantiser (llama_model_quantize,
//     what `llama-quantize` runs), to see what F16, Q8_0 or Q4_K keep.
//
//   LMLAB_RETURN_IF_ERROR(WriteRandomInitGguf("m.gguf", "m-random.gguf", {.seed = 1}));
//   LMLAB_ASSIGN_OR_RETURN(QuantizeResult q, QuantizeGguf("m.gguf", "m-q8.gguf", QuantType::kQ8_0));
//
// Works for any architecture llama.cpp reads: the tensors are copied by name
// and shape, not by a list of llama's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab::runtime {

struct RandomInitOptions {
  uint64_t seed = 1;    // the same source and seed give the same bytes
  double stddev = 0.02; // matrices ~ N(0, stddev): the usual llama/GPT initialiser range
};

// Writes `dst` (atomically) with every key-value pair of `src` (tokenizer,
// hyperparameters, chat template; general.name gets " (random init)") and a
// tensor of the same name and shape for each of src's tensors:
//   - matrices and higher: N(0, stddev), attn_output / ffn_down further scaled
//     by 1/sqrt(2 * block_count) (GPT-2's residual scaling, as lmlab's trainer
//     initialises); F32 where the source tensor is F32, else F16 (a quantised
//     7B model's twin is ~13 GB, not 27);
//   - 1-D tensors: 1 for norm weights, 0 for the rest (biases);
//   - rope_* tensors (RoPE frequency factors, not learned) copied unchanged.
// Tensors are generated one at a time, so memory stays at one tensor.
// kNotFound / kParse as for reading a GGUF; kIoError when writing fails.
Status WriteRandomInitGguf(const std::filesystem::path& src, const std::filesystem::path& dst,
                           const RandomInitOptions& options);

enum class QuantType { kF32, kF16, kQ8_0, kQ4_K };
std::string_view QuantTypeName(QuantType t);  // "F32", "F16", "Q8_0", "Q4_K"
Result<QuantType> ParseQuantType(std::string_view name);

struct QuantizeResult {
  std::map<std::string, int64_t> tensor_types;  // ggml type name -> tensors of that type in dst
  int64_t fallback_tensors = 0;  // 2-D tensors of dst not of the requested type (llama.cpp's fallback
                                 // for rows not a multiple of the block: Q4_K needs 256, and takes Q5_0)
  uint64_t bytes = 0;            // size of dst
};

// Quantises `src` into `dst` (atomically) with llama.cpp's quantiser: Q4_K is
// llama.cpp's Q4_K_M mix. `threads` 0 = all cores. kInvalidArgument when
// src and dst are the same path; kInternal with llama.cpp's reason when it
// fails.
Result<QuantizeResult> QuantizeGguf(const std::filesystem::path& src, const std::filesystem::path& dst, QuantType type,
                                    int threads = 0);
// The same description for an existing file meant to be of `type` (e.g. one
// quantised earlier).
Result<QuantizeResult> DescribeQuantised(const std::filesystem::path& path, QuantType type);

}  // namespace lmlab::runtime
