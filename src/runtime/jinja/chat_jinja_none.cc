// Built instead of chat_jinja.cc against an installed llama.cpp
// (-DLMLAB_LLAMA_INSTALLED=ON), which ships no common library: every model
// is formatted with llama.cpp's built-in formats (runtime/chat_format.h).
#include "runtime/jinja/chat_jinja.h"

namespace lmlab::runtime::internal {

struct JinjaTemplates {};

std::shared_ptr<const JinjaTemplates> ParseJinjaTemplates(const llama_model*, std::string* error) {
  *error = "this lmlab is built against an installed llama.cpp without its Jinja template engine";
  return nullptr;
}

bool RenderJinja(const JinjaTemplates&, const std::vector<std::pair<std::string, std::string>>&, JinjaPrompt*,
                 std::string* error) {
  *error = "no Jinja template engine in this build";
  return false;
}

}  // namespace lmlab::runtime::internal
