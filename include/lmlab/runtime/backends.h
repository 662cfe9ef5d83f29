// The two LanguageModel backends, opened directly. Most code should call
// OpenModel (language_model.h), which picks one from a ModelSpec.
#pragma once

#include <memory>

#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime {

// A local GGUF file through llama.cpp (src/runtime/llama_model.cc).
Result<std::unique_ptr<LanguageModel>> OpenLlamaModel(const ModelSpec& spec);

// An OpenAI-compatible endpoint over libcurl (src/runtime/openai_model.cc).
Result<std::unique_ptr<LanguageModel>> OpenOpenAiModel(const ModelSpec& spec);

}  // namespace lmlab::runtime
