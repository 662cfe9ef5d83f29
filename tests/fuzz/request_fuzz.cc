// The body of POST /v1/chat/completions on `lmlab serve`: anything a client
// (or an attacker on the network) sends. Valid requests have bounded fields.
#include "server/chat_request.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmlab;
  server::ServerOptions options;
  auto p = server::internal::ParseChatRequest(fuzz::Text(data, size), options);
  if (p) {
    const auto& s = p->chat.params;
    fuzz::Check(!p->chat.messages.empty(), "a request has messages");
    fuzz::Check(s.max_tokens >= 1 && s.max_tokens <= options.max_tokens_limit, "max_tokens in range");
    fuzz::Check(s.temperature >= 0 && s.temperature <= 2, "temperature in [0, 2]");
    fuzz::Check(s.top_p > 0 && s.top_p <= 1, "top_p in (0, 1]");
    fuzz::Check(s.stop.size() <= 4, "at most 4 stop strings");
  } else {
    fuzz::Check(p.error().code == ErrorCode::kInvalidArgument, "a bad request is the client's error (HTTP 400)");
  }
  return 0;
}
