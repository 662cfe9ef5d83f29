// Residual-stream activations of a local GGUF model: the output of every
// transformer block (llama.cpp's `l_out-<layer>` tensors) at chosen token
// positions, for many short prompts. Used by probe and ood. Optionally also
// the MLP hidden activations of chosen blocks: the n_ff-wide vector each
// block feeds into its down projection (llama.cpp's `ffn_swiglu-<layer>`,
// act(gate) * up, for llama's SwiGLU), for neuron-level analyses.
//
// Layout: Activations::data is [n_prompts, n_layers, n_embd], row-major:
// component e of layer l for prompt p is data[(p * n_layers + l) * n_embd + e].
// Activations::mlp[l] is [n_prompts, n_ff] for each requested block l.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/core/progress.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

enum class TokenPosition {
  kLast,  // the last token of each prompt (the entity's last token)
  kMean,  // the mean over the prompt's tokens (BOS excluded)
};

// Which activations to capture.
enum class ActivationStreams {
  kResidual,        // the residual stream after every block (Activations::data)
  kResidualAndMlp,  // that, and the MLP hidden activations of ActivationRequest::mlp_layers
  kMlp,             // only the MLP hidden activations (Activations::data stays empty)
};

struct ActivationRequest {
  std::vector<std::string> prompts;
  TokenPosition position = TokenPosition::kLast;
  AddBos add_bos = AddBos::kYes;
  int batch_tokens = 512;  // prompts are packed into batches up to this many tokens
  ProgressCallback progress;
  ActivationStreams streams = ActivationStreams::kResidual;
  // With kResidualAndMlp or kMlp: the blocks whose MLP hidden activations to
  // capture, each in [0, n_layers) (kInvalidArgument otherwise; must not be
  // empty; repeats are ignored). Each costs n_prompts x n_ff floats (a 7B
  // llama: 11008 x 4 bytes = 43 KB per prompt and block), so ask only for
  // the blocks you need. Ignored with kResidual.
  std::vector<int64_t> mlp_layers;
  // Optional: token ids inserted after BOS and before each prompt's own
  // tokens, [n_prompts][k] (Gurnee & Tegmark's "random" prompt puts ten
  // random token ids there). Empty = none; otherwise one list per prompt, each
  // id in [0, n_vocab) (kInvalidArgument otherwise).
  std::vector<std::vector<int32_t>> prefix_tokens;
};

struct Activations {
  int64_t n_prompts = 0;
  int64_t n_layers = 0;
  int64_t n_embd = 0;
  std::vector<float> data;        // [n_prompts, n_layers, n_embd]; empty with ActivationStreams::kMlp
  std::vector<int32_t> n_tokens;  // [n_prompts]: tokens of each prompt, BOS included
  // MLP hidden activations, pooled over tokens like `data` (the last token,
  // or the mean without BOS). n_ff is 0 when no MLP stream was requested
  // (or there were no prompts).
  int64_t n_ff = 0;
  std::vector<std::vector<float>> mlp;  // [n_layers]: mlp[l] is [n_prompts, n_ff] for requested blocks, else empty

  const float* at(int64_t prompt, int64_t layer) const { return data.data() + (prompt * n_layers + layer) * n_embd; }
  bool has_mlp(int64_t layer) const {
    return layer >= 0 && layer < static_cast<int64_t>(mlp.size()) && !mlp[static_cast<size_t>(layer)].empty();
  }
  // Block `layer`'s n_ff MLP activations for `prompt` (has_mlp(layer) must
  // hold); (prompt, layer) like at().
  const float* mlp_at(int64_t prompt, int64_t layer) const {
    return mlp[static_cast<size_t>(layer)].data() + prompt * n_ff;
  }
};

// A local model that can also report its activations.
class ActivationModel {
 public:
  virtual ~ActivationModel() = default;
  // kUnsupported when the model's graph has no l_out tensors (or, for an MLP
  // stream, no MLP hidden-activation tensor for a requested block, or the
  // model is a mixture of experts); kOutOfRange when a prompt is longer than
  // the context; kInvalidArgument for bad mlp_layers.
  virtual Result<Activations> CaptureActivations(const ActivationRequest& request) = 0;
  // The model's own tokenizer (no special-token parsing), e.g. to look up the
  // token-embedding rows of an entity's tokens.
  virtual Result<std::vector<int32_t>> Tokenize(std::string_view text, AddBos add_bos) = 0;
  virtual int64_t n_vocab() const = 0;
};

// Opens a GGUF model for activation capture (llama.cpp backend only).
Result<std::unique_ptr<ActivationModel>> OpenActivationModel(const ModelSpec& spec);

}  // namespace lmlab::runtime
