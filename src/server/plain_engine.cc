// The ungrounded engine: the conversation goes to the model as it is.
#include <memory>

#include "lmlab/search/date.h"
#include "lmlab/server/chat_engine.h"
#include "server/pool.h"

namespace lmlab::server {

Result<std::string> LastUserTurn(const std::vector<runtime::ChatMessage>& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it)
    if (it->role == "user") return it->content;
  return InvalidArgument("the conversation has no \"user\" message to answer");
}

namespace {

class PlainEngine : public ChatEngine {
 public:
  PlainEngine(std::vector<std::unique_ptr<runtime::LanguageModel>> models, PoolOptions pool)
      : pool_(std::move(models)), options_(pool) {
    name_ = pool_.size() ? pool_.front()->info().name : "lmlab";
  }

  std::string model_name() const override { return name_; }
  bool grounds() const override { return false; }
  search::Day today() const override { return search::TodayUtc(); }

  Result<ChatReply> Chat(const ChatRequest& request, const runtime::TokenCallback& on_token) override {
    LMLAB_RETURN_IF_ERROR(LastUserTurn(request.messages));
    auto lease = pool_.Acquire(options_.queue_timeout);
    if (!lease) return Unavailable("every model slot stayed busy; try again later");
    ChatReply reply;
    reply.today = today();
    reply.ungrounded_reason = "this server runs without a search backend (no index or SearXNG was given when it started)";
    LMLAB_ASSIGN_OR_RETURN(reply.completion, (**lease)->Chat(request.messages, request.params, on_token));
    return reply;
  }

  Status UseModel(const ModelWork& work) override {
    auto lease = pool_.Acquire(options_.queue_timeout);
    if (!lease) return Unavailable("every model slot stayed busy; try again later");
    return work(***lease);
  }

 private:
  SlotPool<std::unique_ptr<runtime::LanguageModel>> pool_;
  PoolOptions options_;
  std::string name_;
};

}  // namespace

std::unique_ptr<ChatEngine> MakePlainEngine(std::vector<std::unique_ptr<runtime::LanguageModel>> models,
                                            PoolOptions pool) {
  return std::make_unique<PlainEngine>(std::move(models), pool);
}

}  // namespace lmlab::server
