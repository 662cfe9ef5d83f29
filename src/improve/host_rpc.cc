// The host's RPC line handler. See host_rpc.h.
#include "lmlab/improve/host_rpc.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "lmlab/core/json.h"


namespace lmlab::improve {
namespace {

using nlohmann::json;

std::string ErrorReply(const std::string& message) { return DumpJson(json{{"error", message}}); }
std::string ResultReply(json result) { return DumpJson(json{{"result", std::move(result)}}); }

// Names the request in messages: "malformed request: \"system\" must be a string".
constexpr std::string_view kRequest = "malformed request";

// A request the host cannot read: counted, and the improver told why.
std::string Malformed(RpcSession& s, const std::string& message) {
  ++s.counts.audit.unknown_requests;
  return ErrorReply(message);
}
std::string Malformed(RpcSession& s, const Error& e) { return Malformed(s, e.message); }

// Improver-chosen text quoted back in a reply, kept short.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 60;
  return text.size() <= kMax ? std::string(text) : std::string(text.substr(0, kMax)) + "...";
}

std::string ModelCallReply(const json& req, RpcSession& s, const RpcServices& services) {
  const ImproverBudgets& b = s.budgets;
  Result<std::string> system = JsonGetOr<std::string>(req, "system", "", kRequest);
  if (!system) return Malformed(s, system.error());
  Result<std::vector<std::string>> messages = JsonGetOr<std::vector<std::string>>(req, "messages", {}, kRequest);
  if (!messages) return Malformed(s, "malformed request: \"messages\" must be an array of strings");
  Result<double> temperature = JsonGetOr<double>(req, "temperature", 0.7, kRequest);
  if (!temperature || !std::isfinite(*temperature))
    return Malformed(s, "malformed request: \"temperature\" must be a finite number");
  if (s.lm_calls_used >= b.lm_calls) {
    ++s.counts.audit.over_budget_requests;
    return ErrorReply(fmt::format("model call budget spent ({} calls)", b.lm_calls));
  }
  ++s.lm_calls_used;
  ModelCall call{.system = std::move(*system),
                 .messages = std::move(*messages),
                 .temperature = std::clamp(*temperature, 0.0, 2.0)};
  if (int(call.messages.size()) > b.samples_per_call) {
    call.messages.resize(b.samples_per_call);  // the host's cap, not the improver's
    ++s.counts.audit.over_budget_requests;
  }
  std::vector<Result<runtime::Completion>> completions = services.model(call);
  ++s.counts.model_calls;
  json replies = json::array();
  int failed = 0;
  std::string first_error;
  for (size_t i = 0; i < call.messages.size(); ++i) {
    if (i >= completions.size() || !completions[i]) {
      if (++failed == 1)
        first_error = i < completions.size() ? completions[i].error().message : "no reply from the model";
      continue;
    }
    ++s.counts.samples;
    s.counts.prompt_tokens += completions[i]->prompt_tokens;
    s.counts.completion_tokens += completions[i]->completion_tokens;
    replies.push_back(completions[i]->text);
  }
  if (failed > 0) {
    // Never an empty reply in place of a failure: the improver is told, and
    // the round's table shows the count.
    s.counts.model_errors += failed;
    return ErrorReply(fmt::format("the model failed on {} of {} messages: {}", failed, call.messages.size(),
                                  first_error));
  }
  return ResultReply(std::move(replies));
}

std::string UtilityReply(const json& req, RpcSession& s, const RpcServices& services) {
  const ImproverBudgets& b = s.budgets;
  Result<std::string> solution = JsonGet<std::string>(req, "solution", kRequest);
  if (!solution) return Malformed(s, solution.error());
  if (s.utility_calls_used >= b.utility_calls) {
    ++s.counts.audit.over_budget_requests;
    return ErrorReply(fmt::format("utility budget spent ({} calls)", b.utility_calls));
  }
  ++s.utility_calls_used;
  auto flag = req.find("use_sandbox");
  if (flag == req.end() || *flag != true) ++s.counts.audit.sandbox_flag_off_calls;  // counted; sandboxed regardless
  Result<double> u = services.utility(*solution);
  if (!u) {
    ++s.counts.utility_errors;
    return ErrorReply("the host could not compute the utility: " + u.error().message);
  }
  double v = *u;
  if (!std::isfinite(v) || v < 0 || v > 1) {
    ++s.counts.audit.out_of_range_utilities;
    v = 0;
  }
  return ResultReply(v);
}

std::string ResultRequestReply(const json& req, RpcSession& s) {
  auto solution = req.find("solution");
  if (solution != req.end() && !solution->is_string() && !solution->is_null())
    return Malformed(s, "malformed request: \"solution\" must be a string or null");
  Result<std::string> type = JsonGetOr<std::string>(req, "type", "", kRequest);
  if (!type) return Malformed(s, type.error());
  s.solution = solution != req.end() && solution->is_string() ? std::optional(solution->get<std::string>())
                                                              : std::nullopt;
  s.result_type = std::move(*type);
  s.returned = true;
  return ResultReply(nullptr);
}

}  // namespace

int JsonNestingDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string HandleRpcLine(std::string_view line, RpcSession& s, const RpcServices& services) {
  if (JsonNestingDepth(line, kMaxRpcDepth) > kMaxRpcDepth)
    return Malformed(s, fmt::format("malformed request: nested deeper than {} levels", kMaxRpcDepth));
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded()) return Malformed(s, "malformed request: not JSON (or not UTF-8)");
  if (!req.is_object()) return Malformed(s, "malformed request: not a JSON object");
  Result<std::string> op = JsonGet<std::string>(req, "op", kRequest);
  if (!op) return Malformed(s, op.error());
  if (*op == "lm") return ModelCallReply(req, s, services);
  if (*op == "utility") return UtilityReply(req, s, services);
  if (*op == "result") return ResultRequestReply(req, s);
  if (*op == "extraction") {  // extract_code's outcome for one reply: counted
    Result<std::string> outcome = JsonGet<std::string>(req, "outcome", kRequest);
    if (!outcome) return Malformed(s, outcome.error());
    if (std::find(kExtractionOutcomes.begin(), kExtractionOutcomes.end(), *outcome) == kExtractionOutcomes.end())
      return Malformed(s, "malformed request: unknown extraction outcome '" + Quote(*outcome) + "'");
    ++s.counts.extraction[*outcome];
    return ResultReply(nullptr);
  }
  if (*op == "sandbox_off") {  // run(code, use_sandbox=False): counted; the sandbox stays on
    ++s.counts.audit.sandbox_flag_off_calls;
    return ResultReply(nullptr);
  }
  ++s.counts.audit.unknown_requests;
  return ErrorReply("unknown operation '" + Quote(*op) + "'");
}

}  // namespace lmlab::improve
