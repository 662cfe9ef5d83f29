#include "runtime/jinja/chat_jinja.h"

#include <cstdlib>
#include <exception>
#include <mutex>
#include <string_view>

#include "chat.h"
#include "log.h"

namespace lmlab::runtime::internal {

struct JinjaTemplates {
  common_chat_templates_ptr templates;
};

namespace {

// llama.cpp's common library logs to stderr; lmlab keeps it quiet unless
// LMLAB_LLAMA_LOG is set, as for llama.cpp's own log.
void QuietCommonLog() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* echo = std::getenv("LMLAB_LLAMA_LOG");
    if (!(echo && *echo && std::string_view(echo) != "0")) common_log_set_verbosity_thold(-1);
  });
}

}  // namespace

std::shared_ptr<const JinjaTemplates> ParseJinjaTemplates(const llama_model* model, std::string* error) {
  QuietCommonLog();
  try {
    auto t = std::make_shared<JinjaTemplates>();
    t->templates = common_chat_templates_init(model, "");
    if (!t->templates) {
      *error = "llama.cpp could not initialise the chat template";
      return nullptr;
    }
    return t;
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "the chat template does not parse";
  }
  return nullptr;
}

bool RenderJinja(const JinjaTemplates& templates, const std::vector<std::pair<std::string, std::string>>& messages,
                 JinjaPrompt* out, std::string* error) {
  try {
    common_chat_templates_inputs inputs;
    for (const auto& [role, content] : messages) {
      common_chat_msg m;
      m.role = role;
      m.content = content;
      inputs.messages.push_back(std::move(m));
    }
    inputs.add_generation_prompt = true;
    inputs.use_jinja = true;
    inputs.enable_thinking = false;
    common_chat_params p = common_chat_templates_apply(templates.templates.get(), inputs);
    out->prompt = std::move(p.prompt);
    out->stops = std::move(p.additional_stops);
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "the chat template failed";
  }
  return false;
}

}  // namespace lmlab::runtime::internal
