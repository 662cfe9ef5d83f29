// A run directory's files: config.json, round-<t>.json, round-<t>/timing.json.
// See run_dir.h.
#include "lmlab/improve/run_dir.h"

#include <fmt/format.h>

#include "lmlab/core/file.h"
#include "lmlab/core/json.h"

namespace lmlab::improve {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The first key whose value differs, for messages: "seed: 0 vs 7".
std::string FirstDifference(const json& have, const json& want) {
  for (const auto& [key, value] : want.items()) {
    auto it = have.find(key);
    if (it == have.end()) return fmt::format("{}: none vs {}", key, DumpJson(value));
    if (*it != value) return fmt::format("{}: {} vs {}", key, DumpJson(*it), DumpJson(value));
  }
  for (const auto& [key, value] : have.items())
    if (!want.contains(key)) return fmt::format("{}: {} vs none", key, DumpJson(value));
  return "none";
}

// A run directory's config.json as a JSON object; nullopt when there is none.
Result<std::optional<json>> ReadConfigObject(const fs::path& run_dir) {
  fs::path path = run_dir / "config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  LMLAB_ASSIGN_OR_RETURN(json j, ParseJson(text, path.string()));
  if (!j.is_object()) return ParseError(path.string() + " is not a JSON object");
  return j;
}

}  // namespace

json RunConfigJson(const StopOptions& o) {
  return {{"protocol", ProtocolName(o.protocol)},
          {"seed_improver", SeedImproverName(o.seed_improver)},
          {"sandbox_warning", SandboxWarningName(o.sandbox_warning)},
          {"tasks", o.tasks},
          {"repeats", o.repeats},
          {"test_instances", o.test_instances},
          {"samples_per_call", o.budgets.samples_per_call},
          {"lm_calls", o.budgets.lm_calls},
          {"utility_calls", o.budgets.utility_calls},
          {"max_tokens", o.max_tokens},
          {"time_limit_scale", o.time_limit_scale},
          {"improver_wall_seconds", o.improver_wall_seconds},
          {"seed", o.seed}};
}

Result<std::optional<RecordedOptions>> ReadRunConfig(const fs::path& run_dir) {
  LMLAB_ASSIGN_OR_RETURN(std::optional<json> config, ReadConfigObject(run_dir));
  if (!config) return std::nullopt;
  const json& j = *config;
  const std::string what = (run_dir / "config.json").string();
  RecordedOptions r;
  auto take = [&](const char* key, auto& field) -> Status {
    using T = typename std::decay_t<decltype(field)>::value_type;
    if (!j.contains(key)) return {};
    LMLAB_ASSIGN_OR_RETURN(field, JsonGet<T>(j, key, what));
    return {};
  };
  LMLAB_RETURN_IF_ERROR(take("protocol", r.protocol));
  LMLAB_RETURN_IF_ERROR(take("seed_improver", r.seed_improver));
  LMLAB_RETURN_IF_ERROR(take("sandbox_warning", r.sandbox_warning));
  LMLAB_RETURN_IF_ERROR(take("tasks", r.tasks));
  LMLAB_RETURN_IF_ERROR(take("repeats", r.repeats));
  LMLAB_RETURN_IF_ERROR(take("test_instances", r.test_instances));
  LMLAB_RETURN_IF_ERROR(take("samples_per_call", r.samples_per_call));
  LMLAB_RETURN_IF_ERROR(take("lm_calls", r.lm_calls));
  LMLAB_RETURN_IF_ERROR(take("utility_calls", r.utility_calls));
  LMLAB_RETURN_IF_ERROR(take("max_tokens", r.max_tokens));
  LMLAB_RETURN_IF_ERROR(take("time_limit_scale", r.time_limit_scale));
  LMLAB_RETURN_IF_ERROR(take("improver_wall_seconds", r.improver_wall_seconds));
  LMLAB_RETURN_IF_ERROR(take("seed", r.seed));
  return r;
}

Result<std::optional<std::string>> CompareRunConfig(const fs::path& run_dir, const StopOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(std::optional<json> config, ReadConfigObject(run_dir));
  if (!config) return std::nullopt;
  json& have = *config;
  json want = RunConfigJson(o);
  // Run dirs written before the improver wall was recorded resume with any.
  if (!have.contains("improver_wall_seconds")) have["improver_wall_seconds"] = o.improver_wall_seconds;
  // Run dirs written before the protocols existed ran lmlab's variant.
  if (!have.contains("protocol")) {
    have["protocol"] = "lmlab";
    have["seed_improver"] = "keep-best";
    have["sandbox_warning"] = "omitted";
  }
  if (have == want) return std::nullopt;
  return FirstDifference(have, want);
}

json RoundToJson(const RoundRecord& r) {
  return {{"round", r.round},
          {"meta_utility", r.meta_utility},
          {"accepted", r.accepted},
          {"improver_file", r.improver_file},
          {"model_calls", r.model_calls},
          {"samples", r.samples},
          {"model_errors", r.model_errors},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"utility_calls", r.utility_calls},
          {"utility_errors", r.utility_errors},
          {"audit", AuditToJson(r.audit)},
          {"strategies", r.strategies},
          {"extraction", r.extraction},
          {"note", r.note}};
}

Result<RoundRecord> RoundFromJson(const json& j, std::string_view what) {
  if (!j.is_object()) return ParseError(std::string(what) + ": not a JSON object");
  RoundRecord r;
  LMLAB_ASSIGN_OR_RETURN(r.round, JsonGetOr<int>(j, "round", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.meta_utility, JsonGetOr<double>(j, "meta_utility", 0.0, what));
  LMLAB_ASSIGN_OR_RETURN(r.accepted, JsonGetOr<bool>(j, "accepted", true, what));
  LMLAB_ASSIGN_OR_RETURN(r.improver_file, JsonGetOr<std::string>(j, "improver_file", "", what));
  LMLAB_ASSIGN_OR_RETURN(r.model_calls, JsonGetOr<int>(j, "model_calls", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.samples, JsonGetOr<int>(j, "samples", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.model_errors, JsonGetOr<int>(j, "model_errors", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.prompt_tokens, JsonGetOr<int64_t>(j, "prompt_tokens", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.completion_tokens, JsonGetOr<int64_t>(j, "completion_tokens", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.utility_calls, JsonGetOr<int>(j, "utility_calls", 0, what));
  LMLAB_ASSIGN_OR_RETURN(r.utility_errors, JsonGetOr<int>(j, "utility_errors", 0, what));
  LMLAB_ASSIGN_OR_RETURN(json audit, JsonGetOr<json>(j, "audit", json::object(), what));
  LMLAB_ASSIGN_OR_RETURN(r.audit, AuditFromJson(audit, std::string(what) + ": \"audit\""));
  LMLAB_ASSIGN_OR_RETURN(json strategies, JsonGetOr<json>(j, "strategies", json::object(), what));
  if (!strategies.is_object()) return ParseError(std::string(what) + ": \"strategies\" must be an object");
  for (const auto& [tag, count] : strategies.items()) {
    int n = 0;
    if (!json_internal::Convert(count, n))
      return ParseError(fmt::format("{}: strategy \"{}\" must count with an integer", what, tag));
    r.strategies[tag] = n;
  }
  LMLAB_ASSIGN_OR_RETURN(json extraction, JsonGetOr<json>(j, "extraction", json::object(), what));
  LMLAB_ASSIGN_OR_RETURN(r.extraction, ExtractionFromJson(extraction, what));
  LMLAB_ASSIGN_OR_RETURN(r.note, JsonGetOr<std::string>(j, "note", "", what));
  return r;
}

Status SaveRound(const fs::path& run_dir, const RoundRecord& r) {
  LMLAB_RETURN_IF_ERROR(WriteFileAtomic(run_dir / fmt::format("round-{}", r.round) / "timing.json",
                                        DumpJson(json{{"wall_seconds", r.wall_seconds}}) + "\n"));
  // The round file last: its presence marks the round done (resume point).
  return WriteFileAtomic(run_dir / fmt::format("round-{}.json", r.round), DumpJson(RoundToJson(r), 2) + "\n");
}

Result<RunSummary> LoadRun(const fs::path& dir) {
  LMLAB_ASSIGN_OR_RETURN(std::optional<json> config, ReadConfigObject(dir));
  if (!config) return NotFound((dir / "config.json").string() + " does not exist: not a run directory");
  RunSummary s;
  s.config = std::move(*config);
  for (int t = 0;; ++t) {
    fs::path p = dir / fmt::format("round-{}.json", t);
    std::error_code ec;
    if (!fs::exists(p, ec)) break;
    LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(p));
    LMLAB_ASSIGN_OR_RETURN(json j, ParseJson(text, p.string()));
    LMLAB_ASSIGN_OR_RETURN(RoundRecord r, RoundFromJson(j, p.string()));
    if (r.round != t) return ParseError(fmt::format("{} holds round {}", p.string(), r.round));
    // The wall time is for people: a missing or broken timing file leaves it 0.
    if (auto timing = ReadFile(dir / fmt::format("round-{}", t) / "timing.json")) {
      json tj = json::parse(*timing, nullptr, /*allow_exceptions=*/false);
      r.wall_seconds = JsonGetOr<double>(tj, "wall_seconds", 0.0, "").value_or(0.0);
    }
    s.audit_total.Add(r.audit);
    s.rounds.push_back(std::move(r));
  }
  return s;
}

}  // namespace lmlab::improve
