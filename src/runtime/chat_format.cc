#include "runtime/chat_format.h"

#include "llama.h"

namespace lmlab::runtime::internal {
namespace {

Result<std::string> Apply(const char* tmpl, std::span<const ChatMessage> messages) {
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

Result<ChatPrompt> FormatChat(std::span<const ChatMessage> messages, const std::string& model_template) {
  if (messages.empty()) return InvalidArgument("a chat needs at least one message");
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      return InvalidArgument("chat role must be system, user or assistant, not \"" + m.role + "\"");
  ChatPrompt out;
  if (!model_template.empty()) {
    if (auto text = Apply(model_template.c_str(), messages)) {
      out.text = std::move(*text);
      out.template_name = "gguf";
    }
  }
  if (out.template_name.empty()) {
    LMLAB_ASSIGN_OR_RETURN(out.text, Apply("chatml", messages));
    out.template_name = "chatml (fallback)";
  }
  // Templates whose end-of-turn marker may not be a single token in the
  // vocabulary: stop at its text too.
  for (const char* marker : {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"})
    if (out.text.find(marker) != std::string::npos) out.stops.emplace_back(marker);
  return out;
}

}  // namespace lmlab::runtime::internal
