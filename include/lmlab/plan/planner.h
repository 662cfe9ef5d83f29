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
#include "lmlab/plan/model_shape.h"

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
// Epoch AI's hardware method (Sevilla et al. 2022, "Estimating Training
// Compute of Deep Learning Models"): recommended utilisation for LLMs.
inline constexpr double kEpochLlmUtilisation = 0.30;
// Default MFU sensitivity range: spans the public figures quoted in
// docs/plan.md (GPT-3 ~21%, PaLM ~46%).
inline constexpr double kDefaultMfuLow = 0.20;
inline constexpr double kDefaultMfuHigh = 0.50;

enum class Chinchilla { kOff, kOn };
enum class Recompute { kNone, kSelective, kFull };  // activation recomputation

struct ComputeRequest {
  std::optional<double> flops;   // total training FLOP
  std::optional<double> params;  // N
  std::optional<double> tokens;  // D
  Chinchilla chinchilla = Chinchilla::kOff;
  // From a model shape: training FLOPs per token (6 N_active + 12 L s d), used
  // instead of 6 N. MakePlan fills it (and params) from PlanRequest::model.
  std::optional<double> flops_per_token;
};

struct HardwareRequest {
  std::string device;                  // catalog id or alias; may be empty
  Precision precision = Precision::kBf16;
  Sparsity sparsity = Sparsity::kDense;
  std::optional<double> device_flops;  // sustained FLOP/s per device: overrides the peak
  std::optional<double> mfu;           // default: kDefaultMfu for a catalog peak,
                                       // 1.0 for --device-flops (already sustained)
  std::optional<double> memory_bytes;  // override the catalog
  std::optional<double> bandwidth_bytes_per_s;  // override the catalog
  std::optional<double> tdp_watts;     // override the catalog
  std::optional<double> price_per_hour;
  double pue = kDefaultPue;
};

// Transformer shape for the activation-memory estimate. With a model shape
// (PlanRequest::model) everything comes from it; otherwise missing fields are
// derived from N with the common aspect ratio d_model = 128 * n_layers and
// head size 128 (GPT-3 175B: 96 layers x 12288), with a plain 4 d MLP.
struct ShapeRequest {
  std::optional<int64_t> layers;
  std::optional<int64_t> hidden;
  std::optional<int64_t> heads;
  std::optional<int64_t> vocab;  // for the logits buffer when no model shape is given
  int64_t seq_len = 4096;
  int64_t micro_batch = 1;  // sequences per device per micro-step
  Recompute recompute = Recompute::kSelective;
  int64_t tensor_parallel = 1;    // activations split t ways (with sequence parallelism)
  int64_t pipeline_parallel = 1;  // stages; the first holds min(p, micro-batches) in flight (1F1B)
  int64_t micro_batches = 0;      // per step and pipeline; 0 = p (the 1F1B steady state)
};

// Epoch AI's second method: compute from hardware and time. With both
// devices and days given, MakePlan reports it beside the operation count.
struct HardwareTimeRequest {
  std::optional<int64_t> devices;
  std::optional<double> days;
  double mfu_low = kDefaultMfuLow;  // sensitivity range of the utilisation
  double mfu_high = kDefaultMfuHigh;
};

struct PlanRequest {
  ComputeRequest compute;
  HardwareRequest hardware;
  ShapeRequest shape;
  std::optional<ModelShape> model;  // a config.json or preset instead of bare N
  HardwareTimeRequest hardware_time;
  std::vector<int64_t> devices;  // solve: days for each device count
  std::vector<double> days;      // solve: devices needed for each deadline
};

struct ComputeEstimate {
  double flops = 0;
  std::optional<double> params;
  std::optional<double> tokens;
  std::optional<double> flops_per_token;  // when a model shape gave it
  std::string method;  // "given", "6ND", "chinchilla from N", "chinchilla from C", "model shape"
};

struct DeviceRate {
  std::string name;           // device name or "custom"
  std::string precision;      // "bf16"
  bool rate_given = false;    // true for --device-flops/--measure: already sustained
  double peak_flops = 0;      // per device, FLOP/s
  double mfu = 1.0;
  double sustained_flops = 0; // peak * mfu
  double memory_bytes = 0;    // 0 when unknown
  double bandwidth_bytes_per_s = 0;  // 0 when unknown
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
  int64_t pipeline_parallel = 1;
  int64_t in_flight = 1;                 // micro-batches the first stage holds
  bool shape_derived = false;            // true when derived from N
  std::string shape_name;                // the model shape's name, "" when derived
  double layer_activation_bytes = 0;     // all layers, one micro-batch, before splitting
  double logits_bytes = 0;               // fp32 logits for the loss (4 s b V / t); 0 when V unknown
  bool logits_counted = false;
  double first_stage_bytes = 0;          // L/p layers x in-flight micro-batches
  double last_stage_bytes = 0;           // L/p layers x 1 micro-batch + logits
  double activation_bytes = 0;           // per device: the larger stage
  std::optional<int64_t> min_devices;    // fully sharded (ZeRO-3/FSDP); needs memory
  std::string note;
};

// Epoch AI's two methods side by side.
struct EpochEstimate {
  std::optional<double> operations_flops;  // method 1: counting operations (6ND or the model shape)
  double hardware_flops = 0;               // method 2: devices x seconds x peak x utilisation
  int64_t devices = 0;
  double days = 0;
  double peak_flops = 0;
  double utilisation = 0;                  // --mfu, else Epoch's 30% for LLMs
  std::string utilisation_source;
  std::optional<double> geometric_mean;    // both methods
  std::optional<double> implied_mfu;       // operations / (devices x seconds x peak)
  double mfu_low = 0, mfu_high = 0;
  double hardware_flops_low = 0, hardware_flops_high = 0;  // method 2 over the MFU range
};

struct Plan {
  ComputeEstimate compute;
  DeviceRate rate;
  double device_seconds = 0;  // flops / sustained rate
  std::vector<Scenario> scenarios;
  std::optional<MemoryEstimate> memory;
  std::optional<ModelShape> model;
  std::optional<ParamCount> model_params;
  std::optional<EpochEstimate> epoch;
};

// Checks every value (positive, finite, consistent) and solves each scenario.
Result<Plan> MakePlan(const PlanRequest& request, const DeviceCatalog& catalog);

// Pieces, exposed for tests and for other modules.
Result<ComputeEstimate> EstimateCompute(const ComputeRequest& request);
Result<DeviceRate> ResolveRate(const HardwareRequest& request, const DeviceCatalog& catalog);
Scenario SolveDays(double flops, const DeviceRate& rate, int64_t devices);
Scenario SolveDevices(double flops, const DeviceRate& rate, double days);
// `model` (may be null) replaces the shape derived from N.
MemoryEstimate EstimateMemory(double params, const ShapeRequest& shape, double device_memory_bytes,
                              const ModelShape* model = nullptr);
// Activation bytes of one transformer layer for one micro-batch of s x b
// tokens at 16 bits (Korthikanti et al. 2022, generalised to GQA, gated MLPs
// and top-k MoE: a token's activations are counted for the k experts it
// visits, not all of them), before tensor-parallel splitting.
double LayerActivationBytes(const ModelShape& model, bool moe_layer, double s, double b, Recompute recompute);
EpochEstimate EstimateHardwareTime(std::optional<double> operations_flops, const DeviceRate& rate,
                                   std::optional<double> explicit_mfu, const HardwareTimeRequest& request);

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
