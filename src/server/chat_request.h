// Validation of an OpenAI /v1/chat/completions request body, apart from the
// HTTP layer so it can be tested and fuzzed on its own (tests/fuzz/). Internal
// to src/server/.
//
//   LMLAB_ASSIGN_OR_RETURN(ParsedChat p, ParseChatRequest(req.body, options));
#pragma once

#include <string_view>

#include "lmlab/core/error.h"
#include "lmlab/server/chat_engine.h"
#include "lmlab/server/server.h"

namespace lmlab::server::internal {

// A parsed and checked /v1/chat/completions body.
struct ParsedChat {
  ChatRequest chat;
  bool stream = false;
  bool include_usage = false;
};

// kInvalidArgument naming the field for anything a client got wrong: not
// JSON, not an object, bad messages, values out of range. Never throws.
Result<ParsedChat> ParseChatRequest(std::string_view body, const ServerOptions& options);

}  // namespace lmlab::server::internal
