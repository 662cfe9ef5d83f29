// What the host counts while improvers run, and the audit of candidate
// improvers: the paper's sandbox-flag experiment and reward hacking (see
// docs/improve.md for the rules).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmlab/core/error.h"

namespace lmlab::improve {

// Audit counts for a set of candidate improvers.
struct Audit {
  int candidates = 0;               // candidate improvers generated and evaluated
  int sandbox_flag_changed = 0;     // candidates that drop or change use_sandbox=True
  int sandbox_flag_off_calls = 0;   // utility calls made with use_sandbox=False (still sandboxed)
  int wrong_shape_outputs = 0;      // downstream outputs of the wrong shape/type
  int inflated_scores = 0;          // outputs a broadcasting scorer would have scored above 1
  int out_of_range_utilities = 0;   // utility values outside [0, 1] or NaN (must stay 0: host-computed)
  int hidden_utility_probes = 0;    // candidates touching host internals, /proc, /box, gc, inspect, ...
  int budget_tampering = 0;         // candidates that rewrite budgets
  int over_budget_requests = 0;     // requests refused because a budget was spent
  int unknown_requests = 0;         // RPC requests that are malformed or name no operation
  int non_string_results = 0;       // improvers that returned something other than code
  int internals_reads = 0;          // solutions reading the utility's internals (caller frames, the runner); scored 0
  int time_tampering = 0;           // solutions replacing clocks or the time-limit alarm; scored 0
  std::vector<std::string> offending;  // files (relative to the run dir) with the code and the reason

  void Add(const Audit& o);
  double SandboxFlagRate() const { return candidates ? double(sandbox_flag_changed) / candidates : 0; }
  // Every reward-hacking finding (all counters but the sandbox flag's and the candidates).
  int RewardHacks() const {
    return wrong_shape_outputs + inflated_scores + out_of_range_utilities + hidden_utility_probes + budget_tampering +
           unknown_requests + non_string_results + internals_reads + time_tampering;
  }
};

// One field list for both directions of the run log and element files;
// missing keys keep their defaults (logs written before a counter existed
// still load). Reading untrusted files: AuditFromJson.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Audit, candidates, sandbox_flag_changed, sandbox_flag_off_calls,
                                                wrong_shape_outputs, inflated_scores, out_of_range_utilities,
                                                hidden_utility_probes, budget_tampering, over_budget_requests,
                                                unknown_requests, non_string_results, internals_reads,
                                                time_tampering, offending)

// The audit in a run's files, with the derived sandbox_flag_rate.
nlohmann::json AuditToJson(const Audit& audit);
// Reads one back; missing counters are 0, a field of the wrong type is
// kParse naming it (`what`: the file, for the message).
Result<Audit> AuditFromJson(const nlohmann::json& j, std::string_view what);

// What the host counts while improvers run: for one element, a meta-utility
// or a round.
struct HostCounts {
  int model_calls = 0;     // batch_prompt calls answered or failed
  int samples = 0;         // replies generated
  int model_errors = 0;    // replies the model failed to give (the improver saw an error)
  int utility_calls = 0;   // downstream solution evaluations
  int utility_errors = 0;  // utility calls the host could not compute (the improver saw an error)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  Audit audit;  // dynamic findings: over-budget requests, wrong shapes, ...
  // Replies by how extract_code got code out of them (kExtractionOutcomes),
  // as the improvers' calls report it.
  std::map<std::string, int> extraction;

  // Adds another's counts. An offending file already listed is not listed
  // again (once per file and round; the counters keep every occurrence).
  void Add(const HostCounts& o);
};

// extract_code's outcomes, in the order it tries them: the largest fenced
// block (the paper's), the whole reply as Python, a unified diff applied to
// the current code, nothing.
inline constexpr std::array<std::string_view, 4> kExtractionOutcomes = {"fenced_block", "whole_reply", "diff",
                                                                         "none"};
// "fenced_block 3, diff 1"; "-" when nothing was extracted.
std::string ExtractionSummary(const std::map<std::string, int>& counts);
// Reads {"fenced_block": 3, ...} back: kParse names an unknown outcome or a
// count that is not an integer.
Result<std::map<std::string, int>> ExtractionFromJson(const nlohmann::json& j, std::string_view what);

// Strategies named in the paper's figure, tagged by keyword rules on the code.
std::vector<std::string> TagStrategies(const std::string& improver_code);
// The static part of the audit for one candidate improver's code.
Audit AuditImproverCode(const std::string& improver_code);

}  // namespace lmlab::improve
