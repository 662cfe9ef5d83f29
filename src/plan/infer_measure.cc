#include "lmlab/plan/infer_measure.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "lmlab/core/parse.h"
#include "lmlab/runtime/gguf_reader.h"

namespace lmlab::plan {
namespace {

constexpr double kF16Bytes = 2.0;  // llama.cpp's default KV cache type
// The bandwidth buffer: as large as one token's reads, within these limits.
constexpr double kMinBufferBytes = 1 << 20;
constexpr double kMaxBufferBytes = 2.0 * (1ull << 30);

}  // namespace

Result<GgufServingShape> ReadGgufServingShape(const std::string& path) {
  LMLAB_ASSIGN_OR_RETURN(std::vector<runtime::GgufTensorInfo> tensors, runtime::ListGgufTensors(path));
  GgufServingShape s;
  std::set<int64_t> blocks;
  double embd_bytes = 0, embd_elements = 0;
  bool has_output = false;
  for (const runtime::GgufTensorInfo& t : tensors) {
    s.weight_bytes += static_cast<double>(t.n_bytes);
    double elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<double>(d);
    if (t.name.rfind("blk.", 0) == 0) {
      // "blk.12.attn_q.weight": the block number, checked (the file is outside input).
      if (Result<int64_t> block = ParseInt(std::string_view(t.name).substr(4, t.name.find('.', 4) - 4), "block number"))
        blocks.insert(*block);
    }
    if (t.name == "token_embd.weight" && t.shape.size() == 2) {
      s.hidden = t.shape[0];
      s.vocab = t.shape[1];
      embd_bytes = static_cast<double>(t.n_bytes);
      embd_elements = elements;
      continue;
    }
    if (t.name == "output.weight") has_output = true;
    if (t.name == "blk.0.attn_q.weight" && t.shape.size() == 2) s.q_dim = t.shape[1];
    if (t.name == "blk.0.attn_k.weight" && t.shape.size() == 2) s.kv_dim = t.shape[1];
    if (t.shape.size() >= 2) s.matmul_params += elements;
  }
  s.layers = static_cast<int64_t>(blocks.size());
  if (s.layers == 0 || s.hidden == 0 || s.q_dim == 0 || s.kv_dim == 0)
    return Unsupported(fmt::format("{}: not a transformer layout lmlab can read the shape of (needs token_embd, "
                                   "blk.N.attn_q and blk.N.attn_k tensors)",
                                   path));
  s.tied = !has_output;
  s.decode_weight_bytes = s.weight_bytes - embd_bytes;
  if (s.tied) {
    s.decode_weight_bytes += embd_bytes;
    s.matmul_params += embd_elements;
  }
  return s;
}

Result<InferMeasurement> MeasureInference(const InferMeasureOptions& o, const ProgressCallback& progress) {
  if (o.threads < 0) return InvalidArgument("`threads` must not be negative (0 = all cores)");
  if (o.prompt_tokens < 1 || o.gen_tokens < 1 || o.repeats < 1)
    return InvalidArgument("`measure_prompt`, `measure_tokens` and `measure_repeats` must be at least 1");
  InferMeasurement m;
  m.model_path = o.gguf_path;
  LMLAB_ASSIGN_OR_RETURN(m.shape, ReadGgufServingShape(o.gguf_path));
  const double layers = static_cast<double>(m.shape.layers);
  m.kv_bytes_per_token = 2.0 * layers * static_cast<double>(m.shape.kv_dim) * kF16Bytes;
  m.mean_decode_context = o.prompt_tokens + o.gen_tokens / 2.0;
  m.decode_bytes_per_token = m.shape.decode_weight_bytes + m.mean_decode_context * m.kv_bytes_per_token;
  m.decode_flops_per_token = 2.0 * m.shape.matmul_params +
                             4.0 * layers * m.mean_decode_context * static_cast<double>(m.shape.q_dim);
  const double p = o.prompt_tokens;
  m.prefill_flops = p * 2.0 * m.shape.matmul_params + 2.0 * layers * static_cast<double>(m.shape.q_dim) * p * p;

  Report(progress, {.stage = "measuring this machine", .done = 0, .total = 3, .unit = "steps"});
  const double buffer = std::clamp(m.decode_bytes_per_token, kMinBufferBytes, kMaxBufferBytes);
  // The bounds use as many threads as llama.cpp gets, so the two compare like for like.
  LMLAB_ASSIGN_OR_RETURN(m.bandwidth, MeasureReadBandwidth(buffer, 10, o.threads));
  Report(progress, {.stage = "measuring this machine", .done = 1, .total = 3, .unit = "steps"});
  LMLAB_ASSIGN_OR_RETURN(m.gemm, MeasureGemm(512, 5, o.threads));
  Report(progress, {.stage = "measuring this machine", .done = 2, .total = 3, .unit = "steps"});
  LMLAB_ASSIGN_OR_RETURN(m.measured, runtime::MeasureSpeed(o.gguf_path, {.prompt_tokens = o.prompt_tokens,
                                                                         .gen_tokens = o.gen_tokens,
                                                                         .repeats = o.repeats,
                                                                         .threads = o.threads}));
  Report(progress, {.stage = "measuring this machine", .done = 3, .total = 3, .unit = "steps"});

  const double by_memory = m.bandwidth.bytes_per_second / m.decode_bytes_per_token;
  const double by_compute = m.gemm.achieved_flops / m.decode_flops_per_token;
  m.decode_bound_tokens_per_s = std::min(by_memory, by_compute);
  m.decode_bound_by = by_memory <= by_compute ? "memory" : "compute";
  const double prefill_compute_s = m.prefill_flops / m.gemm.achieved_flops;
  const double prefill_memory_s = (m.shape.decode_weight_bytes + p * m.kv_bytes_per_token) / m.bandwidth.bytes_per_second;
  m.prefill_bound_tokens_per_s = p / std::max(prefill_compute_s, prefill_memory_s);
  m.prefill_bound_by = prefill_compute_s >= prefill_memory_s ? "compute" : "memory";
  m.decode_ratio = m.measured.decode_tokens_per_second / m.decode_bound_tokens_per_s;
  m.prefill_ratio = m.measured.prefill_tokens_per_second / m.prefill_bound_tokens_per_s;
  return m;
}

}  // namespace lmlab::plan
