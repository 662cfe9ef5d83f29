// The host's end of an improver's RPC channel (data/improve/run_improver.py
// is the other): one JSON request line in, one JSON reply line out, every
// budget counted and enforced here.
//
//   {"op": "lm", "system": S, "messages": [M, ...], "temperature": T} -> {"result": [reply, ...]}
//   {"op": "utility", "solution": CODE, "use_sandbox": true}            -> {"result": u}, u in [0, 1]
//   {"op": "result", "type": "str", "solution": CODE or null}            -> {"result": null}
//   {"op": "extraction", "outcome": "diff"}                              -> {"result": null} (counted)
//   anything refused                                                     -> {"error": "why"}
//
// The lines come from code a model wrote: the most hostile input lmlab
// reads. A line that is not JSON, not an object, nested deeper than
// kMaxRpcDepth, names no operation, or has a field of the wrong type gets an
// error reply and is counted (Audit::unknown_requests); a request over a
// budget gets an error reply and is counted (Audit::over_budget_requests).
// Nothing in a line makes the handler fail or throw.
//
// The handler is pure: it reaches the model and the utility through
// RpcServices and keeps its counts in the RpcSession, so tests and the fuzz
// target drive it without a sandbox or a model.
//
//   RpcSession session{.budgets = options.budgets};
//   RpcServices services{.model = ..., .utility = ...};
//   std::string reply = HandleRpcLine(R"({"op": "utility", "solution": "..."})", session, services);
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/improve/audit.h"
#include "lmlab/improve/options.h"
#include "lmlab/runtime/language_model.h"

namespace lmlab::improve {

// Deeper requests are refused before anything reads them (a real one is 2 deep).
inline constexpr int kMaxRpcDepth = 16;

// One language_model.batch_prompt call, after the host's caps.
struct ModelCall {
  std::string system;                 // the improver's "expertise"
  std::vector<std::string> messages;  // at most budgets.samples_per_call
  double temperature = 0.7;           // clamped to [0, 2]
};

struct RpcServices {
  // One completion (or error) per message, in order. The model's failures
  // are returned, not thrown: each is counted (HostCounts::model_errors) and
  // the improver sees the call fail.
  std::function<std::vector<Result<runtime::Completion>>(const ModelCall&)> model;
  // The utility of one solution: a downstream task's, or the meta-utility of
  // an improver. An error (the host could not compute it) is counted
  // (HostCounts::utility_errors) and the improver sees the call fail.
  std::function<Result<double>(const std::string& solution)> utility;
};

// One improver run, as the host sees it.
struct RpcSession {
  ImproverBudgets budgets;
  int lm_calls_used = 0;
  int utility_calls_used = 0;
  std::optional<std::string> solution;  // the code the improver returned ("result" with a string)
  std::string result_type;              // the Python type name it reported ("str", "int", ...)
  bool returned = false;                // a "result" request arrived
  // Model calls, replies, tokens, model and utility errors, and the RPC
  // audit counters (over-budget, unknown, sandbox-flag-off, out-of-range).
  // Downstream evaluations are counted by the utility itself.
  HostCounts counts;
};

// Answers one request line (without its newline) with one reply line
// (without a newline; invalid UTF-8 from the model is replaced).
std::string HandleRpcLine(std::string_view line, RpcSession& session, const RpcServices& services);

// The deepest nesting of arrays and objects in `text`, outside strings;
// stops counting past `limit`. Linear, no allocation: checked before parsing.
int JsonNestingDepth(std::string_view text, int limit);

}  // namespace lmlab::improve
