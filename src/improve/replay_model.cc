// TEST FIXTURE (see replay_model.h): recorded completions, served in order.
#include "lmlab/improve/replay_model.h"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lmlab/core/file.h"
#include "lmlab/core/json.h"

namespace lmlab::improve {
namespace {

int64_t Words(std::string_view s) {
  std::istringstream in{std::string(s)};
  std::string w;
  int64_t n = 0;
  while (in >> w) ++n;
  return n;
}

class ReplayModel final : public runtime::LanguageModel {
 public:
  explicit ReplayModel(std::vector<ReplayEntry> e) : entries_(std::move(e)) {
    info_.backend = "replay (test fixture)";
    info_.name = "replay";
  }
  const runtime::ModelInfo& info() const override { return info_; }

  Result<runtime::Completion> Complete(std::string_view prompt, const runtime::SamplingParams&,
                                       const runtime::TokenCallback& on_token) override {
    // The group: the first key (in file order) found in the prompt.
    std::string key;
    bool found = false;
    for (const auto& e : entries_)
      if (prompt.find(e.prompt_contains) != std::string_view::npos) {
        key = e.prompt_contains;
        found = true;
        break;
      }
    if (!found) return NotFound("replay: no recorded completion matches this prompt");
    std::vector<const ReplayEntry*> group;
    for (const auto& e : entries_)
      if (e.prompt_contains == key) group.push_back(&e);
    const ReplayEntry* e = group[next_[key]++ % group.size()];
    runtime::Completion c;
    c.text = e->completion;
    c.finish_reason = "stop";
    c.prompt_tokens = Words(prompt);
    c.completion_tokens = Words(c.text);
    if (on_token) on_token(c.text);
    return c;
  }
  Result<runtime::Completion> Chat(std::span<const runtime::ChatMessage> messages,
                                   const runtime::SamplingParams& params,
                                   const runtime::TokenCallback& on_token) override {
    std::string prompt;
    for (const auto& m : messages) prompt += m.role + ": " + m.content + "\n";
    return Complete(prompt, params, on_token);
  }
  Result<std::vector<float>> NextTokenLogprobs(std::string_view) override {
    return Unsupported("the replay fixture has no logprobs");
  }
  Result<std::vector<runtime::TokenLogprob>> ScoreText(std::string_view) override {
    return Unsupported("the replay fixture has no logprobs");
  }
  Result<std::vector<int32_t>> Tokenize(std::string_view, runtime::AddBos) override {
    return Unsupported("the replay fixture has no tokenizer");
  }
  Result<std::string> Detokenize(std::span<const int32_t>) override {
    return Unsupported("the replay fixture has no tokenizer");
  }

 private:
  std::vector<ReplayEntry> entries_;
  std::map<std::string, size_t> next_;
  runtime::ModelInfo info_;
};

}  // namespace

Result<std::vector<ReplayEntry>> LoadReplayFile(const std::filesystem::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<ReplayEntry> out;
  std::istringstream in(text);
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    std::string where = path.string() + ":" + std::to_string(no);
    Result<std::string> completion = JsonGet<std::string>(j, "completion", where);
    if (!completion) return ParseError(where + ": expected {\"completion\": \"...\"}");
    LMLAB_ASSIGN_OR_RETURN(std::string key, JsonGetOr<std::string>(j, "prompt_contains", "", where));
    out.push_back({.prompt_contains = std::move(key), .completion = std::move(*completion)});
  }
  if (out.empty()) return InvalidArgument(path.string() + " has no recorded completions");
  return out;
}

std::unique_ptr<runtime::LanguageModel> MakeReplayModel(std::vector<ReplayEntry> entries) {
  return std::make_unique<ReplayModel>(std::move(entries));
}

}  // namespace lmlab::improve
