// Activations for probing, cached on disk per model + dataset + prompt
// template as NumPy .npy files that Python users load directly:
//
//   <entry>/manifest.json     what is inside (model, dataset, template, shapes, dtype)
//   <entry>/prompts.json      the prompts, in row order
//   <entry>/layer_000.npy     [n_prompts, n_embd] float32 or float16, one file per layer
//
//   >>> np.load("layer_004.npy").shape   # (n_prompts, n_embd)
//
// Capture runs in chunks; each finished chunk is written atomically under
// <entry>/partial/, so an interrupted run (Ctrl-C, a crash, a full disk)
// resumes where it stopped. The layer files and the manifest are written only
// once every chunk exists, manifest last: a manifest means a complete entry.
//
//   CaptureOptions o{.dir = CacheEntryDir(root, model_path, "world", "bare", prompts)};
//   LMLAB_ASSIGN_OR_RETURN(LayerActivations acts, CaptureCached(model, prompts, o));
//   Eigen::MatrixXd x = acts.LayerMatrix(3);   // [n_prompts, n_embd]
//
// The MLP hidden activations of chosen blocks (for the neuron search) live in
// the same entry, one file per block, captured on demand (CaptureMlpCached):
//
//   <entry>/mlp_LLL.npy       [n_prompts, n_ff], the input of block L's ffn_down
//   <entry>/mlp.json          which blocks are there, for which prompts and dtype
#pragma once

#include <Eigen/Dense>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/runtime/activations.h"

namespace lmlab::probe {

// Activations laid out for probes: layer-major.
// Component e of prompt p at layer l is data[(l * n + p) * n_embd + e].
struct LayerActivations {
  int64_t n = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  std::vector<float> data;  // [n_layers, n, n_embd]

  const float* layer(int64_t l) const { return data.data() + l * n * n_embd; }
  Eigen::MatrixXd LayerMatrix(int64_t l) const;                                  // [n, n_embd]
  Eigen::MatrixXd LayerMatrix(int64_t l, const std::vector<int64_t>& rows) const;  // [rows, n_embd]
};

// Reorders runtime's [n_prompts, n_layers, n_embd] into layer-major.
LayerActivations ToLayerMajor(const runtime::Activations& a);

enum class StoreDtype { kFloat32, kFloat16 };

// ---- .npy files (format version 1.0, little-endian, C order) ---------------

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // float16 files are widened
};
// `data` holds product(shape) floats.
Status WriteNpy(const std::filesystem::path& path, const float* data, const std::vector<int64_t>& shape,
                StoreDtype dtype);
Result<NpyArray> ReadNpy(const std::filesystem::path& path);
// The same from bytes; `label` names them in errors.
Result<NpyArray> ParseNpy(std::string_view bytes, std::string_view label);

// IEEE half precision, round to nearest even.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

// ---- the cache ---------------------------------------------------------------

// <root>/<model stem>-<hash of path, size, mtime>/<dataset>-<template>-<hash of
// prompts, prefix tokens and position>. `prefix_tokens` is empty or [n_prompts][k]
// (runtime::ActivationRequest::prefix_tokens).
std::filesystem::path CacheEntryDir(const std::filesystem::path& root, const std::filesystem::path& model_path,
                                    const std::string& dataset, const std::string& prompt_template,
                                    const std::vector<std::string>& prompts,
                                    runtime::TokenPosition position = runtime::TokenPosition::kLast,
                                    const std::vector<std::vector<int32_t>>& prefix_tokens = {});

struct CaptureOptions {
  std::filesystem::path dir;          // the cache entry
  StoreDtype dtype = StoreDtype::kFloat32;
  int64_t chunk_prompts = 256;        // prompts per resumable chunk (fewer under memory_cap_bytes)
  int batch_tokens = 512;             // passed to the model (fewer under memory_cap_bytes)
  runtime::TokenPosition position = runtime::TokenPosition::kLast;
  // Token ids inserted after BOS before each prompt's tokens, [n_prompts][k]
  // or empty (the paper's random prompt); part of the cache key.
  std::vector<std::vector<int32_t>> prefix_tokens;
  // A bound on the activations lmlab holds while capturing, in bytes (0 =
  // none): the chunk size and the model's per-batch capture buffer are cut so
  // that one chunk (and its copy for the file) and one batch fit, and the
  // layer files are assembled from the chunk files one chunk at a time. The
  // model's weights and llama.cpp's compute buffers are not counted.
  uint64_t memory_cap_bytes = 0;
  ProgressCallback progress;
  const std::atomic<bool>* cancel = nullptr;  // set to stop after the current chunk (kCancelled)
  // Recorded in the manifest.
  std::string model;
  std::string dataset;
  std::string prompt_template;
};

struct CaptureStats {
  bool from_cache = false;     // a complete entry was found; the model was not run
  int64_t captured = 0;        // prompts run through the model now
  int64_t resumed = 0;         // prompts taken from chunks of an earlier run
  double capture_seconds = 0;  // time inside the model
};

// The shape of a complete cache entry.
struct CacheEntryInfo {
  std::filesystem::path dir;
  int64_t n = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  StoreDtype dtype = StoreDtype::kFloat32;
  uint64_t peak_bytes = 0;  // the most activation bytes held at once while capturing (0 when from the cache)
};

// Captures what is missing and completes the entry on disk, holding at most
// one chunk of activations in memory (see CaptureOptions::memory_cap_bytes).
// Errors as CaptureCached.
Result<CacheEntryInfo> CaptureToCache(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                      const CaptureOptions& options, CaptureStats* stats = nullptr);

// Returns the entry's activations, capturing what is missing. kCancelled
// when `cancel` was set (finished chunks are kept). Model errors (no l_out
// tensors, a prompt longer than the context) come back with the prompt range
// and leave no files of this run behind except finished chunks.
Result<LayerActivations> CaptureCached(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                       const CaptureOptions& options, CaptureStats* stats = nullptr);

// ---- a capture sharded over processes (probe run --slurm) -------------------
//
// One process plans the chunks, array elements (any process, any machine
// seeing the entry's file system) capture one chunk each into
// <entry>/partial/, and CaptureToCache then finds every chunk there and
// assembles the entry exactly as if it had captured them itself: the same
// chunks through the same model give the same bytes.
//
//   LMLAB_ASSIGN_OR_RETURN(int64_t chunks, PlanChunks(prompts, o));     // submitter
//   LMLAB_RETURN_IF_ERROR(CaptureOneChunk(model, prompts, o, c));      // element c < chunks
//   LMLAB_ASSIGN_OR_RETURN(CacheEntryInfo info, CaptureToCache(model, prompts, o));  // assembles

// Writes the entry's chunk plan (partial/plan.json; chunks of another plan
// are removed) and returns the number of chunks, 0 when the entry is already
// complete. kInvalidArgument with a memory cap (its chunk size depends on the
// model) or without prompts.
Result<int64_t> PlanChunks(const std::vector<std::string>& prompts, const CaptureOptions& options);
// Captures chunk `chunk` of the plan PlanChunks wrote, written atomically to
// ChunkFile; a chunk already there is kept (stats->resumed). kNotFound when
// the entry holds no plan for these prompts and chunk size.
Status CaptureOneChunk(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                       const CaptureOptions& options, int64_t chunk, CaptureStats* stats = nullptr);
// <entry>/partial/chunk_CCCCCC.npy: [chunk prompts, n_layers, n_embd] float32.
std::filesystem::path ChunkFile(const std::filesystem::path& entry, int64_t chunk);

// Loads a complete entry (kNotFound when there is no manifest).
Result<LayerActivations> LoadCacheEntry(const std::filesystem::path& dir);
// Reads a complete entry's manifest (kNotFound when there is none).
Result<CacheEntryInfo> ReadCacheEntryInfo(const std::filesystem::path& dir);

// ---- reading one layer at a time -----------------------------------------------

// Where experiments read activations from, a layer (or a block of rows of
// one) at a time, so that all layers never have to be in memory together.
class LayerSource {
 public:
  virtual ~LayerSource() = default;
  virtual int64_t rows() const = 0;    // entities (prompts)
  virtual int64_t layers() const = 0;
  virtual int64_t width() const = 0;   // n_embd
  // Rows [begin, end) of `layer` into out, [end - begin, width] row-major.
  virtual Status ReadRows(int64_t layer, int64_t begin, int64_t end, float* out) const = 0;
  // Rows `rows` of `layer` as doubles, [rows.size(), width].
  Result<Eigen::MatrixXd> Matrix(int64_t layer, const std::vector<int64_t>& rows) const;
  Result<Eigen::MatrixXd> Matrix(int64_t layer) const;  // every row
};

// Activations held in memory (borrowed; must outlive the source).
class InMemoryLayers final : public LayerSource {
 public:
  explicit InMemoryLayers(const LayerActivations& acts) : acts_(acts) {}
  int64_t rows() const override { return acts_.n; }
  int64_t layers() const override { return acts_.n_layers; }
  int64_t width() const override { return acts_.n_embd; }
  Status ReadRows(int64_t layer, int64_t begin, int64_t end, float* out) const override;

 private:
  const LayerActivations& acts_;
};

// A complete cache entry read from its layer files on demand (rows by offset:
// nothing is held between calls).
class CachedLayers final : public LayerSource {
 public:
  // kNotFound without a manifest; kParse when a layer file is missing or
  // does not match the manifest.
  static Result<CachedLayers> Open(const std::filesystem::path& dir);
  int64_t rows() const override { return info_.n; }
  int64_t layers() const override { return info_.n_layers; }
  int64_t width() const override { return info_.n_embd; }
  Status ReadRows(int64_t layer, int64_t begin, int64_t end, float* out) const override;
  const CacheEntryInfo& info() const { return info_; }

 private:
  CacheEntryInfo info_;
  std::vector<uint64_t> data_offset_;  // [n_layers]: where each file's data starts
};

// ---- MLP hidden activations ------------------------------------------------------

// The MLP hidden activations (runtime::Activations::mlp) of some blocks.
struct MlpActivations {
  int64_t n = 0;                         // prompts
  int64_t n_ff = 0;                      // neurons per block
  std::vector<int64_t> layers;           // the blocks held, ascending
  std::vector<std::vector<float>> data;  // [layers.size()]: data[i] is [n, n_ff] row-major, for block layers[i]

  // Block l's [n, n_ff] activations, or nullptr when it is not held.
  const float* layer(int64_t l) const;
};

// The MLP hidden activations of `layers` (n_prompts x n_ff floats each: ask
// only for the blocks you need) for the prompts of the cache entry
// options.dir, kept there as mlp_LLL.npy (options.dtype) next to the
// residual files. The key of a block's file is the entry (model, dataset,
// template, prompts, position), the block and the dtype, recorded in
// mlp.json; blocks recorded there for these prompts are loaded, the others
// captured in one pass over the prompts (runtime::ActivationStreams::kMlp,
// in chunks of options.chunk_prompts; not resumable: an interrupted pass
// keeps nothing). stats->from_cache is true when every block came from the
// entry. kInvalidArgument for an empty or negative `layers`; a block the
// model does not have comes back from the model as kInvalidArgument.
Result<MlpActivations> CaptureMlpCached(runtime::ActivationModel& model, const std::vector<std::string>& prompts,
                                        const std::vector<int64_t>& layers, const CaptureOptions& options,
                                        CaptureStats* stats = nullptr);

}  // namespace lmlab::probe
