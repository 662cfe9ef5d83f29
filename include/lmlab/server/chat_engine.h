// ChatEngine: what the HTTP server asks to answer a conversation. Two ship:
//   - MakeFreshEngine: grounds the last user turn with FreshPrompt (Vu et al.
//     2023; fresh/fresh_prompt.h) over a search backend, and returns the
//     evidence list with dates; a search backend that is down or finds nothing
//     gives an answer flagged ungrounded, not an error.
//   - MakePlainEngine: the model answers the conversation as it is (no search).
//
//   std::vector<FreshSlot> slots;
//   slots.push_back({std::move(model), std::move(index)});
//   std::unique_ptr<ChatEngine> engine = MakeFreshEngine(std::move(slots), {.answer = {.k = 5}});
//   LMLAB_ASSIGN_OR_RETURN(ChatReply r, engine->Chat({.messages = {{"user", "Latest zlib?"}}}, on_token));
//
// Thread-safety: Chat may be called from many threads at once. A LanguageModel
// serves one caller at a time, so an engine holds a pool of slots (a model and
// its search backend each) and a caller waits for a free one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/fresh/fresh_prompt.h"
#include "lmlab/ood/ignorance.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/search/backend.h"

namespace lmlab::server {

struct ChatRequest {
  std::vector<runtime::ChatMessage> messages;  // the last "user" message is the question
  runtime::SamplingParams params;
};

struct ChatReply {
  runtime::Completion completion;              // text = the whole answer
  // Set by a grounding engine (evidences, citations, whether it grounded).
  std::optional<fresh::GroundedAnswer> grounded;
  std::string ungrounded_reason;               // why no evidence backs the answer ("" when grounded)
  search::Day today{};
  // "Is the model guessing?" (ood/ignorance.h), when the engine has a monitor
  // and the backend returns full distributions; else why not.
  std::optional<ood::AnswerIgnorance> ignorance;
  std::string ignorance_unavailable;
};

class ChatEngine {
 public:
  virtual ~ChatEngine() = default;
  // The name /v1/models lists.
  virtual std::string model_name() const = 0;
  // Whether this engine searches (FreshPrompt) at all.
  virtual bool grounds() const = 0;
  // The date answers are given as of (shown by the web page).
  virtual search::Day today() const = 0;
  // Answers; `on_token` (may be empty) receives the answer as it is produced
  // and may return false to stop. kInvalidArgument for a bad conversation
  // (no user turn, empty question), kUnavailable when no slot frees up in
  // time, else the model's error.
  virtual Result<ChatReply> Chat(const ChatRequest& request, const runtime::TokenCallback& on_token) = 0;
  // Runs `work` on a free model of the pool, as it is: raw completions and
  // embeddings are never grounded. kUnavailable when no slot frees up in
  // time, else what `work` returns.
  using ModelWork = std::function<Status(runtime::LanguageModel& model)>;
  virtual Status UseModel(const ModelWork& work) = 0;
};

struct PoolOptions {
  // How long a request waits for a free model before kUnavailable.
  std::chrono::milliseconds queue_timeout{120'000};
};

// The model answers the conversation as given (ungrounded).
std::unique_ptr<ChatEngine> MakePlainEngine(std::vector<std::unique_ptr<runtime::LanguageModel>> models,
                                            PoolOptions pool = {});

struct FreshSlot {
  std::unique_ptr<runtime::LanguageModel> model;
  std::unique_ptr<search::SearchBackend> search;
};

struct FreshEngineOptions {
  // The FreshPrompt options every request gets (protocol, k, order, style,
  // ...); the question, today's date, max_tokens and temperature come per
  // request.
  fresh::AnswerOptions answer;
  std::function<search::Day()> today;              // null = search::TodayUtc
  // Scores each answer's distance to the model's optimal constant solution
  // (Kang et al. 2023) and flags answers above its calibrated threshold.
  std::shared_ptr<const ood::IgnoranceMonitor> monitor;
  PoolOptions pool;
};

// Grounds the last user turn with FreshPrompt; earlier turns are not part of
// the FreshPrompt prompt (it is a single-question method).
std::unique_ptr<ChatEngine> MakeFreshEngine(std::vector<FreshSlot> slots, FreshEngineOptions options);

// The question a conversation asks: its last "user" message.
// kInvalidArgument when there is none.
Result<std::string> LastUserTurn(const std::vector<runtime::ChatMessage>& messages);

}  // namespace lmlab::server
