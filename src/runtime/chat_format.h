// Turns chat messages into a prompt the way the model's GGUF says: its Jinja
// chat template rendered by llama.cpp's template engine (runtime/jinja/, the
// engine llama-server uses), so lmlab and llama-server send a model the same
// text. A model without a template gets ChatML, llama.cpp's default. When a
// template does not parse, llama.cpp's built-in formats
// (llama_chat_apply_template) are tried, then ChatML. Internal to src/runtime/.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/runtime/language_model.h"

struct llama_model;

namespace lmlab::runtime::internal {

struct JinjaTemplates;

struct ChatPrompt {
  std::string text;                // the formatted prompt, ending where the assistant speaks
  std::vector<std::string> stops;  // end-of-turn markers to stop at, e.g. "<|im_end|>"
};

class ChatFormatter {
 public:
  // Parses the model's template once.
  explicit ChatFormatter(const llama_model* model);

  // kInvalidArgument for roles other than system/user/assistant, an empty
  // conversation, or one the template itself refuses (its message).
  Result<ChatPrompt> Format(std::span<const ChatMessage> messages) const;

  // For ModelInfo::chat_format: "gguf template (Jinja)", or which fallback and why.
  const std::string& description() const { return description_; }

 private:
  std::string model_template_;                   // tokenizer.chat_template ("" = none)
  std::shared_ptr<const JinjaTemplates> jinja_;  // null when the template does not parse
  std::string builtin_;                          // llama.cpp built-in used instead ("" = jinja)
  std::string description_;
};

}  // namespace lmlab::runtime::internal
