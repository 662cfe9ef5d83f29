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
  ComputeEstimate e;
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

MemoryEstimate EstimateMemory(double params, const ShapeRequest& shape, double device_memory_bytes) {
  MemoryEstimate m;
  m.params = params;
  m.states_bytes = kTrainingBytesPerParam * params;
  m.seq_len = shape.seq_len;
  m.micro_batch = shape.micro_batch;
  // Derive a shape from N = 12 L d^2 with d = 128 L when it is not given.
  if (shape.hidden && shape.layers) {
    m.hidden = *shape.hidden;
    m.layers = *shape.layers;
  } else if (shape.hidden) {
    m.hidden = *shape.hidden;
    m.layers = std::max<int64_t>(1, std::llround(params / (12.0 * m.hidden * m.hidden)));
    m.shape_derived = true;
  } else if (shape.layers) {
    m.layers = *shape.layers;
    m.hidden = RoundToMultiple(std::sqrt(params / (12.0 * m.layers)), 64);
    m.shape_derived = true;
  } else {
    double d = std::cbrt(128.0 * params / 12.0);
    m.hidden = RoundToMultiple(d, 128);
    m.layers = std::max<int64_t>(1, std::llround(d / 128.0));
    m.shape_derived = true;
  }
  m.heads = shape.heads ? *shape.heads : std::max<int64_t>(1, m.hidden / 128);
  // Activation bytes per layer for one micro-batch, 16-bit activations, from
  // Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
  // Transformer Models"): s b h (34 + 5 a s / h) without recomputation, 34 s b h
  // with selective recomputation, 2 s b h (the layer input) with full.
  double s = static_cast<double>(m.seq_len), b = static_cast<double>(m.micro_batch);
  double h = static_cast<double>(m.hidden), a = static_cast<double>(m.heads);
  double per_layer = 0;
  switch (shape.recompute) {
    case Recompute::kNone: per_layer = s * b * h * (34.0 + 5.0 * a * s / h); break;
    case Recompute::kSelective: per_layer = 34.0 * s * b * h; break;
    case Recompute::kFull: per_layer = 2.0 * s * b * h; break;
  }
  // Tensor parallelism with sequence parallelism splits every term t ways
  // (Korthikanti et al. 2022, Table 2).
  m.tensor_parallel = shape.tensor_parallel;
  m.activation_bytes = per_layer * static_cast<double>(m.layers) / static_cast<double>(shape.tensor_parallel);
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

Result<Plan> MakePlan(const PlanRequest& request, const DeviceCatalog& catalog) {
  Plan plan;
  LMLAB_ASSIGN_OR_RETURN(plan.compute, EstimateCompute(request.compute));
  LMLAB_ASSIGN_OR_RETURN(plan.rate, ResolveRate(request.hardware, catalog));
  for (int64_t n : request.devices)
    if (n <= 0) return InvalidArgument(fmt::format("`devices` must be positive (got {})", n));
  for (double d : request.days)
    if (!PositiveFinite(d)) return InvalidArgument(fmt::format("`days` must be a positive number (got {})", d));
  const ShapeRequest& shape = request.shape;
  for (auto [v, flag] : {std::pair{shape.layers, "layers"}, {shape.hidden, "hidden"}, {shape.heads, "heads"}})
    if (v && *v <= 0) return InvalidArgument(fmt::format("`{}` must be positive (got {})", flag, *v));
  if (shape.seq_len <= 0) return InvalidArgument("`seq_len` must be positive");
  if (shape.micro_batch <= 0) return InvalidArgument("`micro_batch` must be positive");
  if (shape.tensor_parallel <= 0) return InvalidArgument("`tensor_parallel` must be positive");
  if (shape.hidden && shape.heads && *shape.hidden % *shape.heads != 0)
    return InvalidArgument(fmt::format("`heads` ({}) must divide `hidden` ({})", *shape.heads, *shape.hidden));

  plan.device_seconds = plan.compute.flops / plan.rate.sustained_flops;
  for (int64_t n : request.devices) plan.scenarios.push_back(SolveDays(plan.compute.flops, plan.rate, n));
  for (double d : request.days) plan.scenarios.push_back(SolveDevices(plan.compute.flops, plan.rate, d));
  if (plan.compute.params) plan.memory = EstimateMemory(*plan.compute.params, shape, plan.rate.memory_bytes);
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
