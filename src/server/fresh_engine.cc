// The grounding engine: the last user turn answered with FreshPrompt over a
// search backend (fresh/fresh_prompt.h does the search, ordering, prompt and
// citations; this file only pools slots and streams).
#include <memory>

#include "lmlab/search/date.h"
#include "lmlab/server/chat_engine.h"
#include "server/pool.h"

namespace lmlab::server {
namespace {

class FreshEngine : public ChatEngine {
 public:
  FreshEngine(std::vector<FreshSlot> slots, FreshEngineOptions options)
      : pool_(std::move(slots)), options_(std::move(options)) {
    name_ = pool_.size() && pool_.front().model ? pool_.front().model->info().name : "lmlab";
  }

  std::string model_name() const override { return name_; }
  bool grounds() const override { return true; }
  search::Day today() const override { return options_.today ? options_.today() : search::TodayUtc(); }

  Result<ChatReply> Chat(const ChatRequest& request, const runtime::TokenCallback& on_token) override {
    LMLAB_ASSIGN_OR_RETURN(std::string question, LastUserTurn(request.messages));
    fresh::AnswerOptions a = options_.answer;
    a.question = std::move(question);
    a.today = today();
    a.max_tokens = request.params.max_tokens;
    a.temperature = request.params.temperature;
    LMLAB_RETURN_IF_ERROR(fresh::ValidateQuestion(a.question, a.max_question_bytes));

    auto lease = pool_.Acquire(options_.pool.queue_timeout);
    if (!lease) return Unavailable("every model slot stayed busy; try again later");

    // A prefilled prefix ("As of today ..." under the paper protocol, "Today
    // is <date>." under lmlab's) is not generated: the stream shows it first,
    // then what the model adds, as the final answer reads. A chat model that
    // writes the prefix itself streams as it comes.
    const bool chat = a.style == fresh::PromptStyle::kChat;
    const std::string lead = fresh::AnswerLead(a.format, a.today, fresh::Prefills(a.format, a.style));
    std::string streamed, held;
    bool decided = false, stopped = false;
    auto emit = [&](std::string_view text) {
      if (text.empty() || stopped) return !stopped;
      streamed.append(text);
      if (!on_token(text)) stopped = true;
      return !stopped;
    };
    // Decides how the answer starts once enough text has arrived (or at the end).
    auto decide = [&](bool final) {
      if (decided) return true;
      if (chat && !lead.empty() && !final && held.size() < lead.size()) return true;
      decided = true;
      if (lead.empty() || (chat && held.starts_with(lead))) return emit(held);
      if (!emit(lead)) return false;
      if (!held.empty() && held.front() != ' ' && !emit(" ")) return false;
      return emit(held);
    };
    runtime::TokenCallback forward;
    if (on_token) {
      forward = [&](std::string_view piece) {
        if (decided) return emit(piece);
        held.append(piece);
        return decide(false);
      };
    }
    LMLAB_ASSIGN_OR_RETURN(fresh::GroundedAnswer g,
                           fresh::AnswerWithEvidence(*(*lease)->model, *(*lease)->search, a, forward));
    if (on_token && !stopped) {
      if (!decided) decide(true);  // short or no generation: settle how it starts
      // Whatever of the final answer the stream has not shown yet.
      if (!stopped && g.answer.starts_with(streamed) && g.answer.size() > streamed.size())
        on_token(std::string_view(g.answer).substr(streamed.size()));
    }

    ChatReply reply;
    if (options_.monitor) ScoreIgnorance(*(*lease)->model, g, reply);
    reply.today = a.today;
    reply.completion.text = g.answer;
    reply.completion.finish_reason = g.finish_reason.empty() ? "stop" : g.finish_reason;
    reply.completion.prompt_tokens = g.prompt_tokens;
    reply.completion.completion_tokens = g.completion_tokens;
    reply.completion.seconds = g.search_seconds + g.generate_seconds;
    if (g.grounding == fresh::Grounding::kUngrounded)
      reply.ungrounded_reason = g.ungrounded_reason.empty() ? "no evidence found" : g.ungrounded_reason;
    reply.grounded = std::move(g);
    return reply;
  }

  Status UseModel(const ModelWork& work) override {
    auto lease = pool_.Acquire(options_.pool.queue_timeout);
    if (!lease) return Unavailable("every model slot stayed busy; try again later");
    return work(*(*lease)->model);
  }

 private:
  // Scores what the model wrote after the exact prompt it saw.
  void ScoreIgnorance(runtime::LanguageModel& model, const fresh::GroundedAnswer& g, ChatReply& reply) const {
    auto scored = options_.monitor->ScoreAnswer(model, g.prompt, g.generated);
    if (scored) reply.ignorance = std::move(*scored);
    else reply.ignorance_unavailable = scored.error().message;
  }

  SlotPool<FreshSlot> pool_;
  FreshEngineOptions options_;
  std::string name_;
};

}  // namespace

std::unique_ptr<ChatEngine> MakeFreshEngine(std::vector<FreshSlot> slots, FreshEngineOptions options) {
  for (FreshSlot& slot : slots)
    if (!slot.search) slot.search = search::MakeNullBackend("no search backend is configured");
  return std::make_unique<FreshEngine>(std::move(slots), std::move(options));
}

}  // namespace lmlab::server
