// Placeholder until the OpenAI-compatible backend lands (runtime issue).
#include "lmlab/runtime/backends.h"

namespace lmlab::runtime {

Result<std::unique_ptr<LanguageModel>> OpenOpenAiModel(const ModelSpec&) {
  return Unsupported("the OpenAI-compatible backend is not built yet");
}

}  // namespace lmlab::runtime
