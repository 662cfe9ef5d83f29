// Compiles the sandbox's syscall deny-list with libseccomp (see seccomp.h).
#include "lmlab/sandbox/seccomp.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

namespace lmlab::sandbox {
namespace {

constexpr std::string_view kOtherProcesses = "reads or changes another process";
constexpr std::string_view kKeyring = "kernel keyring";
constexpr std::string_view kAttackSurface = "large kernel attack surface, no use to a contained program";
constexpr std::string_view kNamespaces = "mounts and namespaces: the sandbox's own walls";
constexpr std::string_view kSystem = "administers the whole machine";
constexpr std::string_view kClock = "sets the system clock";
constexpr std::string_view kFileHandles = "opens files by handle, around the mount namespace";
constexpr std::string_view kHardware = "direct hardware or legacy x86 access";

constexpr DeniedSyscall kDenied[] = {
    {"ptrace", kOtherProcesses},
    {"process_vm_readv", kOtherProcesses},
    {"process_vm_writev", kOtherProcesses},
    {"pidfd_getfd", kOtherProcesses},
    {"kcmp", kOtherProcesses},
    {"keyctl", kKeyring},
    {"add_key", kKeyring},
    {"request_key", kKeyring},
    {"bpf", kAttackSurface},
    {"perf_event_open", kAttackSurface},
    {"userfaultfd", kAttackSurface},
    {"io_uring_setup", kAttackSurface},
    {"io_uring_enter", kAttackSurface},
    {"io_uring_register", kAttackSurface},
    {"mount", kNamespaces},
    {"umount", kNamespaces},
    {"umount2", kNamespaces},
    {"pivot_root", kNamespaces},
    {"unshare", kNamespaces},
    {"setns", kNamespaces},
    {"fsopen", kNamespaces},
    {"fsconfig", kNamespaces},
    {"fsmount", kNamespaces},
    {"fspick", kNamespaces},
    {"move_mount", kNamespaces},
    {"open_tree", kNamespaces},
    {"mount_setattr", kNamespaces},
    {"kexec_load", kSystem},
    {"kexec_file_load", kSystem},
    {"init_module", kSystem},
    {"finit_module", kSystem},
    {"delete_module", kSystem},
    {"create_module", kSystem},
    {"query_module", kSystem},
    {"get_kernel_syms", kSystem},
    {"acct", kSystem},
    {"swapon", kSystem},
    {"swapoff", kSystem},
    {"reboot", kSystem},
    {"syslog", kSystem},
    {"vhangup", kSystem},
    {"quotactl", kSystem},
    {"quotactl_fd", kSystem},
    {"lookup_dcookie", kSystem},
    {"nfsservctl", kSystem},
    {"_sysctl", kSystem},
    {"uselib", kSystem},
    {"settimeofday", kClock},
    {"stime", kClock},
    {"clock_settime", kClock},
    {"clock_adjtime", kClock},
    {"adjtimex", kClock},
    {"open_by_handle_at", kFileHandles},
    {"name_to_handle_at", kFileHandles},
    {"iopl", kHardware},
    {"ioperm", kHardware},
    {"vm86", kHardware},
    {"vm86old", kHardware},
};

// Namespace flags clone() may not carry. CLONE_NEWTIME shares its bit with
// CSIGNAL in clone() and exists only for unshare and clone3, both denied.
constexpr uint64_t kCloneNamespaceFlags[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(static_cast<scmp_filter_ctx>(ctx)); }
};

std::string Why(std::string_view what, int rc) { return std::string(what) + ": " + std::strerror(-rc); }

}  // namespace

std::span<const DeniedSyscall> DeniedSyscalls() { return kDenied; }

Result<std::string> CompileSeccompFilter() {
  std::unique_ptr<void, CtxDeleter> owner(seccomp_init(SCMP_ACT_ALLOW));
  auto ctx = static_cast<scmp_filter_ctx>(owner.get());
  if (!ctx) return Internal("seccomp: seccomp_init failed");
  // A syscall through another ABI (int 0x80 from a 64-bit process, x32)
  // would bypass every rule below, which match native numbers: kill.
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0)
    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);  // kernels before 4.14
  // A binary search over syscall numbers rather than a linear scan; an
  // optimisation only, so older libseccomp without it is fine.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  // libseccomp's pseudo numbers (negative) stand for syscalls this
  // architecture does not have: nothing to deny. __NR_SCMP_ERROR means this
  // libseccomp does not know the name at all (older than the syscall): an
  // error, or the rule would silently be missing.
  std::string unknown;
  auto resolve = [&unknown](const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) unknown = name;
    return nr < 0 ? -1 : nr;
  };
  for (const DeniedSyscall& d : kDenied) {
    std::string name(d.name);
    int nr = resolve(name.c_str());
    if (!unknown.empty()) break;
    if (nr < 0) continue;
    if (int rc = seccomp_rule_add(ctx, eperm, nr, 0); rc != 0) return Internal(Why("seccomp: deny " + name, rc));
  }

  // clone: one rule per namespace flag (rules for one syscall are OR'ed).
  // The flags are clone's first argument on x86_64 and aarch64 alike.
  int clone_nr = resolve("clone");
  for (uint64_t flag : kCloneNamespaceFlags) {
    if (clone_nr < 0) break;
    if (int rc = seccomp_rule_add(ctx, eperm, clone_nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)); rc != 0)
      return Internal(Why("seccomp: clone namespace flags", rc));
  }
  if (int nr = resolve("clone3"); nr >= 0)
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0); rc != 0)
      return Internal(Why("seccomp: clone3", rc));

  // socket families the network namespace does not cover: vsock reaches the
  // hypervisor's host (a VM's way out), AF_ALG is the kernel crypto API.
  if (int nr = resolve("socket"); nr >= 0)
    for (int family : {AF_VSOCK, AF_ALG})
      if (int rc = seccomp_rule_add(ctx, eperm, nr, 1, SCMP_A0(SCMP_CMP_EQ, uint64_t(family))); rc != 0)
        return Internal(Why("seccomp: socket family", rc));
  if (!unknown.empty())
    return Unavailable("seccomp: this libseccomp does not know the syscall '" + unknown +
                       "'; install a newer libseccomp (Debian 12's 2.5.4 or later)");

  // personality: allow only PER_LINUX (0) and the query (0xffffffff); the
  // kernel reads the low 32 bits. A rule may compare an argument only once,
  // so "neither 0 nor all ones" is written as "some bit i is 1 and the next
  // bit (cyclically) is 0", which holds exactly for the other values: 32 rules.
  if (int nr = resolve("personality"); nr >= 0) {
    for (int i = 0; i < 32; ++i) {
      uint64_t bit = uint64_t{1} << i, next = uint64_t{1} << ((i + 1) % 32);
      if (int rc = seccomp_rule_add(ctx, eperm, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, bit | next, bit)); rc != 0)
        return Internal(Why("seccomp: personality", rc));
    }
  }

  int fd = memfd_create("lmlab-seccomp", MFD_CLOEXEC);
  if (fd < 0) return IoError(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  std::string bpf;
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc == 0 && lseek(fd, 0, SEEK_SET) == 0) {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        rc = -errno;
        break;
      }
      bpf.append(buf, size_t(n));
    }
  } else if (rc == 0) {
    rc = -errno;
  }
  close(fd);
  if (rc != 0) return IoError(Why("seccomp: export the filter", rc));
  if (bpf.empty() || bpf.size() % 8 != 0)
    return Internal("seccomp: the exported filter has " + std::to_string(bpf.size()) +
                    " bytes, not whole instructions");
  return bpf;
}

}  // namespace lmlab::sandbox
