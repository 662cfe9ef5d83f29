#include "lmlab/plan/inference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmlab/core/text.h"

namespace lmlab::plan {
namespace {

// Bits per element with block scales, from the block structs in ggml's
// ggml-common.h (bytes per block x 8 / elements per block).
struct StorageEntry {
  std::string_view name;
  double bits;
};
constexpr StorageEntry kStorageTypes[] = {
    {"f32", 32},     {"fp32", 32},      {"f16", 16},     {"fp16", 16},     {"bf16", 16},
    {"fp8", 8},      {"int8", 8},       {"int4", 4},     {"fp4", 4},
    {"q8_0", 8.5},   // 32 weights in 34 bytes
    {"q6_K", 6.5625},  // 256 in 210
    {"q5_K", 5.5},   // 256 in 176
    {"q5_1", 6.0},   // 32 in 24
    {"q5_0", 5.5},   // 32 in 22
    {"q4_K", 4.5},   // 256 in 144
    {"q4_1", 5.0},   // 32 in 20
    {"q4_0", 4.5},   // 32 in 18
    {"iq4_xs", 4.25},  // 256 in 136
    {"mxfp4", 4.25},   // 32 in 17
    {"q3_K", 3.4375},  // 256 in 110
    {"iq3_xxs", 3.0625},  // 256 in 98
    {"q2_K", 2.625},   // 256 in 84
    {"iq2_xxs", 2.0625},  // 256 in 66
};

bool PositiveFinite(double v) { return std::isfinite(v) && v > 0; }

// What one replica of `devices` devices does with a batch: the pieces every
// quantity of the plan is made of.
struct Replica {
  const ModelShape& model;
  const ParamCount& params;
  const DeviceRate& rate;
  double mbu = 1;
  double weight_bits = 16;
  double weight_bytes = 0;
  double kv_per_token = 0;
  int64_t prompt = 0, output = 0;
  int64_t chunk = 512;

  double full_context() const { return static_cast<double>(prompt + output); }
  // The cache grows from prompt to prompt + output while decoding: its mean.
  double mean_context() const { return static_cast<double>(prompt) + static_cast<double>(output) / 2.0; }

  // f32 intermediates of one layer per token (llama.cpp computes in f32): the
  // residual and normed input, Q/K/V, and the MLP's intermediate(s).
  double WorkingBytesPerToken() const {
    const double h = static_cast<double>(model.hidden);
    double f = model.moe() ? static_cast<double>(model.experts_per_token * model.expert_intermediate +
                                                 model.shared_expert_intermediate)
                           : static_cast<double>(model.intermediate);
    if (model.mlp == MlpKind::kGated) f *= 2;  // gate and up
    return 4.0 * (2 * h + static_cast<double>(model.q_dim() + 2 * model.kv_dim()) + f);
  }
  // Activations: the larger of a decode step for `batch` sequences (with
  // their logits and attention scores) and one prefill chunk.
  double ActivationBytes(double batch) const {
    const double v = static_cast<double>(model.vocab), a = static_cast<double>(model.heads);
    double decode = batch * (WorkingBytesPerToken() + 4 * v) + 4 * a * batch * full_context();
    double n = static_cast<double>(std::min(prompt, chunk));
    double prefill = n * WorkingBytesPerToken() + 4 * a * n * static_cast<double>(prompt) + 4 * v;
    return std::max(decode, prefill);
  }
  double MemoryBytes(double batch) const {
    return weight_bytes + batch * kv_per_token * full_context() + ActivationBytes(batch);
  }

  DecodePoint Decode(int64_t batch, int64_t devices) const {
    DecodePoint d;
    d.batch = batch;
    d.devices = devices;
    d.context = mean_context();
    const double b = static_cast<double>(batch), g = static_cast<double>(devices);
    d.bytes_per_step = DecodeWeightBytes(model, params, weight_bits, b) + b * d.context * kv_per_token;
    d.flops_per_step = b * ForwardFlopsPerToken(model, d.context);
    d.memory_seconds = d.bytes_per_step / (g * rate.bandwidth_bytes_per_s * mbu);
    d.compute_seconds = d.flops_per_step / (g * rate.sustained_flops);
    d.step_seconds = std::max(d.memory_seconds, d.compute_seconds);
    d.bound = d.compute_seconds > d.memory_seconds ? Bound::kCompute : Bound::kMemory;
    d.tokens_per_s_per_user = 1.0 / d.step_seconds;
    d.tokens_per_s = b / d.step_seconds;
    d.memory_bytes = MemoryBytes(b);
    d.fits = rate.memory_bytes <= 0 || d.memory_bytes <= g * rate.memory_bytes * (1 - kMemoryReserve);
    if (rate.price_per_hour > 0) d.usd_per_million = g * rate.price_per_hour / 3600.0 / d.tokens_per_s * 1e6;
    if (rate.tdp_watts > 0)
      d.kwh_per_million = g * rate.tdp_watts * rate.pue / d.tokens_per_s * 1e6 / 3.6e6;  // J -> kWh
    return d;
  }

  // The most sequences `devices` devices hold at full context (0: not even one).
  int64_t MaxBatch(int64_t devices) const {
    const double usable = static_cast<double>(devices) * rate.memory_bytes * (1 - kMemoryReserve);
    if (MemoryBytes(1) > usable) return 0;
    int64_t lo = 1, hi = 2;
    while (hi < (int64_t{1} << 40) && MemoryBytes(static_cast<double>(hi)) <= usable) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      (MemoryBytes(static_cast<double>(mid)) <= usable ? lo : hi) = mid;
    }
    return lo;
  }

  // The largest batch whose decode step stays within `seconds` (0: none).
  int64_t MaxBatchWithin(double seconds, int64_t devices, int64_t cap) const {
    if (cap < 1 || Decode(1, devices).step_seconds > seconds) return 0;
    int64_t lo = 1, hi = cap;
    if (Decode(hi, devices).step_seconds <= seconds) return hi;
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      (Decode(mid, devices).step_seconds <= seconds ? lo : hi) = mid;
    }
    return lo;
  }
};

}  // namespace

Result<StorageType> ParseStorageType(std::string_view name) {
  std::string want = Lower(name);
  for (const StorageEntry& e : kStorageTypes)
    if (Lower(e.name) == want) return StorageType{std::string(e.name), e.bits};
  return InvalidArgument(fmt::format("unknown storage type '{}' (known: {})", name, KnownStorageTypes()));
}

std::string KnownStorageTypes() {
  std::string out;
  for (const StorageEntry& e : kStorageTypes) out += (out.empty() ? "" : ", ") + std::string(e.name);
  return out;
}

std::string_view BoundName(Bound b) { return b == Bound::kMemory ? "memory" : "compute"; }

double DecodeWeightBytes(const ModelShape& m, const ParamCount& n, double bits, double batch) {
  const double v = static_cast<double>(m.vocab), h = static_cast<double>(m.hidden);
  // Every weight but the input table (a lookup of `batch` rows); tied, the
  // table is also the output head and is read whole.
  double matrices = n.total - n.vectors - n.embedding + (m.embeddings == Embeddings::kTied ? v * h : 0);
  if (m.moe()) {
    const double e = static_cast<double>(m.experts), k = static_cast<double>(m.experts_per_token);
    const double touched = e * (1.0 - std::pow(1.0 - k / e, batch));  // expected distinct experts per layer
    matrices -= static_cast<double>(m.moe_layers()) * (e - touched) * n.per_expert;
  }
  return matrices * bits / 8.0 + n.vectors * 4.0;
}

Result<InferencePlan> MakeInferencePlan(const InferenceRequest& r, const DeviceCatalog& catalog) {
  LMLAB_RETURN_IF_ERROR(ValidateShape(r.model));
  if (!(PositiveFinite(r.mbu) && r.mbu <= 1)) return InvalidArgument(fmt::format("`mbu` must be in (0, 1] (got {})", r.mbu));
  if (r.prompt_tokens < 1) return InvalidArgument("`prompt_tokens` must be at least 1");
  if (r.output_tokens < 1) return InvalidArgument("`output_tokens` must be at least 1");
  if (r.chunk_tokens < 1) return InvalidArgument("the prefill chunk must be at least 1 token");
  if (r.max_replica_devices < 1) return InvalidArgument("`max_replica_devices` must be at least 1");
  if (!PositiveFinite(r.latency_ms)) return InvalidArgument(fmt::format("`latency_ms` must be positive (got {})", r.latency_ms));
  if (r.users && *r.users < 1) return InvalidArgument(fmt::format("`users` must be at least 1 (got {})", *r.users));
  for (int64_t b : r.batches)
    if (b < 1) return InvalidArgument(fmt::format("`batch` values must be at least 1 (got {})", b));

  InferencePlan p;
  p.model = r.model;
  p.params = CountParams(r.model);
  HardwareRequest hw = r.hardware;
  hw.mfu = hw.mfu.value_or(1.0);  // a bound unless asked otherwise
  LMLAB_ASSIGN_OR_RETURN(p.rate, ResolveRate(hw, catalog));
  if (p.rate.bandwidth_bytes_per_s <= 0)
    return InvalidArgument("decode speed needs the device's memory bandwidth: name a catalog device or give `bandwidth_bytes_per_s`");
  if (p.rate.memory_bytes <= 0)
    return InvalidArgument("serving memory needs the device's memory: name a catalog device or give `memory_bytes`");
  p.mbu = r.mbu;
  LMLAB_ASSIGN_OR_RETURN(p.weight_type, ParseStorageType(r.weight_type));
  LMLAB_ASSIGN_OR_RETURN(p.kv_type, ParseStorageType(r.kv_type));
  p.prompt_tokens = r.prompt_tokens;
  p.output_tokens = r.output_tokens;
  p.weight_bytes = (p.params.total - p.params.vectors) * p.weight_type.bits / 8.0 + p.params.vectors * 4.0;
  p.kv_bytes_per_token = KvBytesPerToken(r.model, p.kv_type.bits / 8.0);
  p.kv_bytes_per_sequence = p.kv_bytes_per_token * static_cast<double>(r.prompt_tokens + r.output_tokens);
  p.usable_memory_per_device = p.rate.memory_bytes * (1 - kMemoryReserve);

  Replica rep{.model = p.model, .params = p.params, .rate = p.rate, .mbu = r.mbu, .weight_bits = p.weight_type.bits,
              .weight_bytes = p.weight_bytes, .kv_per_token = p.kv_bytes_per_token, .prompt = r.prompt_tokens,
              .output = r.output_tokens, .chunk = r.chunk_tokens};
  p.activation_bytes_batch1 = rep.ActivationBytes(1);
  p.min_devices = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(rep.MemoryBytes(1) / p.usable_memory_per_device)));
  p.max_batch = rep.MaxBatch(p.min_devices);
  const int64_t g0 = p.min_devices;
  const double g = static_cast<double>(g0);

  // Prefill: one prompt, all of it in flight at once, on a replica of `devices`.
  const double prompt = static_cast<double>(r.prompt_tokens);
  p.prefill_flops = prompt * 2.0 * p.params.matmul_active +
                    2.0 * static_cast<double>(p.model.layers) * static_cast<double>(p.model.q_dim()) * prompt * prompt;
  const double prefill_bytes = DecodeWeightBytes(p.model, p.params, p.weight_type.bits, prompt) + prompt * p.kv_bytes_per_token;
  auto prefill_seconds = [&](int64_t devices) {
    const double n = static_cast<double>(devices);
    return std::pair{p.prefill_flops / (n * p.rate.sustained_flops),
                     prefill_bytes / (n * p.rate.bandwidth_bytes_per_s * r.mbu)};
  };
  auto [prefill_compute, prefill_memory] = prefill_seconds(g0);
  p.prefill_seconds = std::max(prefill_compute, prefill_memory);
  p.prefill_bound = prefill_compute >= prefill_memory ? Bound::kCompute : Bound::kMemory;
  p.prefill_tokens_per_s = prompt / p.prefill_seconds;
  if (p.rate.price_per_hour > 0)
    p.usd_per_million_prompt = g * p.rate.price_per_hour / 3600.0 * p.prefill_seconds / prompt * 1e6;

  p.decode_batch1 = rep.Decode(1, g0);
  // Crossover: compute time minus memory time changes sign once as the batch
  // grows (memory time per sequence falls, compute time per sequence does not).
  auto crossover = [&](double kv_per_token) -> std::optional<double> {
    auto gap = [&](double b) {
      const double bytes = DecodeWeightBytes(p.model, p.params, p.weight_type.bits, b) + b * rep.mean_context() * kv_per_token;
      return b * ForwardFlopsPerToken(p.model, rep.mean_context()) / p.rate.sustained_flops -
             bytes / (p.rate.bandwidth_bytes_per_s * r.mbu);
    };
    if (gap(1) >= 0) return 1.0;
    if (gap(1e12) <= 0) return std::nullopt;
    double lo = 1, hi = 1e12;
    for (int i = 0; i < 200 && hi / lo > 1 + 1e-9; ++i) {
      double mid = std::sqrt(lo * hi);
      (gap(mid) >= 0 ? hi : lo) = mid;
    }
    return hi;
  };
  p.crossover_batch = crossover(p.kv_bytes_per_token);
  p.crossover_batch_weights_only = crossover(0);

  std::vector<int64_t> batches = r.batches;
  if (batches.empty()) {
    for (int64_t b : {1, 8, 32, 128})
      if (b <= p.max_batch) batches.push_back(b);
    if (p.crossover_batch && *p.crossover_batch <= static_cast<double>(p.max_batch))
      batches.push_back(static_cast<int64_t>(std::ceil(*p.crossover_batch)));
    if (p.max_batch > 0) batches.push_back(p.max_batch);
  }
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  for (int64_t b : batches) p.table.push_back(rep.Decode(b, g0));

  // Replica sizes: the smallest that holds the model, then powers of two
  // above it (tensor-parallel degrees), with ideal scaling.
  std::vector<int64_t> sizes{g0};
  for (int64_t size = 1; size <= r.max_replica_devices; size *= 2)
    if (size > g0) sizes.push_back(size);
  const double target = r.latency_ms / 1000.0;
  p.cheapest_latency_ms = r.latency_ms;
  for (int64_t size : sizes) {
    const int64_t batch = std::min(rep.MaxBatch(size), rep.MaxBatchWithin(target, size, int64_t{1} << 40));
    if (batch < 1) continue;
    DecodePoint d = rep.Decode(batch, size);
    auto per_device = [](const DecodePoint& x) { return x.tokens_per_s / static_cast<double>(x.devices); };
    if (p.cheapest.batch == 0 || per_device(d) > per_device(p.cheapest)) p.cheapest = d;
  }

  if (r.users) {
    ServingPlan s;
    s.users = *r.users;
    s.latency_ms = r.latency_ms;
    bool fits_somewhere = false;
    for (int64_t size : sizes) {
      const int64_t by_memory = rep.MaxBatch(size);
      fits_somewhere = fits_somewhere || by_memory >= 1;
      const int64_t by_latency = rep.MaxBatchWithin(target, size, int64_t{1} << 40);
      const int64_t batch = std::min(by_memory, by_latency);
      if (batch < 1) continue;
      const int64_t replicas = (s.users + batch - 1) / batch;
      if (s.feasible && replicas * size >= s.devices) continue;
      s.feasible = true;
      s.devices_per_replica = size;
      s.batch_per_replica = batch;
      s.replicas = replicas;
      s.devices = replicas * size;
      s.point = rep.Decode((s.users + replicas - 1) / replicas, size);
      s.note = replicas == 1                ? "one replica serves them all"
               : by_latency < by_memory ? "batch limited by the latency target"
                                        : "batch limited by memory";
    }
    if (s.feasible) {
      auto [compute, memory] = prefill_seconds(s.devices_per_replica);
      s.time_to_first_token_s = std::max(compute, memory);
    } else if (!fits_somewhere) {
      s.note = fmt::format("one sequence does not fit even {} devices", sizes.back());
    } else {
      s.note = fmt::format("even one sequence per replica of up to {} devices misses {} ms per token", sizes.back(),
                           r.latency_ms);
    }
    p.serving = s;
  }
  return p;
}

}  // namespace lmlab::plan
