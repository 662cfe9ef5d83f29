#include "sandbox/verdict.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <string_view>

namespace lmlab::sandbox::internal {
namespace {

bool Contains(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

Verdict ClassifyEnd(RunResult& r, const PumpResult& io, bool started, const Limits& limits) {
  if (!io.rpc_failure.empty()) {
    r.detail = "killed: the host's RPC handler failed (" + io.rpc_failure + ")";
    return Verdict::kRpcError;
  }
  if (io.timed_out) {
    r.detail = "killed after " + std::to_string(limits.wall_seconds).substr(0, 5) + " s wall clock";
    return Verdict::kTimeout;
  }
  if (io.output_limit) {
    r.detail = "killed: wrote more than " + std::to_string(limits.output_bytes) + " bytes of output";
    return Verdict::kOutputLimit;
  }
  if (!started) {
    r.detail = "bubblewrap failed to set up the sandbox";
    return Verdict::kSandboxError;
  }
  if (r.signal == SIGXCPU || (r.signal == SIGKILL && r.cpu_seconds >= limits.cpu_seconds - 0.05)) {
    r.detail = "used up " + std::to_string(limits.cpu_seconds) + " CPU seconds";
    return Verdict::kCpuLimit;
  }
  if (r.signal == SIGXFSZ) {
    r.detail = "wrote past the file size limit";
    return Verdict::kFileSizeLimit;
  }
  if (r.exit_code != 0) {
    const std::string& e = r.stderr_data;
    if (Contains(e, "MemoryError") || Contains(e, "Cannot allocate memory") || Contains(e, "bad_alloc") ||
        Contains(e, "out of memory")) {
      r.detail = "an allocation failed under the memory limit";
      return Verdict::kMemoryLimit;
    }
    if (Contains(e, "File too large") || Contains(e, "No space left on device")) {
      r.detail = "a write failed at the file size or /tmp limit";
      return Verdict::kFileSizeLimit;
    }
  }
  if (r.signal != 0) {
    r.detail = std::string("ended by signal ") + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")";
    return Verdict::kSignal;
  }
  if (r.exit_code == 0) return Verdict::kOk;
  r.detail = "exited with status " + std::to_string(r.exit_code);
  return Verdict::kNonZeroExit;
}

}  // namespace

void Classify(RunResult& r, const PumpResult& io, const BwrapProcess::Exit& exit, bool killed_by_host,
              const Limits& limits, const std::string& bwrap) {
  // bwrap reports the program's end as {"exit-code": N}, N = 128 + signal
  // when a signal ended it. Without that line bwrap itself failed (or was killed).
  bool started = false;
  const int ws = exit.wait_status;
  if (exit.program_status) {
    int code = *exit.program_status;
    started = true;
    if (code > 128 && code <= 128 + 64) {
      r.signal = code - 128;
      r.exit_code = -1;
    } else {
      r.exit_code = code;
    }
  } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 126) {
    r.stderr_data += "sandbox: cannot switch to user id " + std::to_string(r.uid) + "\n";
  } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127) {
    r.stderr_data += "sandbox: cannot run " + bwrap + "\n";
  }
  if (!started && WIFSIGNALED(ws) && !killed_by_host) {
    // bwrap itself was ended by a signal: its rlimit (CPU) hit before status.
    r.signal = WTERMSIG(ws);
    started = true;
  }
  r.verdict = ClassifyEnd(r, io, started, limits);
  if (r.verdict == Verdict::kSandboxError && !r.stderr_data.empty()) {
    std::string first = r.stderr_data.substr(0, r.stderr_data.find('\n'));
    r.detail += ": " + first;
  }
}

}  // namespace lmlab::sandbox::internal
