// bwrap's command line for one run: the mounts and namespaces of
// docs/sandbox.md ("What a program sees"), the program's environment, and
// the seccomp, status and block fds (bwrap_process.h's numbers). bwrap builds
// the namespaces and mounts, then waits on the block fd before it loads the
// filter and execs the program (prepared_run.h).
#pragma once

#include <string>
#include <vector>

#include "lmlab/sandbox/sandbox.h"

namespace lmlab::sandbox::internal {

enum class RunAs { kCallerInUserNamespace, kOwnUid };  // kOwnUid: lmlab runs as root
enum class Seccomp { kOff, kOn };

std::vector<std::string> BwrapArgs(const std::string& bwrap, const Request& request, const std::string& box_dir,
                                   RunAs run_as, Seccomp seccomp);

}  // namespace lmlab::sandbox::internal
