// One probe experiment end to end: the single library entry that `lmlab probe
// run`, `lmlab probe ladder`, the quantisation study and the demo's probe
// section all call, so the same settings give the same numbers everywhere.
//
//   StudyOptions o;
//   o.model.gguf_path = "model.gguf";
//   o.dataset.source = "world-cities";           // or a CSV path, or o.dataset.data = ds
//   o.holdout = {"country"};
//   LMLAB_ASSIGN_OR_RETURN(ProbeReport r, RunStudy(o));
//   // r.headline: the best layer's test R^2 against the strongest control
//
// Steps: load the dataset; make the prompts under the protocol (protocol.h);
// capture the residual stream at every layer (cached per model and prompts,
// resumable, one chunk in memory at a time); fit a ridge probe per layer and
// score it on the test split; run the controls, on by default:
//   - shuffled targets: the same probe on permuted targets;
//   - random-init model: the same prompts through a model of the exact shape
//     and tokenizer with random weights (runtime/model_files.h; any GGUF);
//   - static embedding: the same probe on the mean of the model's own
//     token-embedding rows of each entity's tokens (what the name alone gives);
// and, when asked, the MLP probe, block hold-outs, prompt transfer and the
// neuron search. The headline is the gap to the strongest control.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/probe/experiment.h"
#include "lmlab/probe/protocol.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::probe {

enum class RandomModelControl { kOff, kOn };
enum class StaticEmbeddingControl { kOff, kOn };

struct StudyOptions {
  runtime::ModelSpec model;      // gguf_path: the GGUF probed (threads, n_ctx, n_gpu_layers apply to its twin too)
  DatasetSpec dataset;
  Protocol protocol = Protocol::kPaper;
  PromptTemplate prompt = PromptTemplate::kBare;
  std::vector<int64_t> layers;   // layers probed (empty = all)
  MlpControl mlp = MlpControl::kOff;
  ShuffleControl shuffle = ShuffleControl::kOn;
  RandomModelControl random_model = RandomModelControl::kOn;
  StaticEmbeddingControl static_embedding = StaticEmbeddingControl::kOn;
  std::optional<GridEdge> grid_edge;         // default: the protocol's (paper: keep; lmlab: extend)
  std::vector<std::string> holdout;          // group columns, one block hold-out each
  std::optional<HoldoutBaseline> holdout_baseline;  // default: the protocol's
  int64_t holdout_layer = -1;                // -1 = the sweep's best layer
  std::optional<PromptTemplate> cross_prompt;  // fit on `prompt`, test on this one
  int neurons = 0;                           // top-k per target for the neuron search (0 = off)
  std::vector<int64_t> neuron_layers;        // blocks whose MLP neurons to rank (empty = the best layer)
  std::filesystem::path cache_root;          // activations and random-init twins; "" = <cache>/probe
  StoreDtype dtype = StoreDtype::kFloat32;
  int64_t chunk_prompts = 256;
  uint64_t memory_cap_bytes = 0;             // bound on activation bytes held (0 = none); see CaptureOptions
  uint64_t seed = 0;                         // prompts, shuffles, folds, the random-init twin
  bool keep_directions = false;              // keep each layer's probe coefficients (report.sweep.directions)
  ProgressCallback progress;
  const std::atomic<bool>* cancel = nullptr;  // kCancelled after the current capture chunk
};

// kInvalidArgument for settings that cannot work (a hold-out column the
// dataset lacks, neuron layers the model lacks, ...), naming the setting;
// kCancelled when `cancel` was set (captured chunks are kept); the loaders',
// model's and fits' own errors otherwise.
Result<ProbeReport> RunStudy(const StudyOptions& options);

// The study's main capture sharded over processes (`probe run --slurm`):
// PlanStudyCapture names the cache entry RunStudy fills and writes its chunk
// plan; CaptureStudyChunk, in each array element, captures one chunk of it;
// RunStudy then assembles the entry from the chunks (activation_cache.h,
// PlanChunks). The controls' captures (random-init twin, cross prompt) stay
// with RunStudy. Errors as RunStudy's; a memory cap is kInvalidArgument.
struct StudyCapturePlan {
  std::filesystem::path entry;  // the cache entry RunStudy reads
  int64_t chunks = 0;           // 0: the entry is complete
};
Result<StudyCapturePlan> PlanStudyCapture(const StudyOptions& options);
Result<CaptureStats> CaptureStudyChunk(const StudyOptions& options, int64_t chunk);

// The ridge settings a study uses for a model of width n_embd.
RidgeOptions StudyRidge(Protocol protocol, int64_t n_embd, std::optional<GridEdge> edge = std::nullopt);

// Where a study keeps the random-init twin of `model` (under the cache root).
std::filesystem::path RandomTwinPath(const std::filesystem::path& cache_root, const std::filesystem::path& model,
                                     uint64_t seed);

}  // namespace lmlab::probe
