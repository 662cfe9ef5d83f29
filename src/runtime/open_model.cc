#include "lmlab/runtime/backends.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

Result<std::unique_ptr<LanguageModel>> OpenModel(const ModelSpec& spec) {
  bool local = !spec.gguf_path.empty(), remote = !spec.endpoint.empty();
  if (local == remote) return InvalidArgument("give exactly one of a local GGUF file (`gguf_path`) or an endpoint URL (`endpoint`)");
  if (remote && spec.api_model.empty()) return InvalidArgument("an `endpoint` needs the model name to request (`api_model`)");
  return local ? OpenLlamaModel(spec) : OpenOpenAiModel(spec);
}

}  // namespace lmlab::runtime
