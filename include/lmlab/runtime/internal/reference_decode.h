// Reference measurements for bench/runtime_*_bench.cc: the plainest way to
// run the same work through llama.cpp's C API, so a benchmark can report
// lmlab's speed as a ratio against it in the same run. Implemented in
// src/runtime/ because only that module may include llama.h. Under internal/:
// for lmlab's own benchmarks and tests, not a stable API.
#pragma once

#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime::internal {

// Decodes each prompt (BOS + tokens) with plain llama_decode, packed like
// CaptureActivations packs them (whole prompts, one sequence each, up to
// batch_tokens per batch, logits at each prompt's last token), with no eval
// callback. Returns the seconds spent in decoding (tokenization excluded).
Result<double> PlainDecodeSeconds(const ModelSpec& spec, const std::vector<std::string>& prompts, int batch_tokens);

}  // namespace lmlab::runtime::internal
