// Placeholder until the llama.cpp backend lands (runtime issue).
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/backends.h"

namespace lmlab::runtime {

Result<std::unique_ptr<LanguageModel>> OpenLlamaModel(const ModelSpec&) {
  return Unsupported("the llama.cpp backend is not built yet");
}

Result<std::unique_ptr<ActivationModel>> OpenActivationModel(const ModelSpec&) {
  return Unsupported("activation capture is not built yet");
}

}  // namespace lmlab::runtime
