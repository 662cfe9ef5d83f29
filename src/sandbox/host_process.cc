#include "lmlab/sandbox/host_process.h"

#include <signal.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace lmlab::sandbox {

Status PrepareHostProcess() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    return Internal(std::string("cannot make this process a child subreaper: ") + std::strerror(errno));
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (sigaction(SIGPIPE, &ignore, nullptr) != 0)
    return Internal(std::string("cannot ignore SIGPIPE: ") + std::strerror(errno));
  return {};
}

Status CheckHostProcess() {
  int subreaper = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper) != 0 || subreaper == 0)
    return Internal(
        "sandbox: this process is not a child subreaper, so bwrap's namespace init could outlive a run "
        "unreaped; call sandbox::PrepareHostProcess() once at start-up");
  struct sigaction current {};
  // Ignored or handled, a write to a closed pipe fails with EPIPE; only the
  // default action kills.
  if (sigaction(SIGPIPE, nullptr, &current) != 0 ||
      (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL))
    return Internal(
        "sandbox: SIGPIPE has its default action, so a program that closes a pipe would kill this process; call "
        "sandbox::PrepareHostProcess() once at start-up");
  return {};
}

}  // namespace lmlab::sandbox
