// Running untrusted code: a Sandbox runs one command under bubblewrap with no
// network, a read-only system, a private writable /tmp, no host environment,
// rlimits on CPU, memory, processes, file size and captured output, and a
// wall-clock kill of the whole process tree. Every run ends with a Verdict.
//
//   std::unique_ptr<Sandbox> box = MakeBubblewrapSandbox();
//   Request req{.argv = {"/usr/bin/python3", "/box/main.py"},
//               .files = {{"main.py", "print(6 * 7)"}}};
//   req.limits.wall_seconds = 2;
//   LMLAB_ASSIGN_OR_RETURN(RunResult r, box->Run(req));
//   // r.verdict == Verdict::kOk, r.stdout_data == "42\n"
//
// What the program sees (see docs/sandbox.md): /usr read-only (plus the
// /bin, /lib, /lib64 symlinks and /etc/alternatives, /etc/ld.so.cache that
// shared libraries need), its files read-only under /box, an empty tmpfs at
// /tmp (its working directory), a private /proc that shows only its own
// processes, a minimal /dev, no network interfaces but loopback, and only the
// environment variables in Request::env. Nothing else of the host is mounted:
// no /etc/shadow, no /root, no /home.
// A seccomp filter fails the system calls it has no use for with EPERM:
// ptrace and process_vm_*, keyrings, bpf, perf_event_open, userfaultfd,
// io_uring, mount and new namespaces (unshare, setns, clone with CLONE_NEW*),
// modules, kexec, reboot, clock setting, ... (the list: docs/sandbox.md).
//
// Thread-safety: Run may be called from several threads at once; each run
// gets its own user id (when lmlab runs as root), namespaces and temp dir.
// The process must have been prepared once (host_process.h:
// PrepareHostProcess); Run checks that first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lmlab/core/error.h"

namespace lmlab::sandbox {

struct Limits {
  double wall_seconds = 10;               // the host SIGKILLs the whole tree after this (time serving RPC excluded)
  int cpu_seconds = 10;                   // RLIMIT_CPU: SIGXCPU, then SIGKILL a second later
  int64_t memory_bytes = 1LL << 30;       // RLIMIT_AS (address space)
  int max_processes = 32;                 // RLIMIT_NPROC for the run's own user id (threads count)
  int64_t file_size_bytes = 16LL << 20;   // RLIMIT_FSIZE: the largest file it may write
  int64_t tmp_bytes = 64LL << 20;         // size of the private /tmp tmpfs
  int64_t output_bytes = 1LL << 20;       // captured stdout and stderr, each; more ends the run

  friend bool operator==(const Limits&, const Limits&) = default;
};

// A file placed read-only at /box/<path> inside the sandbox.
struct File {
  std::string path;  // relative, no ".."
  std::string contents;
};

// Answers one request line from the program (without the newline) with one
// response line (no newline in it). Called on the thread that called Run.
// An error, or an exception, ends the run: the host kills the program and
// Run returns a RunResult with Verdict::kRpcError and the error's message.
// The request comes from untrusted code: a handler answers a malformed
// request with a reply the program understands, and fails only for its own
// reasons.
using RpcHandler = std::function<Result<std::string>(std::string_view request)>;

struct Request {
  std::vector<std::string> argv;  // argv[0] is a path inside the sandbox: "/usr/bin/python3"
  std::vector<File> files;
  std::string stdin_data;
  // The program's whole environment. PATH, HOME and LANG are set unless given
  // here; nothing is inherited from the host (API keys stay outside).
  std::vector<std::pair<std::string, std::string>> env;
  Limits limits;
  // When set, the program may talk to the host: it writes request lines to
  // fd 3 and reads response lines from fd 4. Time the host spends in the
  // handler does not count against limits.wall_seconds.
  RpcHandler rpc;
};

enum class Verdict {
  kOk,             // exited with status 0
  kNonZeroExit,    // exited with another status (an exception, a syntax error, ...)
  kTimeout,        // ran past limits.wall_seconds; the host killed it
  kCpuLimit,       // used up limits.cpu_seconds
  kMemoryLimit,    // an allocation failed under limits.memory_bytes
  kOutputLimit,    // wrote more than limits.output_bytes to stdout or stderr; the host killed it
  kFileSizeLimit,  // a write failed at limits.file_size_bytes or a full /tmp
  kSignal,         // ended by another signal (SIGSEGV, SIGABRT, SIGKILL, ...)
  kRpcError,       // the host's RPC handler failed; the host killed the program
  kSandboxError,   // bubblewrap could not set the sandbox up; the program never ran
};

std::string_view VerdictName(Verdict v);  // "ok", "timeout", "memory limit", "rpc error", ...

struct RunResult {
  Verdict verdict = Verdict::kSandboxError;
  int exit_code = -1;  // the program's exit status; -1 when a signal ended it
  int signal = 0;      // the signal that ended it, 0 when it exited
  std::string stdout_data;  // at most limits.output_bytes
  std::string stderr_data;  // at most limits.output_bytes
  double wall_seconds = 0;  // from the program's release to the end of the process tree (set-up excluded)
  double rpc_seconds = 0;   // of which the host spent serving RPC
  double cpu_seconds = 0;   // user + system of the whole tree
  int64_t max_rss_bytes = 0;
  uint32_t uid = 0;         // host user id the program ran as
  int survivors = 0;        // processes of that uid alive after the run (killed; always 0 unless namespaces fail)
  int rpc_requests = 0;
  std::string detail;       // one line for people: "killed after 2.0 s wall clock"
  // The sandbox had been set up before this request came (namespaces and
  // mounts ready, BubblewrapOptions::spares), so only the release and the
  // program itself were on the request's path.
  bool set_up_ahead = false;
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  // Runs the request to its end. An error only when nothing could run at all
  // (bad request, the process not prepared, no pipes); everything the
  // program does, and a failing RPC handler, is a RunResult with a verdict.
  // Every process the run started is gone and its temp dir removed when Run
  // returns, whichever way.
  virtual Result<RunResult> Run(const Request& request) = 0;
};

struct BubblewrapOptions {
  std::string bwrap = "/usr/bin/bwrap";
  // When lmlab runs as root, each run gets its own unprivileged user id from
  // [uid_base, uid_base + uid_count), so RLIMIT_NPROC is enforced (root is
  // exempt from it) and host files readable only by root stay unreadable.
  uint32_t uid_base = 3'500'000;
  uint32_t uid_count = 1'000'000;
  // Load the seccomp deny-list into every run (bwrap --seccomp). Turn it off
  // only to measure or test the filter itself.
  bool seccomp = true;
  // Sandboxes set up ahead: after each request, bwrap is started for the next
  // one of the same shape (argv, environment, limits, RPC or not) and builds
  // its namespaces and mounts while nothing waits for it; the next request's
  // files go into its box dir and it is released. Each serves one request, so
  // nothing passes from one program to the next. Up to this many wait at
  // once for each of the two shapes asked for last (one per request of that
  // shape running concurrently); 0 sets every sandbox up on its request. Waiting ones cost a few processes and an empty temp dir.
  int spares = 1;
};

std::unique_ptr<Sandbox> MakeBubblewrapSandbox(BubblewrapOptions options = {});

// Checks that bubblewrap is installed and can create namespaces here;
// kUnavailable says what to install or enable.
Status CheckBubblewrap(const BubblewrapOptions& options = {});

// Processes owned by host user `uid` right now (scans /proc). Used after each
// run to prove nothing outlived it.
std::vector<int> ProcessesOfUid(uint32_t uid);

}  // namespace lmlab::sandbox
