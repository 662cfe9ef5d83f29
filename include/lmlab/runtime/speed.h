// llama.cpp's prefill and decode speed on a local GGUF, measured the way
// llama-bench does (pp: one batch of prompt tokens; tg: tokens decoded one at
// a time after it), with no sampling or detokenizing in the timed loop.
// `lmlab plan infer --measure` compares these rates with the roofline bounds.
//
//   LMLAB_ASSIGN_OR_RETURN(SpeedResult s, MeasureSpeed("model.gguf", {.prompt_tokens = 128, .gen_tokens = 64}));
//   s.decode_tokens_per_second;  // median over repeats
#pragma once

#include <filesystem>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

struct SpeedOptions {
  int prompt_tokens = 128;  // prefill batch
  int gen_tokens = 64;      // decoded one at a time after the prompt
  int repeats = 3;          // timed runs after one untimed warm-up
  int threads = 0;          // 0 = all cores
  int n_gpu_layers = 0;
};

struct SpeedSample {
  double prefill_seconds = 0;  // prompt_tokens in one llama_decode call (split into n_batch chunks)
  double decode_seconds = 0;   // gen_tokens single-token llama_decode calls
};

struct SpeedResult {
  ModelInfo info;
  int prompt_tokens = 0;
  int gen_tokens = 0;
  int threads = 0;
  std::vector<SpeedSample> samples;     // one per timed repeat
  double prefill_tokens_per_second = 0;  // prompt_tokens / median prefill_seconds
  double decode_tokens_per_second = 0;   // gen_tokens / median decode_seconds
};

// kInvalidArgument for non-positive counts; the model's load errors otherwise.
Result<SpeedResult> MeasureSpeed(const std::filesystem::path& gguf, const SpeedOptions& options);

}  // namespace lmlab::runtime
