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
// PumpUntilExit (the poll loop), Classify (the verdict).
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
#include "sandbox/bwrap_args.h"
#include "sandbox/bwrap_process.h"
#include "sandbox/io_pump.h"
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

// The whole filter goes into the pipe now (a few KiB; the pipe is grown
// first should it ever outgrow the default 64 KiB) and the write end is
// closed, so bwrap reads it to EOF without the host's help.
Result<UniqueFd> SeccompPipe(const std::string& bpf) {
  LMLAB_ASSIGN_OR_RETURN(Pipe p, OpenPipe());
  if (bpf.size() > 65536 && fcntl(p.write.get(), F_SETPIPE_SZ, int(bpf.size())) < 0)
    return IoError(std::string("sandbox: cannot grow the seccomp pipe: ") + std::strerror(errno));
  for (size_t done = 0; done < bpf.size();) {
    ssize_t w = write(p.write.get(), bpf.data() + done, bpf.size() - done);
    if (w > 0) done += size_t(w);
    else if (w < 0 && errno != EINTR) return IoError(std::string("sandbox: seccomp pipe: ") + std::strerror(errno));
  }
  return std::move(p.read);
}

class BubblewrapSandbox final : public Sandbox {
 public:
  explicit BubblewrapSandbox(BubblewrapOptions o) : options_(std::move(o)) {
    std::error_code ec;
    fs::path tmp = fs::temp_directory_path(ec);
    if (!ec) RemoveBoxDirsOfDeadHosts(tmp);
    if (options_.seccomp) seccomp_filter_ = CompileSeccompFilter();
  }
  Result<RunResult> Run(const Request& request) override;

 private:
  BubblewrapOptions options_;
  // The compiled filter (or why it failed: then every Run fails, closed).
  Result<std::string> seccomp_filter_ = std::string();
};

Result<RunResult> BubblewrapSandbox::Run(const Request& req) {
  LMLAB_RETURN_IF_ERROR(CheckRequest(req));
  LMLAB_RETURN_IF_ERROR(CheckHostProcess());
  if (!seccomp_filter_) return std::unexpected(seccomp_filter_.error());
  const std::string& seccomp_bpf = *seccomp_filter_;
  LMLAB_ASSIGN_OR_RETURN(BoxDir box, BoxDir::Create(req.files));

  const bool as_root = geteuid() == 0;
  RunResult r;
  r.uid = as_root ? options_.uid_base + (static_cast<uint32_t>(getpid()) * 64 + g_run_counter++) % options_.uid_count
                  : geteuid();

  // The child's ends of every pipe, and the host's.
  LMLAB_ASSIGN_OR_RETURN(Pipe in, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe out, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe err, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe status, OpenPipe());
  Pipe rpc_req, rpc_resp;
  if (req.rpc) {
    LMLAB_ASSIGN_OR_RETURN(rpc_req, OpenPipe());
    LMLAB_ASSIGN_OR_RETURN(rpc_resp, OpenPipe());
  }
  UniqueFd seccomp_read;
  if (!seccomp_bpf.empty()) {
    LMLAB_ASSIGN_OR_RETURN(seccomp_read, SeccompPipe(seccomp_bpf));
  }

  ChildSpec spec{.argv = BwrapArgs(options_.bwrap, req, box.path().string(),
                                   as_root ? RunAs::kOwnUid : RunAs::kCallerInUserNamespace,
                                   seccomp_bpf.empty() ? Seccomp::kOff : Seccomp::kOn),
                 .limits = req.limits,
                 .run_as_uid = as_root ? std::optional<uint32_t>(r.uid) : std::nullopt,
                 .fds = {in.read.get(), out.write.get(), err.write.get(), rpc_req.write.get(), rpc_resp.read.get(),
                         status.write.get(), seccomp_read.get()}};
  auto start = Clock::now();
  LMLAB_ASSIGN_OR_RETURN(BwrapProcess child, BwrapProcess::Spawn(spec, std::move(status.read)));
  // The child has its copies; the host keeps only its own ends.
  for (UniqueFd* fd : {&in.read, &out.write, &err.write, &status.write, &rpc_req.write, &rpc_resp.read, &seccomp_read})
    fd->Close();
  HostEnds ends{.stdin_write = std::move(in.write),
                .stdout_read = std::move(out.read),
                .stderr_read = std::move(err.read),
                .rpc_request_read = std::move(rpc_req.read),
                .rpc_response_write = std::move(rpc_resp.write)};

  PumpResult io = PumpUntilExit(child, ends, req, start);
  const bool killed_by_host = child.killed();
  BwrapProcess::Exit exit = child.Finish();
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count() - io.rpc_seconds;
  r.rpc_seconds = io.rpc_seconds;
  r.rpc_requests = io.rpc_requests;
  r.cpu_seconds = exit.cpu_seconds;
  r.max_rss_bytes = exit.max_rss_bytes;
  r.stdout_data = std::move(io.stdout_data);
  r.stderr_data = std::move(io.stderr_data);
  if (as_root) {
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
  auto box = MakeBubblewrapSandbox(options);
  Request req{.argv = {"/usr/bin/true"}};
  req.limits.wall_seconds = 10;
  LMLAB_ASSIGN_OR_RETURN(RunResult r, box->Run(req));
  if (r.verdict != Verdict::kOk)
    return Unavailable("bubblewrap cannot create a sandbox here (" + r.detail +
                       "); it needs user namespaces or root");
  return {};
}

}  // namespace lmlab::sandbox
