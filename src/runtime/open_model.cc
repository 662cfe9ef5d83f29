#include "lmlab/runtime/backends.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

Result<std::unique_ptr<LanguageModel>> OpenModel(const ModelSpec& spec) {
  bool local = !spec.gguf_path.empty(), remote = !spec.endpoint.empty();
  if (local == remote) return InvalidArgument("give exactly one of --model PATH.gguf or --endpoint URL");
  if (remote && spec.api_model.empty()) return InvalidArgument("--endpoint needs --api-model NAME");
  return local ? OpenLlamaModel(spec) : OpenOpenAiModel(spec);
}

}  // namespace lmlab::runtime
