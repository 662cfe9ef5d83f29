// The host's side of a running sandbox: one poll() loop that feeds stdin,
// collects stdout and stderr up to the output cap, serves the RPC channel a
// line at a time, and enforces the wall clock (time spent in the RPC handler
// excluded), killing the session when a limit is hit or the handler fails.
#pragma once

#include <chrono>
#include <string>

#include "lmlab/sandbox/sandbox.h"
#include "sandbox/bwrap_process.h"
#include "sandbox/unique_fd.h"

namespace lmlab::sandbox::internal {

// The host's ends of the run's pipes (closed ones stay closed).
struct HostEnds {
  UniqueFd stdin_write;
  UniqueFd stdout_read, stderr_read;
  UniqueFd rpc_request_read, rpc_response_write;
};

struct PumpResult {
  std::string stdout_data, stderr_data;  // each at most limits.output_bytes
  bool timed_out = false;                // the wall clock ran out: killed
  bool output_limit = false;             // more output than allowed, or an endless request line: killed
  std::string rpc_failure;               // non-empty: the RPC handler failed (or threw): killed
  double rpc_seconds = 0;                // spent in the handler
  int rpc_requests = 0;
};

// Runs until bwrap has exited (or been killed) and its output is drained.
PumpResult PumpUntilExit(BwrapProcess& child, HostEnds& ends, const Request& request,
                         std::chrono::steady_clock::time_point start);

}  // namespace lmlab::sandbox::internal
