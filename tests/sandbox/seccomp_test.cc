// The seccomp filter on its own: it compiles, fits the pipe that carries it
// to bwrap, and, loaded into a forked child of this test, denies what it
// should and lets ordinary calls through. (security_test.cc checks the same
// from inside a real sandbox.)
#include "lmlab/sandbox/seccomp.h"

#include <gtest/gtest.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>

namespace lmlab::sandbox {
namespace {

TEST(Seccomp, FilterCompilesToWholeInstructions) {
  Result<std::string> bpf = CompileSeccompFilter();
  ASSERT_TRUE(bpf.has_value()) << bpf.error().ToString();
  EXPECT_EQ(bpf->size() % sizeof(sock_filter), 0u);
  EXPECT_GT(bpf->size() / sizeof(sock_filter), DeniedSyscalls().size());
  EXPECT_LE(bpf->size() / sizeof(sock_filter), size_t{BPF_MAXINSNS});
  EXPECT_LT(bpf->size(), 65536u);  // one pipe buffer
}

TEST(Seccomp, DenyListNamesEachSyscallOnceAndCoversTheKnownGaps) {
  std::set<std::string_view> names;
  for (const DeniedSyscall& d : DeniedSyscalls()) {
    EXPECT_TRUE(names.insert(d.name).second) << d.name << " twice";
    EXPECT_FALSE(d.why.empty()) << d.name;
  }
  // The gaps the project notes listed before the filter existed.
  constexpr std::string_view kMust[] = {
      "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "bpf",
      "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root", "unshare", "setns", "kexec_load",
      "init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff", "reboot", "settimeofday",
      "clock_settime", "adjtimex", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
      "name_to_handle_at", "lookup_dcookie", "quotactl", "syslog", "vhangup", "iopl", "ioperm"};
  for (std::string_view must : kMust) EXPECT_TRUE(names.count(must)) << must;
}

// In a child: loads the filter, then each check exits with its own code on failure.
int CheckInChild(const std::string& bpf) {
  sock_fprog prog{static_cast<unsigned short>(bpf.size() / sizeof(sock_filter)),
                  reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 90;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 91;
  auto denied = [](long rc, int want = EPERM) { return rc == -1 && errno == want; };
  if (!denied(syscall(SYS_unshare, CLONE_NEWUSER))) return 1;
  if (!denied(syscall(SYS_ptrace, 0 /*PTRACE_TRACEME*/, 0, 0, 0))) return 2;
  if (!denied(syscall(SYS_clone3, nullptr, 0), ENOSYS)) return 3;
  if (!denied(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0))) return 4;
  if (!denied(syscall(SYS_personality, 0x0040000 /*ADDR_NO_RANDOMIZE*/))) return 5;
  if (!denied(syscall(SYS_keyctl, 0, -3, 1))) return 6;
  if (!denied(syscall(SYS_bpf, 0, 0, 0))) return 7;
  if (!denied(syscall(SYS_setns, -1, 0))) return 8;
  // Allowed.
  if (syscall(SYS_getpid) <= 0) return 20;
  if (syscall(SYS_personality, 0xffffffffUL) < 0) return 21;
  long child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);  // a plain fork through clone
  if (child == 0) _exit(42);
  int status = 0;
  if (child < 0 || waitpid(static_cast<pid_t>(child), &status, 0) != child || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 42)
    return 22;
  return 0;
}

TEST(Seccomp, LoadedFilterDeniesAndAllows) {
  Result<std::string> bpf = CompileSeccompFilter();
  ASSERT_TRUE(bpf.has_value()) << bpf.error().ToString();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(CheckInChild(*bpf));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "check " << WEXITSTATUS(status) << " failed (see CheckInChild)";
}

}  // namespace
}  // namespace lmlab::sandbox
