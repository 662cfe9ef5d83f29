// `lmlab plan infer --measure`: llama.cpp's prefill and decode speed on a
// local GGUF beside the roofline bounds for this machine. The bounds use
// this machine's own measured rates: read bandwidth over a buffer the size of
// what one decoded token reads (so a model that fits the caches is bounded by
// cache bandwidth, one that does not by DRAM) and an fp32 GEMM's FLOP/s.
//
//   LMLAB_ASSIGN_OR_RETURN(InferMeasurement m, MeasureInference({.gguf_path = "model.gguf"}, progress));
//   m.decode_ratio;  // measured / bound decode tokens/s
#pragma once

#include <cstdint>
#include <string>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/core/cpu_measure.h"
#include "lmlab/runtime/speed.h"

namespace lmlab::plan {

struct InferMeasureOptions {
  std::string gguf_path;
  int prompt_tokens = 128;
  int gen_tokens = 64;
  int repeats = 3;
  int threads = 0;  // 0 = all cores
};

// What the GGUF's tensors say: enough for the bounds, no metadata needed.
struct GgufServingShape {
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t vocab = 0;
  int64_t q_dim = 0;              // attn_q output width
  int64_t kv_dim = 0;             // attn_k output width (KV heads x head size)
  double weight_bytes = 0;        // every tensor's bytes in the file
  double decode_weight_bytes = 0; // what one decoded token reads: all but the input table (unless tied)
  double matmul_params = 0;       // elements of the matrices a token multiplies
  bool tied = false;              // no output.weight: the input table is the output head
};
Result<GgufServingShape> ReadGgufServingShape(const std::string& gguf_path);

struct InferMeasurement {
  std::string model_path;
  GgufServingShape shape;
  double kv_bytes_per_token = 0;         // f16 cache, llama.cpp's default
  double mean_decode_context = 0;        // prompt + gen/2
  double decode_bytes_per_token = 0;     // weights + KV at the mean context
  double decode_flops_per_token = 0;
  double prefill_flops = 0;
  BandwidthMeasurement bandwidth;
  GemmMeasurement gemm;
  runtime::SpeedResult measured;
  double decode_bound_tokens_per_s = 0;  // min(bandwidth / bytes, GEMM rate / FLOPs)
  std::string decode_bound_by;           // "memory" or "compute"
  double prefill_bound_tokens_per_s = 0;
  std::string prefill_bound_by;
  double decode_ratio = 0;               // measured / bound
  double prefill_ratio = 0;
};

Result<InferMeasurement> MeasureInference(const InferMeasureOptions& options, const ProgressCallback& progress);

}  // namespace lmlab::plan
