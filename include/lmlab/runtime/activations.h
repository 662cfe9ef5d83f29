// Residual-stream activations of a local GGUF model: the output of every
// transformer block (llama.cpp's `l_out-<layer>` tensors) at chosen token
// positions, for many short prompts. Used by probe and ood.
//
// Layout: Activations::data is [n_prompts, n_layers, n_embd], row-major:
// component e of layer l for prompt p is data[(p * n_layers + l) * n_embd + e].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

enum class TokenPosition {
  kLast,  // the last token of each prompt (the entity's last token)
  kMean,  // the mean over the prompt's tokens (BOS excluded)
};

struct ActivationRequest {
  std::vector<std::string> prompts;
  TokenPosition position = TokenPosition::kLast;
  AddBos add_bos = AddBos::kYes;
  int batch_tokens = 512;  // prompts are packed into batches up to this many tokens
  ProgressCallback progress;
};

struct Activations {
  int64_t n_prompts = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  std::vector<float> data;  // [n_prompts, n_layers, n_embd]
  std::vector<int32_t> n_tokens;  // [n_prompts]: tokens of each prompt, BOS included

  const float* at(int64_t prompt, int64_t layer) const { return data.data() + (prompt * n_layers + layer) * n_embd; }
};

// A local model that can also report its activations.
class ActivationModel {
 public:
  virtual ~ActivationModel() = default;
  // kUnsupported when the model's graph has no l_out tensors;
  // kOutOfRange when a prompt is longer than the context.
  virtual Result<Activations> CaptureActivations(const ActivationRequest& request) = 0;
};

// Opens a GGUF model for activation capture (llama.cpp backend only).
Result<std::unique_ptr<ActivationModel>> OpenActivationModel(const ModelSpec& spec);

}  // namespace lmlab::runtime
