#include "runtime/chat_format.h"

#include <algorithm>
#include <vector>

#include "llama.h"
#include "runtime/jinja/chat_jinja.h"

namespace lmlab::runtime::internal {
namespace {

// llama.cpp's built-in formats, for templates its Jinja engine cannot parse.
Result<std::string> ApplyBuiltin(const char* tmpl, std::span<const ChatMessage> messages) {
  std::vector<llama_chat_message> chat;
  size_t total = 0;
  for (const ChatMessage& m : messages) {
    chat.push_back({m.role.c_str(), m.content.c_str()});
    total += m.role.size() + m.content.size();
  }
  std::string buf(2 * total + 256, '\0');
  int32_t n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), /*add_ass=*/true, buf.data(),
                                        static_cast<int32_t>(buf.size()));
  if (n < 0) return Unsupported("chat template not supported by llama.cpp");
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(static_cast<size_t>(n));
    n = llama_chat_apply_template(tmpl, chat.data(), chat.size(), true, buf.data(), static_cast<int32_t>(buf.size()));
    if (n < 0) return Unsupported("chat template not supported by llama.cpp");
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

}  // namespace

ChatFormatter::ChatFormatter(const llama_model* model) {
  if (const char* t = llama_model_chat_template(model, nullptr)) model_template_ = t;
  std::string error;
  jinja_ = ParseJinjaTemplates(model, &error);
  if (jinja_) {
    description_ = model_template_.empty() ? "chatml (fallback: the GGUF has no chat template)"
                                           : "gguf template (Jinja)";
    return;
  }
  // The built-in format llama.cpp recognises in the template, if any.
  if (!model_template_.empty() && ApplyBuiltin(model_template_.c_str(), std::vector<ChatMessage>{{"user", "x"}})) {
    builtin_ = model_template_;
    description_ = "llama.cpp built-in format (the GGUF's Jinja template does not parse: " + error + ")";
  } else {
    builtin_ = "chatml";
    description_ = "chatml (fallback: the GGUF's template does not parse: " + error + ")";
  }
}

Result<ChatPrompt> ChatFormatter::Format(std::span<const ChatMessage> messages) const {
  if (messages.empty()) return InvalidArgument("a chat needs at least one message");
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      return InvalidArgument("chat role must be system, user or assistant, not \"" + m.role + "\"");
  ChatPrompt out;
  if (jinja_) {
    std::vector<std::pair<std::string, std::string>> chat;
    for (const ChatMessage& m : messages) chat.emplace_back(m.role, m.content);
    JinjaPrompt p;
    std::string error;
    if (!RenderJinja(*jinja_, chat, &p, &error))
      return InvalidArgument("the model's chat template refused the conversation: " + error);
    out.text = std::move(p.prompt);
    out.stops = std::move(p.stops);
  } else {
    LMLAB_ASSIGN_OR_RETURN(out.text, ApplyBuiltin(builtin_.c_str(), messages));
  }
  // End-of-turn markers that may not be one token in the vocabulary: stop at
  // their text too.
  for (const char* marker : {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<turn|>"})
    if (out.text.find(marker) != std::string::npos && std::ranges::find(out.stops, marker) == out.stops.end())
      out.stops.emplace_back(marker);
  return out;
}

}  // namespace lmlab::runtime::internal
