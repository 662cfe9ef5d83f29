// The sandbox's seccomp filter: a deny-list compiled with libseccomp into the
// raw cBPF program that bubblewrap loads (`bwrap --seccomp FD`) just before it
// execs the program. Everything not listed is allowed; namespaces, the
// unprivileged uid and the rlimits stay the first line of defence, the filter
// takes away the kernel interfaces a contained program has no use for and an
// attacker would reach for first. See docs/sandbox.md.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "lmlab/core/error.h"

namespace lmlab::sandbox {

struct DeniedSyscall {
  std::string_view name;  // as libseccomp names it ("ptrace", "umount2", ...)
  std::string_view why;   // the group it belongs to, for people
};

// The syscalls that fail with EPERM whatever their arguments. Names this
// architecture lacks (iopl on aarch64, umount on x86_64) are skipped.
std::span<const DeniedSyscall> DeniedSyscalls();

// Besides DeniedSyscalls(), the filter fails
//   clone with any CLONE_NEW* namespace flag (EPERM; threads and fork pass),
//   clone3 always (ENOSYS, so glibc falls back to clone, whose flags a filter
//     can read: clone3 passes them in memory),
//   personality except PER_LINUX (0) and the query (0xffffffff) (EPERM),
// and kills the process for a syscall of another ABI (i386 int 0x80, x32).
//
// Returns the filter for the native architecture as the bytes of a
// struct sock_filter[] (a multiple of 8), what bwrap's --seccomp reads.
Result<std::string> CompileSeccompFilter();

}  // namespace lmlab::sandbox
