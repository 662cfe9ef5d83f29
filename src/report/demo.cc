#include "lmlab/report/demo.h"

#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <thread>

#include "lmlab/core/file.h"
#include "lmlab/core/json.h"
#include "lmlab/core/text.h"
#include "lmlab/report/internal/steps.h"

namespace lmlab::report {
namespace {

namespace fs = std::filesystem;
using internal::StepContext;

struct StepDef {
  const char* id;
  const char* title;
  Result<Section> (*run)(StepContext&);
};

const std::vector<StepDef>& Steps() {
  static const std::vector<StepDef> kSteps = {
      {"plan", "Compute plan: GPT-4-scale training on H100s", internal::PlanStep},
      {"train", "The embedded default model", internal::TrainStep},
      {"fresh", "FreshPrompt over a local dated corpus", internal::FreshStep},
      {"improve", "STOP: self-improving code", internal::ImproveStep},
      {"probe", "Probes for space in the default model", internal::ProbeStep},
      {"ood-classifier", "OOD: classifiers revert to the optimal constant solution", internal::OodClassifierStep},
      {"ood-lm", "OOD: the language model under corruption", internal::OodLmStep},
  };
  return kSteps;
}

std::string NowIso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ModeName(DemoMode m) { return m == DemoMode::kQuick ? "quick" : "full"; }

// A cached section of the same mode, or nothing (missing, other mode, failed, unreadable).
std::optional<Section> LoadCached(const fs::path& file, DemoMode mode) {
  auto text = ReadFile(file);
  if (!text) return std::nullopt;
  auto j = ParseJson(*text, file.string());
  if (!j) return std::nullopt;
  auto cached_mode = JsonGet<std::string>(*j, "mode", file.string());
  if (!cached_mode || *cached_mode != ModeName(mode) || !j->contains("section")) return std::nullopt;
  auto s = SectionFromJson((*j)["section"]);
  if (!s || (s->status != SectionStatus::kOk && s->status != SectionStatus::kWarning)) return std::nullopt;
  return *s;
}

}  // namespace

std::vector<std::string> DemoStepIds() {
  std::vector<std::string> ids;
  for (const auto& s : Steps()) ids.push_back(s.id);
  return ids;
}

Result<DemoResult> RunDemo(const DemoOptions& o) {
  for (const auto& id : o.only) {
    bool known = false;
    for (const auto& s : Steps()) known |= id == s.id;
    if (!known) {
      return InvalidArgument("unknown demo step '" + id + "' (steps: " +
                             Join(Steps(), ", ", [](const auto& s) { return std::string(s.id); }) + ")");
    }
  }
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(o.out_dir / "steps", ec);
  if (ec) return IoError("cannot create " + (o.out_dir / "steps").string() + ": " + ec.message());

  StepContext ctx;
  ctx.options = &o;
  ctx.out_dir = o.out_dir;
  ctx.quick = o.mode == DemoMode::kQuick;
  ctx.progress = o.progress;
  ctx.model_error = "the train step has not run";

  DemoResult result;
  Report& report = result.report;
  report.mode = ModeName(o.mode);
  report.generated_at = NowIso();
  report.host = fmt::format("{} CPU cores", std::thread::hardware_concurrency());
  report.title = o.mode == DemoMode::kQuick ? "lmlab demo report (quick settings)" : "lmlab demo report";

  // lmlab doctor, for the checks of the steps asked for.
  std::vector<std::string> needed;
  for (const auto& def : Steps()) {
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), def.id) == o.only.end()) continue;
    for (std::string& id : doctor::StepChecks(def.id))
      if (std::find(needed.begin(), needed.end(), id) == needed.end()) needed.push_back(std::move(id));
  }
  if (!needed.empty()) {
    doctor::DoctorOptions checks = o.checks;
    checks.only = needed;
    checks.progress = o.progress;
    result.checks = doctor::RunDoctor(checks);
    report.checks = doctor::ToJson(result.checks);
  }

  const int count = static_cast<int>(Steps().size());
  for (int i = 0; i < count; ++i) {
    const StepDef& def = Steps()[i];
    fs::path cache_file = o.out_dir / "steps" / (std::string(def.id) + ".json");
    bool selected = o.only.empty() || std::find(o.only.begin(), o.only.end(), def.id) != o.only.end();
    StepEvent ev{StepEvent::Kind::kStart, i + 1, count, def.id, def.title};
    std::optional<Section> cached;
    if (o.redo == Redo::kResume || !selected) cached = LoadCached(cache_file, o.mode);
    // The train step's cache is only good while its model file exists.
    if (cached && std::string(def.id) == "train") {
      std::string path = JsonGetOr<std::string>(cached->data, "model_path", "", "train step").value_or("");
      if (path.empty() || !fs::exists(path)) cached.reset();
    }
    Section section;
    if (cached) {
      section = *cached;
      ++result.cached;
      ev.kind = StepEvent::Kind::kCached;
      ev.status = section.status;
      ev.seconds = section.seconds;
      if (o.on_step) o.on_step(ev);
    } else if (!selected) {
      continue;  // not asked for and never run: no section
    } else {
      if (o.on_step) o.on_step(ev);
      auto t0 = std::chrono::steady_clock::now();
      std::string refused = doctor::FailedChecks(result.checks, doctor::StepChecks(def.id));
      Result<Section> r = refused.empty()
                              ? def.run(ctx)
                              : MakeError(ErrorCode::kUnsupported, "not run: lmlab doctor found what this step needs "
                                                                   "missing: " + refused);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r) {
        section = std::move(*r);
      } else {
        section.status = r.error().code == ErrorCode::kUnsupported ? SectionStatus::kUnavailable : SectionStatus::kFailed;
        section.error = r.error().ToString();
      }
      section.id = def.id;
      if (section.title.empty()) section.title = def.title;
      section.seconds = secs;
      ++result.ran;
      nlohmann::json cj = {{"mode", ModeName(o.mode)}, {"section", ToJson(section)}};
      LMLAB_RETURN_IF_ERROR(WriteFileAtomic(cache_file, DumpJson(cj) + "\n"));
      ev.kind = StepEvent::Kind::kDone;
      ev.status = section.status;
      ev.seconds = secs;
      ev.error = section.status == SectionStatus::kWarning ? section.warnings.front() : section.error;
      if (o.on_step) o.on_step(ev);
    }
    if (section.status == SectionStatus::kFailed || section.status == SectionStatus::kUnavailable) ++result.failed;
    if (section.status == SectionStatus::kWarning) ++result.warned;
    if (std::string(def.id) == "train") {
      if (section.status == SectionStatus::kOk || section.status == SectionStatus::kWarning) {
        ctx.model_path = JsonGetOr<std::string>(section.data, "model_path", "", "train step").value_or("");
        ctx.model_error.clear();
      } else {
        ctx.model_error = section.error;
      }
    }
    report.sections.push_back(std::move(section));
    // Write the page after every step, so an interrupted run still leaves a report.
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LMLAB_RETURN_IF_ERROR(WriteReport(report, o.out_dir));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LMLAB_RETURN_IF_ERROR(WriteReport(report, o.out_dir));
  result.index_html = o.out_dir / "index.html";
  return result;
}

namespace internal {

Result<std::filesystem::path> RequireModel(const StepContext& ctx) {
  if (!ctx.model_path.empty()) return ctx.model_path;
  return MakeError(ErrorCode::kUnavailable, "this step needs the default model, and the train step did not produce it: " +
                                                ctx.model_error);
}

}  // namespace internal
}  // namespace lmlab::report
