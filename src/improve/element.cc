// Element files of the meta-utility: JSON, atomic files, gathering. Running
// an element is in meta_utility.cc, next to the in-process pool that runs the
// same code. See element.h.
#include "lmlab/improve/element.h"

#include <fmt/format.h>

#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/json.h"
#include "lmlab/improve/task.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The first option whose value differs, for messages: "seed: 0 vs 7".
std::string FirstDifference(const json& a, const json& b) {
  for (const auto& [key, value] : a.items()) {
    auto it = b.find(key);
    if (it == b.end() || *it != value)
      return fmt::format("{}: {} vs {}", key, DumpJson(value), it == b.end() ? "none" : DumpJson(*it));
  }
  for (const auto& [key, value] : b.items())
    if (!a.contains(key)) return fmt::format("{}: none vs {}", key, DumpJson(value));
  return "none";
}

}  // namespace

json ElementOptionsJson(const StopOptions& o) {
  json j = RunConfigJson(o);
  j.erase("tasks");
  j.erase("repeats");
  j.erase("seed_improver");    // the element is given its improver
  j.erase("sandbox_warning");  // shown only to an improver improving itself
  return j;
}

std::string ImproverHash(const std::string& improver_code) { return Fnv1aHex(improver_code); }

MetaUtility CombineElements(std::span<const ElementResult> elements) {
  MetaUtility m;
  int n = int(elements.size());
  m.runs = n;
  for (const ElementResult& e : elements) {
    m.value += e.utility / n;
    m.failed_runs += e.failed ? 1 : 0;
    m.Add(e);
  }
  return m;
}

fs::path ElementPath(const fs::path& run_dir, const std::string& improver_code, const std::string& task, int repeat,
                     const ElementPlace& place) {
  std::string where = place.HeldOut() ? "" : fmt::format("-round{}-call{}", place.round, place.call);
  return run_dir / "elements" / fmt::format("{}-{}-{}{}.json", ImproverHash(improver_code), task, repeat, where);
}

json ToJson(const ElementResult& e) {
  return {{"task", e.task},
          {"repeat", e.repeat},
          {"improver_hash", e.improver_hash},
          {"utility", e.utility},
          {"failed", e.failed},
          {"improver_verdict", e.improver_verdict},
          {"note", e.note},
          {"test_instances", e.test_instances},
          {"test_errors", e.test_errors},
          {"test_too_slow", e.test_too_slow},
          {"test_wrong_shape", e.test_wrong_shape},
          {"model_calls", e.model_calls},
          {"samples", e.samples},
          {"model_errors", e.model_errors},
          {"utility_calls", e.utility_calls},
          {"utility_errors", e.utility_errors},
          {"prompt_tokens", e.prompt_tokens},
          {"completion_tokens", e.completion_tokens},
          {"audit", e.audit},
          {"extraction", e.extraction},
          {"model", e.model},
          {"options", e.options},
          {"wall_seconds", e.wall_seconds},
          {"improver_seconds", e.improver_seconds},
          {"test_seconds", e.test_seconds}};
}

json ToJson(const MetaUtility& m) {
  return {{"meta_utility", m.value},
          {"runs", m.runs},
          {"failed_runs", m.failed_runs},
          {"model_calls", m.model_calls},
          {"samples", m.samples},
          {"model_errors", m.model_errors},
          {"utility_calls", m.utility_calls},
          {"utility_errors", m.utility_errors},
          {"prompt_tokens", m.prompt_tokens},
          {"completion_tokens", m.completion_tokens},
          {"audit", m.audit},
          {"extraction", m.extraction}};
}

namespace {

// `what` names the document in messages.
Result<ElementResult> ElementFromJsonIn(const json& j, const std::string& what) {
  if (!j.is_object()) return ParseError(what + ": not a JSON object");
  ElementResult e;
  // Every field lmlab has always written is required; counters added later
  // (model and utility errors) default to 0, so older files still load.
  LMLAB_ASSIGN_OR_RETURN(e.task, JsonGet<std::string>(j, "task", what));
  LMLAB_ASSIGN_OR_RETURN(e.repeat, JsonGet<int>(j, "repeat", what));
  LMLAB_ASSIGN_OR_RETURN(e.improver_hash, JsonGet<std::string>(j, "improver_hash", what));
  LMLAB_ASSIGN_OR_RETURN(e.utility, JsonGet<double>(j, "utility", what));
  LMLAB_ASSIGN_OR_RETURN(e.failed, JsonGet<bool>(j, "failed", what));
  LMLAB_ASSIGN_OR_RETURN(e.improver_verdict, JsonGet<std::string>(j, "improver_verdict", what));
  LMLAB_ASSIGN_OR_RETURN(e.note, JsonGet<std::string>(j, "note", what));
  LMLAB_ASSIGN_OR_RETURN(e.test_instances, JsonGet<int>(j, "test_instances", what));
  LMLAB_ASSIGN_OR_RETURN(e.test_errors, JsonGet<int>(j, "test_errors", what));
  LMLAB_ASSIGN_OR_RETURN(e.test_too_slow, JsonGet<int>(j, "test_too_slow", what));
  LMLAB_ASSIGN_OR_RETURN(e.test_wrong_shape, JsonGet<int>(j, "test_wrong_shape", what));
  LMLAB_ASSIGN_OR_RETURN(e.model_calls, JsonGet<int>(j, "model_calls", what));
  LMLAB_ASSIGN_OR_RETURN(e.samples, JsonGet<int>(j, "samples", what));
  LMLAB_ASSIGN_OR_RETURN(e.model_errors, JsonGetOr<int>(j, "model_errors", 0, what));
  LMLAB_ASSIGN_OR_RETURN(e.utility_calls, JsonGet<int>(j, "utility_calls", what));
  LMLAB_ASSIGN_OR_RETURN(e.utility_errors, JsonGetOr<int>(j, "utility_errors", 0, what));
  LMLAB_ASSIGN_OR_RETURN(e.prompt_tokens, JsonGet<int64_t>(j, "prompt_tokens", what));
  LMLAB_ASSIGN_OR_RETURN(e.completion_tokens, JsonGet<int64_t>(j, "completion_tokens", what));
  LMLAB_ASSIGN_OR_RETURN(e.model, JsonGet<std::string>(j, "model", what));
  LMLAB_ASSIGN_OR_RETURN(e.options, JsonGet<json>(j, "options", what));
  if (!e.options.is_object()) return ParseError(what + ": \"options\" must be an object");
  LMLAB_ASSIGN_OR_RETURN(e.wall_seconds, JsonGet<double>(j, "wall_seconds", what));
  LMLAB_ASSIGN_OR_RETURN(e.improver_seconds, JsonGet<double>(j, "improver_seconds", what));
  LMLAB_ASSIGN_OR_RETURN(e.test_seconds, JsonGet<double>(j, "test_seconds", what));
  LMLAB_ASSIGN_OR_RETURN(json audit, JsonGet<json>(j, "audit", what));
  LMLAB_ASSIGN_OR_RETURN(e.audit, AuditFromJson(audit, what + ": \"audit\""));
  LMLAB_ASSIGN_OR_RETURN(json extraction, JsonGetOr<json>(j, "extraction", json::object(), what));
  LMLAB_ASSIGN_OR_RETURN(e.extraction, ExtractionFromJson(extraction, what));
  return e;
}

}  // namespace

Result<ElementResult> ElementFromJson(const json& j) { return ElementFromJsonIn(j, "element result"); }

Status SaveElement(const fs::path& path, const ElementResult& element) {
  return WriteFileAtomic(path, DumpJson(ToJson(element), 2) + "\n");
}

Result<ElementResult> LoadElement(const fs::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const std::string what = path.string() + " is not a complete element result";
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return ParseError(what + ": not JSON");
  return ElementFromJsonIn(j, what);
}

Result<std::optional<ElementResult>> FindElement(const fs::path& run_dir, const std::string& improver_code,
                                                 const std::string& task, int repeat, const StopOptions* options,
                                                 const ElementPlace& place) {
  fs::path path = ElementPath(run_dir, improver_code, task, repeat, place);
  Result<ElementResult> e = LoadElement(path);
  if (!e && e.error().code == ErrorCode::kNotFound) return std::nullopt;
  if (!e) return std::unexpected(e.error());
  std::string hash = ImproverHash(improver_code);
  if (e->task != task || e->repeat != repeat || e->improver_hash != hash)
    return ParseError(fmt::format("{} holds {} repeat {} of improver {}, not {} repeat {} of improver {}",
                                  path.string(), e->task, e->repeat, e->improver_hash, task, repeat, hash));
  if (options) {
    json want = ElementOptionsJson(*options);
    if (e->options != want)
      return InvalidArgument(
          fmt::format("{} holds this element run with other options ({}); remove it to run it "
                      "again, or use another run directory",
                      path.string(), FirstDifference(e->options, want)));
  }
  return e;
}

Result<Gathered> GatherElements(const fs::path& run_dir, const std::string& improver_code,
                                const std::vector<std::string>& tasks, int repeats, const ElementPlace& place) {
  if (tasks.empty()) return InvalidArgument("give at least one task");
  if (repeats < 1) return InvalidArgument(fmt::format("repeats must be >= 1 (got {})", repeats));
  for (const auto& t : tasks) LMLAB_RETURN_IF_ERROR(FindTask(t));
  Gathered g;
  fs::path options_from;  // the first element present: all must match it
  for (const auto& task : tasks)
    for (int r = 0; r < repeats; ++r) {
      fs::path path = ElementPath(run_dir, improver_code, task, r, place);
      LMLAB_ASSIGN_OR_RETURN(std::optional<ElementResult> e, FindElement(run_dir, improver_code, task, r, nullptr, place));
      if (!e) {
        g.missing.push_back(fmt::format("{} repeat {} (elements/{})", task, r, path.filename().string()));
        continue;
      }
      if (options_from.empty()) {
        options_from = path;
        g.options = e->options;
      } else if (e->options != g.options) {
        return InvalidArgument(
            fmt::format("{} and {} were run with different options ({}); run them again with the "
                        "same flags",
                        options_from.string(), path.string(), FirstDifference(g.options, e->options)));
      }
      g.elements.push_back(std::move(*e));
    }
  if (g.missing.empty()) g.meta = CombineElements(g.elements);
  return g;
}

}  // namespace lmlab::improve
