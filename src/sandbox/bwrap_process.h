// The started bwrap, as a handle that owns it: whatever path leaves Run,
// the handle SIGKILLs the child's session, reaps it, reads what bwrap
// reported on its --json-status-fd, and reaps the pid namespace's init too
// when bwrap left it to us. Nothing the run started outlives the handle.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/sandbox/sandbox.h"
#include "sandbox/unique_fd.h"

namespace lmlab::sandbox::internal {

// What the child sees at fds 3-7 (0-2 are stdin, stdout, stderr).
constexpr int kRpcRequestFd = 3;   // the program writes requests
constexpr int kRpcResponseFd = 4;  // the program reads responses
constexpr int kStatusFd = 5;       // bwrap's --json-status-fd
constexpr int kSeccompFd = 6;      // bwrap's --seccomp: reads the filter, closes it
constexpr int kBlockFd = 7;        // bwrap's --block-fd: set up, then wait here for the release
constexpr int kChildFds = 8;

struct ChildSpec {
  std::vector<std::string> argv;     // argv[0]: the host path of the program (bwrap)
  Limits limits;                     // CPU, address space, file size; processes when run_as_uid is set
  std::optional<uint32_t> run_as_uid;  // when root: drop to this unprivileged uid (and gid)
  std::array<int, kChildFds> fds;    // fds[i] becomes the child's fd i; -1 leaves fd i closed
};

class BwrapProcess {
 public:
  // Forks and execs spec.argv with an empty environment in a new session,
  // after setting the rlimits and dropping to run_as_uid. The child dies with
  // the host (PR_SET_PDEATHSIG). An exec failure shows as exit status 127, a
  // failed uid change as 126. `status_read` is the host's end of the pipe at
  // the child's kStatusFd.
  static Result<BwrapProcess> Spawn(const ChildSpec& spec, UniqueFd status_read);

  BwrapProcess(BwrapProcess&& other) noexcept;
  BwrapProcess& operator=(BwrapProcess&&) = delete;
  BwrapProcess(const BwrapProcess&) = delete;
  ~BwrapProcess();

  // Readable (POLLIN) once the child has exited; -1 on kernels without pidfd_open.
  int pidfd() const { return pidfd_.get(); }

  // SIGKILLs the child's session: bwrap, and with it (--die-with-parent) the
  // pid namespace's init, whose death makes the kernel kill every process in
  // the namespace. Sets killed().
  void KillSession();
  bool killed() const { return killed_; }

  struct Exit {
    int wait_status = 0;       // bwrap's, as from wait4
    double cpu_seconds = 0;    // user + system of bwrap and, when we reaped it, the namespace init
    int64_t max_rss_bytes = 0;
    // What bwrap reported: {"exit-code": N} once the program ended (N = 128 +
    // signal when a signal ended it). Absent when bwrap itself failed or was killed.
    std::optional<int> program_status;
  };
  // Kills the session, reaps bwrap, reads its status, and reaps the
  // namespace init if it is ours to reap: if bwrap exits before its init
  // has been reaped, the init is reparented to the nearest child subreaper,
  // this process (PrepareHostProcess). The first call does the work; later
  // calls return its result.
  Exit Finish();

 private:
  BwrapProcess() = default;
  pid_t pid_ = -1;  // -1: moved from
  UniqueFd pidfd_;
  UniqueFd status_;
  bool killed_ = false;
  std::optional<Exit> exit_;
};

}  // namespace lmlab::sandbox::internal
