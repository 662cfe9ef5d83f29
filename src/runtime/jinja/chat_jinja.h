// A GGUF's Jinja chat template rendered by llama.cpp's own template engine
// (common/chat.h: the code llama-server's /v1/chat/completions and
// /apply-template run), so a conversation reaches the model exactly as
// llama-server would send it. Built as its own library (cmake/llama.cmake)
// because llama.cpp's common library carries its own nlohmann/json and
// cpp-httplib: only this file sees their headers, and this interface uses
// standard types only. Internal to src/runtime/.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

struct llama_model;

namespace lmlab::runtime::internal {

struct JinjaTemplates;  // the model's parsed templates

struct JinjaPrompt {
  std::string prompt;              // ends where the assistant speaks; no BOS text when the tokenizer adds BOS
  std::vector<std::string> stops;  // extra stop strings the format asks for
};

// Parses the model's tokenizer.chat_template (none: llama.cpp's ChatML).
// nullptr with `error` set when the template does not parse.
std::shared_ptr<const JinjaTemplates> ParseJinjaTemplates(const llama_model* model, std::string* error);

// Renders `messages` ({role, content}) with the generation prompt added and
// thinking off (templates that can think are asked to answer directly).
// false with `error` set when the template throws.
bool RenderJinja(const JinjaTemplates& templates, const std::vector<std::pair<std::string, std::string>>& messages,
                 JinjaPrompt* out, std::string* error);

}  // namespace lmlab::runtime::internal
