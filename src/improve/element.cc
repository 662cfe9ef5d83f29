// Element files of the meta-utility: JSON, atomic files, gathering. Running
// an element is in stop.cc, next to the in-process pool that runs the same
// code. See element.h.
#include "lmlab/improve/element.h"

#include <fmt/format.h>

#include "lmlab/core/file.h"
#include "lmlab/improve/task.h"

namespace lmlab::improve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Reads j[key] into `out`; false when the key is missing or of another type.
template <class T>
bool Field(const json& j, const char* key, T& out, std::string& bad) {
  auto it = j.find(key);
  bool ok = it != j.end();
  if (ok) {
    if constexpr (std::is_same_v<T, bool>)
      ok = it->is_boolean();
    else if constexpr (std::is_same_v<T, std::string>)
      ok = it->is_string();
    else if constexpr (std::is_arithmetic_v<T>)
      ok = it->is_number();
    else if constexpr (std::is_same_v<T, json>)
      ok = it->is_object();
  }
  if (!ok) {
    bad = key;
    return false;
  }
  if constexpr (std::is_same_v<T, json>)
    out = *it;
  else
    out = it->get<T>();
  return true;
}

// The first option whose value differs, for messages: "seed: 0 vs 7".
std::string FirstDifference(const json& a, const json& b) {
  for (const auto& [key, value] : a.items())
    if (!b.contains(key) || b[key] != value)
      return fmt::format("{}: {} vs {}", key, value.dump(), b.contains(key) ? b[key].dump() : "none");
  for (const auto& [key, value] : b.items())
    if (!a.contains(key)) return fmt::format("{}: none vs {}", key, value.dump());
  return "none";
}

}  // namespace

fs::path ElementPath(const fs::path& run_dir, const std::string& improver_code, const std::string& task, int repeat) {
  return run_dir / "elements" / fmt::format("{}-{}-{}.json", ImproverHash(improver_code), task, repeat);
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
          {"utility_calls", e.utility_calls},
          {"prompt_tokens", e.prompt_tokens},
          {"completion_tokens", e.completion_tokens},
          {"audit", e.audit},
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
          {"utility_calls", m.utility_calls},
          {"prompt_tokens", m.prompt_tokens},
          {"completion_tokens", m.completion_tokens},
          {"audit", m.audit}};
}

Result<ElementResult> ElementFromJson(const json& j) {
  if (!j.is_object()) return ParseError("an element result is a JSON object");
  ElementResult e;
  std::string bad;
  bool ok = Field(j, "task", e.task, bad) && Field(j, "repeat", e.repeat, bad) &&
            Field(j, "improver_hash", e.improver_hash, bad) && Field(j, "utility", e.utility, bad) &&
            Field(j, "failed", e.failed, bad) && Field(j, "improver_verdict", e.improver_verdict, bad) &&
            Field(j, "note", e.note, bad) && Field(j, "test_instances", e.test_instances, bad) &&
            Field(j, "test_errors", e.test_errors, bad) && Field(j, "test_too_slow", e.test_too_slow, bad) &&
            Field(j, "test_wrong_shape", e.test_wrong_shape, bad) && Field(j, "model_calls", e.model_calls, bad) &&
            Field(j, "samples", e.samples, bad) && Field(j, "utility_calls", e.utility_calls, bad) &&
            Field(j, "prompt_tokens", e.prompt_tokens, bad) &&
            Field(j, "completion_tokens", e.completion_tokens, bad) && Field(j, "model", e.model, bad) &&
            Field(j, "options", e.options, bad) && Field(j, "wall_seconds", e.wall_seconds, bad) &&
            Field(j, "improver_seconds", e.improver_seconds, bad) && Field(j, "test_seconds", e.test_seconds, bad);
  if (!ok) return ParseError(fmt::format("field \"{}\" is missing or of the wrong type", bad));
  if (!j.contains("audit") || !j["audit"].is_object()) return ParseError("field \"audit\" is missing or not an object");
  try {
    e.audit = j["audit"].get<Audit>();
  } catch (const json::exception& ex) {
    return ParseError(std::string("field \"audit\": ") + ex.what());
  }
  return e;
}

Status SaveElement(const fs::path& path, const ElementResult& element) {
  return WriteFileAtomic(path, ToJson(element).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

Result<ElementResult> LoadElement(const fs::path& path) {
  LMLAB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return ParseError(path.string() + " is not a complete element result: not JSON");
  Result<ElementResult> e = ElementFromJson(j);
  if (!e) return ParseError(path.string() + " is not a complete element result: " + e.error().message);
  return e;
}

Result<std::optional<ElementResult>> FindElement(const fs::path& run_dir, const std::string& improver_code,
                                                 const std::string& task, int repeat, const StopOptions* options) {
  fs::path path = ElementPath(run_dir, improver_code, task, repeat);
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
                                const std::vector<std::string>& tasks, int repeats) {
  if (tasks.empty()) return InvalidArgument("give at least one task");
  if (repeats < 1) return InvalidArgument("--repeats must be >= 1");
  for (const auto& t : tasks) LMLAB_RETURN_IF_ERROR(FindTask(t));
  Gathered g;
  fs::path options_from;  // the first element present: all must match it
  for (const auto& task : tasks)
    for (int r = 0; r < repeats; ++r) {
      fs::path path = ElementPath(run_dir, improver_code, task, r);
      LMLAB_ASSIGN_OR_RETURN(std::optional<ElementResult> e, FindElement(run_dir, improver_code, task, r));
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
