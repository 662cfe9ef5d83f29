// Training checkpoints: weights, AdamW moments, the vocabulary, the step and
// what identifies the run (seed, schedule length, batch, lr, a hash of the
// token stream). Private to src/train/.
//
// File layout: "LMLABCK1", u64 n, n bytes of JSON (everything but arrays of
// floats and the token texts), then each token as u32 length + bytes, then
// the weights, m and v of every tensor as little-endian F32, in
// Model::tensors order. Written with WriteFileAtomic: a run killed while
// writing leaves the previous checkpoint intact.
#pragma once

#include <filesystem>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/train/trainer.h"

namespace lmlab::train::internal {

struct Checkpoint {
  Model model;
  std::vector<std::vector<float>> m, v;  // AdamW moments, per tensor
  int64_t step = 0;                      // steps done
  int64_t total_steps = 0;
  int64_t batch = 0;
  uint64_t seed = 0;
  float lr = 0;
  uint64_t data_hash = 0;
  std::vector<double> losses;  // [step]
  std::vector<EpochStats> epochs;
  double initial_val_loss = 0;
};

Status WriteCheckpoint(const std::filesystem::path& path, const Checkpoint& c);
// kParse (naming the file) when the file is not a complete checkpoint.
Result<Checkpoint> ReadCheckpoint(const std::filesystem::path& path);

}  // namespace lmlab::train::internal
