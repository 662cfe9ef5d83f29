// `lmlab plan infer`: what serving a model takes. Memory (weights at a chosen
// type, KV cache per token from layers x KV heads x head size, activations),
// prefill time (bound by FLOPs), decode tokens/s (bound by memory bandwidth at
// small batch and by FLOPs at large batch, with the crossover batch), devices
// to serve N concurrent users at a target time per token, and cost and energy
// per million tokens.
//
// Every rate is a roofline bound at `mbu` x peak bandwidth and `mfu` x peak
// FLOP/s (both 100% unless given): what no implementation beats. `plan infer
// --measure` sets a real llama.cpp run beside the bound on this machine.
//
//   InferenceRequest r;
//   r.model = *ResolveModelShape("llama-3-8b", "");
//   r.hardware.device = "h100";
//   LMLAB_ASSIGN_OR_RETURN(InferencePlan p, MakeInferencePlan(r, catalog));
//   p.decode_batch1.tokens_per_s_per_user;  // 3.35e12 B/s / ~16 GB per token
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/plan/device_catalog.h"
#include "lmlab/plan/model_shape.h"
#include "lmlab/plan/planner.h"

namespace lmlab::plan {

// A storage type for weights or the KV cache with its real size per element:
// llama.cpp's block formats carry their scales (q4_0: 32 weights in 18 bytes
// = 4.5 bits; q4_K: 256 in 144 = 4.5; q6_K: 210/256 bytes = 6.5625 bits).
struct StorageType {
  std::string name;  // "bf16", "q4_K", "fp8"
  double bits = 0;   // per element, scales included
};
Result<StorageType> ParseStorageType(std::string_view name);
std::string KnownStorageTypes();

enum class Bound { kMemory, kCompute };
std::string_view BoundName(Bound b);

struct InferenceRequest {
  ModelShape model;
  HardwareRequest hardware;       // device, precision of the compute peak, overrides; mfu default 1.0 here
  std::string weight_type = "bf16";
  std::string kv_type = "f16";
  double mbu = 1.0;               // share of peak bandwidth reached (1 = the bound)
  int64_t prompt_tokens = 1024;   // prefill length per request
  int64_t output_tokens = 256;    // decoded per request
  std::vector<int64_t> batches;   // rows of the batch table; empty = 1, 8, 32, 128, crossover, largest that fits
  std::optional<int64_t> users;   // concurrent users to serve
  double latency_ms = 50;         // target time per output token for each user (20 tokens/s)
  int64_t chunk_tokens = 512;     // prefill chunk (llama.cpp's n_ubatch) for the activation estimate
  // Largest tensor-parallel replica considered (one 8-GPU node), unless the
  // model needs more devices just to fit. Scaling within a replica is ideal.
  int64_t max_replica_devices = 8;
};

// One decode step of `batch` sequences on one replica of `devices` devices.
struct DecodePoint {
  int64_t batch = 0;
  int64_t devices = 0;             // in the replica (ideal tensor parallelism)
  double context = 0;              // mean tokens in each sequence's cache while decoding
  double bytes_per_step = 0;       // weights read (MoE: the experts the batch touches) + KV read
  double flops_per_step = 0;
  double memory_seconds = 0, compute_seconds = 0, step_seconds = 0;
  Bound bound = Bound::kMemory;
  double tokens_per_s_per_user = 0;
  double tokens_per_s = 0;         // whole replica
  double memory_bytes = 0;         // weights + KV at full context + activations
  bool fits = true;                // memory_bytes within the replica's usable memory
  std::optional<double> usd_per_million;  // output tokens
  std::optional<double> kwh_per_million;
};

struct ServingPlan {
  int64_t users = 0;
  double latency_ms = 0;
  bool feasible = false;
  int64_t devices_per_replica = 0;
  int64_t batch_per_replica = 0;   // the most one replica serves within the latency and its memory
  int64_t replicas = 0;
  int64_t devices = 0;
  DecodePoint point;               // at the batch each replica actually runs
  double time_to_first_token_s = 0;  // prefill of one prompt on a replica
  std::string note;                // why it is infeasible, or what limits the batch
};

struct InferencePlan {
  ModelShape model;
  ParamCount params;
  DeviceRate rate;
  double mbu = 1.0;
  StorageType weight_type, kv_type;
  int64_t prompt_tokens = 0, output_tokens = 0;
  double weight_bytes = 0;           // all weights (1-D ones at f32, as llama.cpp keeps them)
  double kv_bytes_per_token = 0;
  double kv_bytes_per_sequence = 0;  // at prompt + output tokens
  double activation_bytes_batch1 = 0;
  double usable_memory_per_device = 0;  // after the reserve
  int64_t min_devices = 0;           // smallest replica that holds weights, one sequence and activations
  int64_t max_batch = 0;             // sequences that replica holds at full context
  // Prefill of one prompt on the smallest replica.
  double prefill_flops = 0;
  double prefill_seconds = 0;
  Bound prefill_bound = Bound::kCompute;
  double prefill_tokens_per_s = 0;
  double usd_per_million_prompt = 0;  // 0 when no price; compute-bound prefill, any replica size
  DecodePoint decode_batch1;
  std::optional<double> crossover_batch;  // compute time = memory time; none when KV reads keep it memory-bound
  // The textbook figure: the same crossover counting weight reads only
  // (peak FLOP/s / bandwidth over 2 FLOP per weight for a dense bf16 model).
  std::optional<double> crossover_batch_weights_only;
  std::vector<DecodePoint> table;
  // The most output tokens per device-second over replica sizes (the
  // smallest that holds the model, then powers of two up to
  // max_replica_devices), each at the largest batch it holds within
  // latency_ms per token: the cheapest price per token the bound allows.
  DecodePoint cheapest;
  double cheapest_latency_ms = 0;
  std::optional<ServingPlan> serving;
};

Result<InferencePlan> MakeInferencePlan(const InferenceRequest& request, const DeviceCatalog& catalog);

// The bytes one decode step reads for `batch` sequences: the weights (input
// table excluded: a lookup), with MoE layers reading only the experts the
// batch routes to (uniform routing: E (1 - (1 - k/E)^B) distinct experts).
double DecodeWeightBytes(const ModelShape& model, const ParamCount& params, double bits_per_weight, double batch);

}  // namespace lmlab::plan
