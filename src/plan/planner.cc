#include "lmlab/plan/planner.h"

#include <cmath>
#include <fmt/format.h>

namespace lmlab::plan {
namespace {

bool PositiveFinite(double v) { return std::isfinite(v) && v > 0; }

// `option`: the request field, named as core/error.h says.
Status RequirePositive(std::optional<double> v, std::string_view option) {
  if (v && !PositiveFinite(*v))
    return InvalidArgument(fmt::format("`{}` must be a positive number (got {})", option, *v));
  return {};
}

int64_t RoundToMultiple(double v, int64_t m) {
  return std::max<int64_t>(m, static_cast<int64_t>(std::llround(v / m)) * m);
}

}  // namespace

Result<ComputeEstimate> EstimateCompute(const ComputeRequest& r) {
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.flops, "flops"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.params, "params"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.tokens, "tokens"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.flops_per_token, "flops_per_token"));
  ComputeEstimate e;
  if (r.flops_per_token) {
    // A model shape fixes N and the FLOPs per token; the tokens or the budget set the rest.
    if (!r.params) return InvalidArgument("a model shape needs its parameter count");
    e.params = r.params;
    e.flops_per_token = r.flops_per_token;
    if (r.chinchilla == Chinchilla::kOn) {
      if (r.tokens || r.flops)
        return InvalidArgument("`chinchilla` with a model shape derives the tokens from its parameters: drop `tokens` and `flops`");
      e.tokens = kChinchillaTokensPerParam * *r.params;
      e.flops = *r.flops_per_token * *e.tokens;
      e.method = "model shape, chinchilla (D = 20 N, C = FLOPs/token x D)";
    } else if (r.tokens && r.flops) {
      return InvalidArgument("with a model shape give `tokens` or `flops`, not both");
    } else if (r.tokens) {
      e.tokens = r.tokens;
      e.flops = *r.flops_per_token * *r.tokens;
      e.method = "model shape (6 N_active + 12 L s d per token)";
    } else if (r.flops) {
      e.flops = *r.flops;
      e.tokens = *r.flops / *r.flops_per_token;
      e.method = "given; tokens = C / FLOPs per token";
    } else {
      return InvalidArgument("with a model shape say how many tokens: `tokens` D, `flops` C or `chinchilla`");
    }
    return e;
  }
  if (r.chinchilla == Chinchilla::kOn) {
    if (r.tokens) return InvalidArgument("`chinchilla` derives `tokens`; give `params` or `flops`, not `tokens`");
    if (r.params && r.flops) return InvalidArgument("`chinchilla` takes `params` or `flops`, not both");
    if (r.params) {
      e.params = *r.params;
      e.tokens = kChinchillaTokensPerParam * *r.params;
      e.flops = kFlopsPerParamToken * *e.params * *e.tokens;
      e.method = "chinchilla from N (D = 20 N, C = 6 N D)";
    } else if (r.flops) {
      // C = 6 N D and D = 20 N  =>  N = sqrt(C / 120).
      e.flops = *r.flops;
      e.params = std::sqrt(*r.flops / (kFlopsPerParamToken * kChinchillaTokensPerParam));
      e.tokens = kChinchillaTokensPerParam * *e.params;
      e.method = "chinchilla from C (N = sqrt(C/120), D = 20 N)";
    } else {
      return InvalidArgument("`chinchilla` needs `params` or `flops`");
    }
    return e;
  }
  if (r.params.has_value() != r.tokens.has_value())
    return InvalidArgument("`params` and `tokens` go together (C = 6 N D); or add `chinchilla` to derive D");
  if (r.params && r.flops) return InvalidArgument("give either `flops` or `params` with `tokens`, not both");
  if (r.params) {
    e.params = *r.params;
    e.tokens = *r.tokens;
    e.flops = kFlopsPerParamToken * *r.params * *r.tokens;
    e.method = "6ND";
  } else if (r.flops) {
    e.flops = *r.flops;
    e.method = "given";
  } else {
    return InvalidArgument("say how much compute: `flops` C, or `params` N with `tokens` D, or `chinchilla`");
  }
  return e;
}

Result<DeviceRate> ResolveRate(const HardwareRequest& r, const DeviceCatalog& catalog) {
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.device_flops, "device_flops"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.memory_bytes, "memory_bytes"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.bandwidth_bytes_per_s, "bandwidth_bytes_per_s"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.tdp_watts, "tdp_watts"));
  LMLAB_RETURN_IF_ERROR(RequirePositive(r.price_per_hour, "price_per_hour"));
  if (r.mfu && !(std::isfinite(*r.mfu) && *r.mfu > 0 && *r.mfu <= 1))
    return InvalidArgument(fmt::format("`mfu` must be in (0, 1] (got {})", *r.mfu));
  if (!(std::isfinite(r.pue) && r.pue >= 1))
    return InvalidArgument(fmt::format("`pue` must be at least 1 (got {})", r.pue));

  DeviceRate rate;
  rate.precision = std::string(PrecisionName(r.precision));
  rate.pue = r.pue;
  const DeviceSpec* spec = nullptr;
  if (!r.device.empty()) {
    spec = catalog.Find(r.device);
    if (!spec) return NotFound("unknown device '" + r.device + "' (known: " + catalog.KnownIds() + ")");
    rate.name = spec->name;
    rate.memory_bytes = spec->memory_bytes;
    rate.bandwidth_bytes_per_s = spec->bandwidth_bytes_per_s;
    rate.tdp_watts = spec->tdp_watts;
    rate.price_per_hour = spec->price_per_hour;
  } else {
    rate.name = "custom";
  }
  if (r.device_flops) {
    // A user-given rate is what the device sustains; MFU applies only if asked.
    rate.peak_flops = *r.device_flops;
    rate.rate_given = true;
    rate.mfu = r.mfu.value_or(1.0);
  } else if (spec) {
    LMLAB_ASSIGN_OR_RETURN(rate.peak_flops, spec->PeakFlops(r.precision, r.sparsity));
    rate.mfu = r.mfu.value_or(kDefaultMfu);
    if (r.sparsity == Sparsity::kSparse24) rate.precision += " (2:4 sparse)";
  } else {
    return InvalidArgument("say which device: `device` (a catalog id) or `device_flops` (a sustained FLOP/s)");
  }
  if (r.memory_bytes) rate.memory_bytes = *r.memory_bytes;
  if (r.bandwidth_bytes_per_s) rate.bandwidth_bytes_per_s = *r.bandwidth_bytes_per_s;
  if (r.tdp_watts) rate.tdp_watts = *r.tdp_watts;
  if (r.price_per_hour) rate.price_per_hour = *r.price_per_hour;
  rate.sustained_flops = rate.peak_flops * rate.mfu;
  return rate;
}

namespace {
void FillCostEnergy(Scenario& s, const DeviceRate& rate) {
  s.device_hours = static_cast<double>(s.devices) * s.seconds / 3600.0;
  if (rate.price_per_hour > 0) s.cost_usd = s.device_hours * rate.price_per_hour;
  if (rate.tdp_watts > 0) s.energy_kwh = s.device_hours * rate.tdp_watts / 1000.0 * rate.pue;
}
}  // namespace

Scenario SolveDays(double flops, const DeviceRate& rate, int64_t devices) {
  Scenario s;
  s.devices = devices;
  s.seconds = flops / (rate.sustained_flops * static_cast<double>(devices));
  s.days = s.seconds / kSecondsPerDay;
  s.solved = Scenario::Solved::kDays;
  FillCostEnergy(s, rate);
  return s;
}

Scenario SolveDevices(double flops, const DeviceRate& rate, double days) {
  double device_seconds = flops / rate.sustained_flops;
  // Small epsilon: 1e10 device-seconds in exactly 115.74 days is 1000 devices, not 1001.
  auto devices = static_cast<int64_t>(std::ceil(device_seconds / (days * kSecondsPerDay) * (1 - 1e-12)));
  Scenario s = SolveDays(flops, rate, std::max<int64_t>(devices, 1));
  s.solved = Scenario::Solved::kDevices;
  s.target_days = days;
  return s;
}

double LayerActivationBytes(const ModelShape& m, bool moe_layer, double s, double b, Recompute recompute) {
  const double sb = s * b, h = static_cast<double>(m.hidden), a = static_cast<double>(m.heads);
  if (recompute == Recompute::kFull) return 2.0 * sb * h;  // only the layer input is kept
  // Korthikanti et al. 2022, section 4.1, in bytes per token at 16 bits (masks 1 byte):
  //   norms: 2 inputs x 2h
  //   attention: QKV input 2h, Q 2q, K and V 2kv each (kept for Q K^T and A V), output-projection
  //   input 2q, dropout mask h  (= 11h for MHA)
  //   MLP: input 2h, dropout mask h, plus 4f (plain: activation input and down input) or 6f
  //   (gated: gate and up outputs and their product)  (= 19h for a plain 4h MLP)
  // and 5 a s b bytes per token of attention scores, softmax and dropout, which
  // selective recomputation drops.
  const double q = static_cast<double>(m.q_dim()), kv = static_cast<double>(m.kv_dim());
  const double per_f = m.mlp == MlpKind::kGated ? 6.0 : 4.0;
  double per_token = 4 * h + (3 * h + 4 * q + 4 * kv);
  if (moe_layer) {
    // Top-k routing: each token's activations exist for the k experts it is
    // sent to (a dispatched copy of its input and the expert's own
    // intermediates), not for all E experts; plus fp32 router logits and the
    // shared expert when there is one.
    const double k = static_cast<double>(m.experts_per_token), fe = static_cast<double>(m.expert_intermediate);
    const double fs = static_cast<double>(m.shared_expert_intermediate);
    per_token += 3 * h + k * (2 * h + per_f * fe) + 4.0 * static_cast<double>(m.experts) + per_f * fs;
  } else {
    per_token += 3 * h + per_f * static_cast<double>(m.intermediate);
  }
  double bytes = sb * per_token;
  if (recompute == Recompute::kNone) bytes += 5.0 * a * s * s * b;
  return bytes;
}

MemoryEstimate EstimateMemory(double params, const ShapeRequest& shape, double device_memory_bytes,
                              const ModelShape* model) {
  MemoryEstimate m;
  m.params = params;
  m.states_bytes = kTrainingBytesPerParam * params;
  m.seq_len = shape.seq_len;
  m.micro_batch = shape.micro_batch;
  ModelShape derived;
  if (model) {
    derived = *model;
    m.shape_name = model->name;
  } else {
    // Derive a shape from N = 12 L d^2 with d = 128 L when it is not given.
    if (shape.hidden && shape.layers) {
      derived.hidden = *shape.hidden;
      derived.layers = *shape.layers;
    } else if (shape.hidden) {
      derived.hidden = *shape.hidden;
      derived.layers = std::max<int64_t>(1, std::llround(params / (12.0 * derived.hidden * derived.hidden)));
      m.shape_derived = true;
    } else if (shape.layers) {
      derived.layers = *shape.layers;
      derived.hidden = RoundToMultiple(std::sqrt(params / (12.0 * derived.layers)), 64);
      m.shape_derived = true;
    } else {
      double d = std::cbrt(128.0 * params / 12.0);
      derived.hidden = RoundToMultiple(d, 128);
      derived.layers = std::max<int64_t>(1, std::llround(d / 128.0));
      m.shape_derived = true;
    }
    derived.heads = shape.heads ? *shape.heads : std::max<int64_t>(1, derived.hidden / 128);
    derived.kv_heads = derived.heads;
    // The classic GPT shape the 34 s b h formula assumes: MHA, a plain 4d MLP.
    derived.head_dim = std::max<int64_t>(1, derived.hidden / derived.heads);
    derived.intermediate = 4 * derived.hidden;
    derived.mlp = MlpKind::kPlain;
    derived.vocab = shape.vocab.value_or(0);
  }
  m.layers = derived.layers;
  m.hidden = derived.hidden;
  m.heads = derived.heads;

  const double s = static_cast<double>(m.seq_len), b = static_cast<double>(m.micro_batch);
  const double t = static_cast<double>(shape.tensor_parallel);
  double all_layers = 0;
  for (int64_t i = 0; i < derived.layers; ++i) {
    bool moe_layer = derived.moe() && i >= derived.dense_layers;
    all_layers += LayerActivationBytes(derived, moe_layer, s, b, shape.recompute);
  }
  m.layer_activation_bytes = all_layers;
  // Tensor parallelism with sequence parallelism splits every term t ways
  // (Korthikanti et al. 2022, Table 2).
  m.tensor_parallel = shape.tensor_parallel;
  m.pipeline_parallel = shape.pipeline_parallel;
  const int64_t p = shape.pipeline_parallel;
  const int64_t micro_batches = shape.micro_batches > 0 ? shape.micro_batches : p;
  // 1F1B: the first stage starts p micro-batches before the first backward.
  m.in_flight = std::min(p, micro_batches);
  const double stage_layers = all_layers / static_cast<double>(p) / t;
  m.first_stage_bytes = stage_layers * static_cast<double>(m.in_flight);
  if (derived.vocab > 0) {
    // The loss needs the logits in fp32: 4 s b V bytes, split over t by the
    // vocabulary-parallel output layer (Korthikanti et al. 2022, section 4.3).
    m.logits_bytes = 4.0 * s * b * static_cast<double>(derived.vocab) / t;
    m.logits_counted = true;
  }
  m.last_stage_bytes = stage_layers + m.logits_bytes;
  m.activation_bytes = p == 1 ? stage_layers * static_cast<double>(m.in_flight) + m.logits_bytes
                              : std::max(m.first_stage_bytes, m.last_stage_bytes);
  if (device_memory_bytes > 0) {
    double usable = device_memory_bytes * (1.0 - kMemoryReserve) - m.activation_bytes;
    if (usable <= 0) {
      m.note = "one micro-batch of activations does not fit one device: use tensor/pipeline "
               "parallelism, a smaller micro-batch, or full recomputation";
    } else {
      m.min_devices = static_cast<int64_t>(std::ceil(m.states_bytes / usable));
    }
  }
  return m;
}

EpochEstimate EstimateHardwareTime(std::optional<double> operations_flops, const DeviceRate& rate,
                                   std::optional<double> explicit_mfu, const HardwareTimeRequest& r) {
  EpochEstimate e;
  e.operations_flops = operations_flops;
  e.devices = r.devices.value_or(0);
  e.days = r.days.value_or(0);
  e.peak_flops = rate.peak_flops;
  if (rate.rate_given && !explicit_mfu) {
    e.utilisation = 1.0;
    e.utilisation_source = "the given rate is already sustained";
  } else if (explicit_mfu) {
    e.utilisation = *explicit_mfu;
    e.utilisation_source = "--mfu";
  } else {
    e.utilisation = kEpochLlmUtilisation;
    e.utilisation_source = "Epoch AI's recommendation for LLMs";
  }
  const double device_seconds = static_cast<double>(e.devices) * e.days * kSecondsPerDay;
  e.hardware_flops = device_seconds * e.peak_flops * e.utilisation;
  e.mfu_low = r.mfu_low;
  e.mfu_high = r.mfu_high;
  e.hardware_flops_low = device_seconds * e.peak_flops * r.mfu_low;
  e.hardware_flops_high = device_seconds * e.peak_flops * r.mfu_high;
  if (operations_flops) {
    e.geometric_mean = std::sqrt(*operations_flops * e.hardware_flops);
    e.implied_mfu = *operations_flops / (device_seconds * e.peak_flops);
  }
  return e;
}

Result<Plan> MakePlan(const PlanRequest& request, const DeviceCatalog& catalog) {
  Plan plan;
  ComputeRequest compute = request.compute;
  const ShapeRequest& shape = request.shape;
  if (request.model) {
    LMLAB_RETURN_IF_ERROR(ValidateShape(*request.model));
    if (compute.params) return InvalidArgument("give `params` or a model shape (`preset` or `model_config`), not both");
    if (shape.layers || shape.hidden || shape.heads || shape.vocab)
      return InvalidArgument("`layers`, `hidden`, `heads` and `vocab` come from the model shape; drop them");
    plan.model = request.model;
    plan.model_params = CountParams(*request.model);
    compute.params = plan.model_params->total;
    if (shape.seq_len > 0) compute.flops_per_token = TrainingFlopsPerToken(*request.model, static_cast<double>(shape.seq_len));
  }
  const HardwareTimeRequest& hw_time = request.hardware_time;
  if (hw_time.devices.has_value() != hw_time.days.has_value())
    return InvalidArgument("Epoch's hardware method needs both `run_devices` and `run_days`");
  if (hw_time.devices && *hw_time.devices <= 0)
    return InvalidArgument(fmt::format("`run_devices` must be positive (got {})", *hw_time.devices));
  if (hw_time.days && !PositiveFinite(*hw_time.days))
    return InvalidArgument(fmt::format("`run_days` must be a positive number (got {})", *hw_time.days));
  if (!(hw_time.mfu_low > 0 && hw_time.mfu_low <= hw_time.mfu_high && hw_time.mfu_high <= 1))
    return InvalidArgument(fmt::format("`mfu_range` must be two values with 0 < low <= high <= 1 (got {}, {})",
                                       hw_time.mfu_low, hw_time.mfu_high));
  const bool hardware_only = hw_time.devices && !compute.flops && !compute.tokens &&
                             compute.chinchilla == Chinchilla::kOff && (!compute.params || request.model);
  LMLAB_ASSIGN_OR_RETURN(plan.rate, ResolveRate(request.hardware, catalog));
  if (hardware_only) {
    // Only Epoch's second method has inputs: it becomes the compute.
    EpochEstimate e = EstimateHardwareTime(std::nullopt, plan.rate, request.hardware.mfu, hw_time);
    compute.flops = e.hardware_flops;
    compute.chinchilla = Chinchilla::kOff;
    if (compute.flops_per_token) {
      LMLAB_ASSIGN_OR_RETURN(plan.compute, EstimateCompute(compute));
    } else {
      compute.params.reset();
      LMLAB_ASSIGN_OR_RETURN(plan.compute, EstimateCompute(compute));
    }
    plan.compute.method = "Epoch hardware method (devices x time x peak x utilisation)";
    plan.epoch = e;
  } else {
    LMLAB_ASSIGN_OR_RETURN(plan.compute, EstimateCompute(compute));
    if (hw_time.devices) plan.epoch = EstimateHardwareTime(plan.compute.flops, plan.rate, request.hardware.mfu, hw_time);
  }
  for (int64_t n : request.devices)
    if (n <= 0) return InvalidArgument(fmt::format("`devices` must be positive (got {})", n));
  for (double d : request.days)
    if (!PositiveFinite(d)) return InvalidArgument(fmt::format("`days` must be a positive number (got {})", d));
  for (auto [v, flag] : {std::pair{shape.layers, "layers"}, {shape.hidden, "hidden"}, {shape.heads, "heads"},
                         {shape.vocab, "vocab"}})
    if (v && *v <= 0) return InvalidArgument(fmt::format("`{}` must be positive (got {})", flag, *v));
  if (shape.seq_len <= 0) return InvalidArgument("`seq_len` must be positive");
  if (shape.micro_batch <= 0) return InvalidArgument("`micro_batch` must be positive");
  if (shape.tensor_parallel <= 0) return InvalidArgument("`tensor_parallel` must be positive");
  if (shape.pipeline_parallel <= 0) return InvalidArgument("`pipeline_parallel` must be positive");
  if (shape.micro_batches < 0) return InvalidArgument("`micro_batches` must not be negative (0 = pipeline stages)");
  if (shape.hidden && shape.heads && *shape.hidden % *shape.heads != 0)
    return InvalidArgument(fmt::format("`heads` ({}) must divide `hidden` ({})", *shape.heads, *shape.hidden));
  if (request.model && shape.pipeline_parallel > request.model->layers)
    return InvalidArgument(fmt::format("`pipeline_parallel` ({}) exceeds the model's {} layers", shape.pipeline_parallel,
                                       request.model->layers));

  plan.device_seconds = plan.compute.flops / plan.rate.sustained_flops;
  for (int64_t n : request.devices) plan.scenarios.push_back(SolveDays(plan.compute.flops, plan.rate, n));
  for (double d : request.days) plan.scenarios.push_back(SolveDevices(plan.compute.flops, plan.rate, d));
  if (plan.compute.params)
    plan.memory = EstimateMemory(*plan.compute.params, shape, plan.rate.memory_bytes,
                                 request.model ? &*request.model : nullptr);
  return plan;
}

SweepTable MakeSweep(double flops, double peak_flops, const std::vector<int64_t>& devices,
                     const std::vector<double>& mfus) {
  SweepTable t{devices, mfus, {}};
  for (int64_t n : devices) {
    std::vector<double> row;
    for (double mfu : mfus) row.push_back(flops / (peak_flops * mfu * static_cast<double>(n)) / kSecondsPerDay);
    t.days.push_back(std::move(row));
  }
  return t;
}

std::string FormatDays(double days) {
  return days >= 10 ? fmt::format("{:.1f}", days) : fmt::format("{:.2f}", days);
}

}  // namespace lmlab::plan
