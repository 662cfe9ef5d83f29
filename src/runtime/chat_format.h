// Turns chat messages into a prompt with the model's chat template (from its
// GGUF, through llama_chat_apply_template's built-in template list), falling
// back to ChatML when the model has no template or one llama.cpp does not
// recognize. Internal to src/runtime/.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::runtime::internal {

struct ChatPrompt {
  std::string text;                // the formatted prompt, ending where the assistant speaks
  std::string template_name;       // "gguf" or "chatml (fallback)"
  std::vector<std::string> stops;  // end-of-turn markers to stop at, e.g. "<|im_end|>"
};

// `model_template` is the GGUF's tokenizer.chat_template ("" = none).
Result<ChatPrompt> FormatChat(std::span<const ChatMessage> messages, const std::string& model_template);

}  // namespace lmlab::runtime::internal
