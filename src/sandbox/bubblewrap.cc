// The bubblewrap Sandbox. The host forks, drops to a fresh unprivileged user
// id (when root), sets rlimits, starts a new session and execs bwrap, which
// builds the mount, pid, network, ipc and uts namespaces. The host then pumps
// stdin/stdout/stderr and the RPC pipes with poll(), enforces the output cap
// and the wall clock, and SIGKILLs the session on either. Killing bwrap kills
// the pid namespace's init (--die-with-parent), and the kernel then kills
// every process left inside: nothing outlives a run. bwrap loads the
// seccomp deny-list (seccomp.h), compiled once per sandbox and handed over on
// a pipe, just before it execs the program.
//
// The pieces, each owning what it opens: BoxDir (the run's files, removed on
// every path out), Pipe/UniqueFd (ends close themselves), BwrapProcess (the
// child: killed and reaped, with the namespace init, on every path out),
// PreparedRun (bwrap started and blocked once the sandbox is built, released
// with the request's files), SparePool (prepared runs set up ahead of the
// next request), PumpUntilExit (the poll loop), Classify (the verdict).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "lmlab/sandbox/host_process.h"
#include "lmlab/sandbox/sandbox.h"
#include "lmlab/sandbox/seccomp.h"
#include "sandbox/box_dir.h"
#include "sandbox/bwrap_process.h"
#include "sandbox/io_pump.h"
#include "sandbox/prepared_run.h"
#include "sandbox/unique_fd.h"
#include "sandbox/verdict.h"

namespace lmlab::sandbox {
namespace {

namespace fs = std::filesystem;
using namespace internal;
using Clock = std::chrono::steady_clock;

std::atomic<uint32_t> g_run_counter{0};

Status CheckRequest(const Request& req) {
  if (req.argv.empty() || req.argv[0].empty() || req.argv[0][0] != '/')
    return InvalidArgument("sandbox: argv[0] must be an absolute path inside the sandbox (e.g. /usr/bin/python3)");
  const Limits& L = req.limits;
  if (!(L.wall_seconds > 0) || L.cpu_seconds <= 0 || L.memory_bytes <= 0 || L.max_processes <= 0 ||
      L.file_size_bytes <= 0 || L.tmp_bytes <= 0 || L.output_bytes <= 0)
    return InvalidArgument("sandbox: every limit must be positive");
  return {};
}

class BubblewrapSandbox final : public Sandbox {
 public:
  explicit BubblewrapSandbox(BubblewrapOptions o) : options_(std::move(o)) {
    std::error_code ec;
    fs::path tmp = fs::temp_directory_path(ec);
    if (!ec) RemoveBoxDirsOfDeadHosts(tmp);
    if (options_.seccomp) seccomp_filter_ = CompileSeccompFilter();
    if (options_.spares > 0 && seccomp_filter_)
      spares_ = std::make_unique<SparePool>([this](const RunShape& shape) { return Prepare(shape); }, options_.spares);
  }
  Result<RunResult> Run(const Request& request) override;

 private:
  // Starts bwrap for one run of this shape, blocked once the sandbox is built.
  Result<std::unique_ptr<PreparedRun>> Prepare(const RunShape& shape) {
    const bool as_root = geteuid() == 0;
    PrepareOptions o{.bwrap = options_.bwrap, .seccomp_bpf = *seccomp_filter_};
    if (as_root) o.run_as_uid = options_.uid_base + (static_cast<uint32_t>(getpid()) * 64 + g_run_counter++) % options_.uid_count;
    return PreparedRun::Start(shape, o);
  }

  BubblewrapOptions options_;
  // The compiled filter (or why it failed: then every Run fails, closed).
  Result<std::string> seccomp_filter_ = std::string();
  std::unique_ptr<SparePool> spares_;  // null when options_.spares is 0
};

Result<RunResult> BubblewrapSandbox::Run(const Request& req) {
  LMLAB_RETURN_IF_ERROR(CheckRequest(req));
  LMLAB_RETURN_IF_ERROR(CheckHostProcess());
  if (!seccomp_filter_) return std::unexpected(seccomp_filter_.error());
  const RunShape shape = RunShape::Of(req);
  RunResult r;
  std::unique_ptr<PreparedRun> run;
  if (spares_) run = spares_->Take(shape);
  // However Run ends, the pool learns this request is over (it keeps one
  // spare per request running at once).
  struct Running {
    SparePool* pool;
    const RunShape& shape;
    ~Running() {
      if (pool) pool->Done(shape);
    }
  } running{spares_.get(), shape};
  r.set_up_ahead = run != nullptr;
  if (!run) {
    LMLAB_ASSIGN_OR_RETURN(run, Prepare(shape));
  }
  r.uid = run->uid();
  LMLAB_RETURN_IF_ERROR(run->Release(req.files));
  auto start = Clock::now();

  PumpResult io = PumpUntilExit(run->child(), run->ends(), req, start);
  const bool killed_by_host = run->child().killed();
  BwrapProcess::Exit exit = run->child().Finish();
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count() - io.rpc_seconds;
  r.rpc_seconds = io.rpc_seconds;
  r.rpc_requests = io.rpc_requests;
  r.cpu_seconds = exit.cpu_seconds;
  r.max_rss_bytes = exit.max_rss_bytes;
  r.stdout_data = std::move(io.stdout_data);
  r.stderr_data = std::move(io.stderr_data);
  if (geteuid() == 0) {
    for (int p : ProcessesOfUid(r.uid)) {
      kill(p, SIGKILL);
      ++r.survivors;
    }
  }
  Classify(r, io, exit, killed_by_host, req.limits, options_.bwrap);
  return r;
}

}  // namespace

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kOk: return "ok";
    case Verdict::kNonZeroExit: return "nonzero exit";
    case Verdict::kTimeout: return "timeout";
    case Verdict::kCpuLimit: return "cpu limit";
    case Verdict::kMemoryLimit: return "memory limit";
    case Verdict::kOutputLimit: return "output limit";
    case Verdict::kFileSizeLimit: return "file size limit";
    case Verdict::kSignal: return "signal";
    case Verdict::kRpcError: return "rpc error";
    case Verdict::kSandboxError: return "sandbox error";
  }
  return "?";
}

std::unique_ptr<Sandbox> MakeBubblewrapSandbox(BubblewrapOptions options) {
  return std::make_unique<BubblewrapSandbox>(std::move(options));
}

Status CheckBubblewrap(const BubblewrapOptions& options) {
  if (access(options.bwrap.c_str(), X_OK) != 0)
    return Unavailable("bubblewrap not found at " + options.bwrap + ": install it (apt-get install bubblewrap)");
  BubblewrapOptions once = options;
  once.spares = 0;  // one run: nothing to set up ahead
  auto box = MakeBubblewrapSandbox(once);
  Request req{.argv = {"/usr/bin/true"}};
  req.limits.wall_seconds = 10;
  LMLAB_ASSIGN_OR_RETURN(RunResult r, box->Run(req));
  if (r.verdict != Verdict::kOk)
    return Unavailable("bubblewrap cannot create a sandbox here (" + r.detail +
                       "); it needs user namespaces or root");
  return {};
}

}  // namespace lmlab::sandbox
