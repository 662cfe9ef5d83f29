// How a run ended, as a Verdict with one line for people: from what the host
// did (killed it on the wall clock, the output cap or a failed RPC handler),
// bwrap's exit and what bwrap reported about the program.
#pragma once

#include <string>

#include "lmlab/sandbox/sandbox.h"
#include "sandbox/bwrap_process.h"
#include "sandbox/io_pump.h"

namespace lmlab::sandbox::internal {

// Sets r.verdict, r.detail, r.exit_code and r.signal (r.stderr_data and
// r.cpu_seconds must be filled in already); may append a line to
// r.stderr_data saying why bwrap could not start.
void Classify(RunResult& r, const PumpResult& io, const BwrapProcess::Exit& exit, bool killed_by_host,
              const Limits& limits, const std::string& bwrap);

}  // namespace lmlab::sandbox::internal
