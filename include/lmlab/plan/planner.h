// The training-compute planner: how many FLOPs a run takes, how long it runs
// on N devices (or how many devices finish it in D days), how much memory it
// needs, and what it costs in money and energy.
//
// Reference check (a widely quoted back-of-envelope for GPT-4): 1e24 FLOP at a
// sustained 1e14 FLOP/s per device is 1e10 device-seconds, so 1,000 devices
// take 115.7 days and 22,000 take 5.26 days.
//
//   PlanRequest r;
//   r.compute.flops = 1e24;
//   r.hardware.device_flops = 1e14;
//   r.devices = {1000, 22000};
//   LMLAB_ASSIGN_OR_RETURN(Plan p, MakePlan(r, catalog));
//   p.scenarios[0].days;  // 115.74
//
// Formulas and defaults, with sources, are in docs/plan.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/plan/device_catalog.h"

namespace lmlab::plan {

inline constexpr double kSecondsPerDay = 86400.0;
// Chinchilla (Hoffmann et al. 2022): compute-optimal tokens per parameter.
inline constexpr double kChinchillaTokensPerParam = 20.0;
// Training FLOPs per parameter per token: 2 forward + 4 backward (Kaplan et al. 2020).
inline constexpr double kFlopsPerParamToken = 6.0;
// Mixed-precision Adam: bf16 weights (2) + bf16 grads (2) + fp32 master
// weights (4) + Adam m (4) + Adam v (4) bytes per parameter.
inline constexpr double kTrainingBytesPerParam = 16.0;
// Default model FLOP utilisation when rates come from a datasheet peak.
inline constexpr double kDefaultMfu = 0.40;
inline constexpr double kDefaultPue = 1.2;
// Share of device memory the planner leaves for framework, buffers and
// fragmentation when it counts devices needed to hold a model.
inline constexpr double kMemoryReserve = 0.10;

enum class Chinchilla { kOff, kOn };
enum class Recompute { kNone, kSelective, kFull };  // activation recomputation

struct ComputeRequest {
  std::optional<double> flops;   // total training FLOP
  std::optional<double> params;  // N
  std::optional<double> tokens;  // D
  Chinchilla chinchilla = Chinchilla::kOff;
};

struct HardwareRequest {
  std::string device;                  // catalog id or alias; may be empty
  Precision precision = Precision::kBf16;
  Sparsity sparsity = Sparsity::kDense;
  std::optional<double> device_flops;  // sustained FLOP/s per device: overrides the peak
  std::optional<double> mfu;           // default: kDefaultMfu for a catalog peak,
                                       // 1.0 for --device-flops (already sustained)
  std::optional<double> memory_bytes;  // override the catalog
  std::optional<double> tdp_watts;     // override the catalog
  std::optional<double> price_per_hour;
  double pue = kDefaultPue;
};

// Transformer shape for the activation-memory estimate. Missing fields are
// derived from N with the common aspect ratio d_model = 128 * n_layers and
// head size 128 (GPT-3 175B: 96 layers x 12288).
struct ShapeRequest {
  std::optional<int64_t> layers;
  std::optional<int64_t> hidden;
  std::optional<int64_t> heads;
  int64_t seq_len = 4096;
  int64_t micro_batch = 1;  // sequences per device per micro-step
  Recompute recompute = Recompute::kSelective;
  int64_t tensor_parallel = 1;  // activations split t ways (with sequence parallelism)
};

struct PlanRequest {
  ComputeRequest compute;
  HardwareRequest hardware;
  ShapeRequest shape;
  std::vector<int64_t> devices;  // solve: days for each device count
  std::vector<double> days;      // solve: devices needed for each deadline
};

struct ComputeEstimate {
  double flops = 0;
  std::optional<double> params;
  std::optional<double> tokens;
  std::string method;  // "given", "6ND", "chinchilla from N", "chinchilla from C"
};

struct DeviceRate {
  std::string name;           // device name or "custom"
  std::string precision;      // "bf16"
  bool rate_given = false;    // true for --device-flops/--measure: already sustained
  double peak_flops = 0;      // per device, FLOP/s
  double mfu = 1.0;
  double sustained_flops = 0; // peak * mfu
  double memory_bytes = 0;    // 0 when unknown
  double tdp_watts = 0;       // 0 when unknown
  double price_per_hour = 0;  // 0 when unknown
  double pue = kDefaultPue;
};

struct Scenario {
  int64_t devices = 0;
  double seconds = 0;
  double days = 0;
  double device_hours = 0;
  std::optional<double> cost_usd;    // when a price is known
  std::optional<double> energy_kwh;  // facility energy, when a TDP is known
  enum class Solved { kDays, kDevices } solved = Solved::kDays;
  double target_days = 0;            // for kDevices: the deadline asked for
};

struct MemoryEstimate {
  double params = 0;
  double states_bytes = 0;               // weights + grads + Adam, 16 B/param
  int64_t layers = 0, hidden = 0, heads = 0, seq_len = 0, micro_batch = 0, tensor_parallel = 1;
  bool shape_derived = false;            // true when derived from N
  double activation_bytes = 0;           // per device, one micro-batch
  std::optional<int64_t> min_devices;    // fully sharded (ZeRO-3/FSDP); needs memory
  std::string note;
};

struct Plan {
  ComputeEstimate compute;
  DeviceRate rate;
  double device_seconds = 0;  // flops / sustained rate
  std::vector<Scenario> scenarios;
  std::optional<MemoryEstimate> memory;
};

// Checks every value (positive, finite, consistent) and solves each scenario.
Result<Plan> MakePlan(const PlanRequest& request, const DeviceCatalog& catalog);

// Pieces, exposed for tests and for other modules.
Result<ComputeEstimate> EstimateCompute(const ComputeRequest& request);
Result<DeviceRate> ResolveRate(const HardwareRequest& request, const DeviceCatalog& catalog);
Scenario SolveDays(double flops, const DeviceRate& rate, int64_t devices);
Scenario SolveDevices(double flops, const DeviceRate& rate, double days);
MemoryEstimate EstimateMemory(double params, const ShapeRequest& shape, double device_memory_bytes);

// A spreadsheet: days for each device count (rows) at each MFU (columns).
struct SweepTable {
  std::vector<int64_t> devices;
  std::vector<double> mfus;
  std::vector<std::vector<double>> days;  // [devices.size()][mfus.size()]
};
SweepTable MakeSweep(double flops, double peak_flops, const std::vector<int64_t>& devices,
                     const std::vector<double>& mfus);

// Days printed for people: one decimal from 10 days up, two below
// (115.7, 5.26), so the reference figures read as quoted.
std::string FormatDays(double days);

}  // namespace lmlab::plan
