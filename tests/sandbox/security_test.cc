// The security suite: hostile programs, each of which must be contained with
// a clear verdict. A program that gets out prints a line starting with
// "ESCAPED"; every test asserts there is none, plus what the host can check
// from outside (the canary process lives, no process of the run's uid is
// left, host files are untouched). Limits are tight so the suite stays fast.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "lmlab/sandbox/sandbox.h"
#include "tests/sandbox/prepared_host.h"

namespace lmlab::sandbox {
namespace {

constexpr const char* kSecret = "sk-lmlab-test-secret-0123456789";

class Security : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("LMLAB_TEST_API_KEY", kSecret, 1); }

  // Runs Python `code` as /box/main.py with tight limits; `tweak` adjusts them.
  RunResult Py(const std::string& code, const std::function<void(Request&)>& tweak = {}) {
    Request req{.argv = {"/usr/bin/python3", "/box/main.py"}, .files = {{"main.py", code}}};
    req.limits.wall_seconds = 3;
    req.limits.cpu_seconds = 2;
    req.limits.memory_bytes = 256LL << 20;
    req.limits.max_processes = 16;
    req.limits.file_size_bytes = 1 << 20;
    req.limits.tmp_bytes = 4 << 20;
    req.limits.output_bytes = 64 << 10;
    if (tweak) tweak(req);
    auto box = MakeBubblewrapSandbox();
    Result<RunResult> r = box->Run(req);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().ToString());
    if (!r) return {};
    EXPECT_EQ(r->stdout_data.find("ESCAPED"), std::string::npos) << r->stdout_data;
    EXPECT_EQ(r->stdout_data.find(kSecret), std::string::npos);
    EXPECT_EQ(r->stderr_data.find(kSecret), std::string::npos);
    // Nothing the run started is left.
    EXPECT_EQ(r->survivors, 0);
    EXPECT_TRUE(ProcessesOfUid(r->uid).empty());
    return *r;
  }
};

std::string Describe(const RunResult& r) {
  return std::string(VerdictName(r.verdict)) + " / " + r.detail + "\nstdout: " + r.stdout_data.substr(0, 500) +
         "\nstderr: " + r.stderr_data.substr(0, 800);
}

TEST_F(Security, BaselineRunsAndSeesOnlyItsEnvironment) {
  RunResult r = Py("import os\nprint(6 * 7)\nprint(sorted(os.environ))\n",
                   [](Request& q) { q.env = {{"VISIBLE", "yes"}}; });
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_EQ(r.stdout_data.substr(0, 3), "42\n");
  EXPECT_NE(r.stdout_data.find("VISIBLE"), std::string::npos);
  EXPECT_EQ(r.stdout_data.find("LMLAB_TEST_API_KEY"), std::string::npos);
}

TEST_F(Security, OpenSocketToTheHostFails) {
  // A server on the host's loopback: the sandbox has its own network namespace.
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(srv, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  RunResult r = Py("import socket\n"
                   "for host in ['127.0.0.1', '1.1.1.1', '8.8.8.8']:\n"
                   "    s = socket.socket(); s.settimeout(0.5)\n"
                   "    try:\n"
                   "        s.connect((host, " + std::to_string(port) + " if host == '127.0.0.1' else 53))\n"
                   "        print('ESCAPED connected', host)\n"
                   "    except OSError as e: print('blocked', host, e.errno)\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("blocked 127.0.0.1"), std::string::npos) << Describe(r);
  EXPECT_NE(r.stdout_data.find("blocked 1.1.1.1"), std::string::npos) << Describe(r);
  close(srv);
}

TEST_F(Security, DnsAndInterfacesShowNoNetwork) {
  RunResult r = Py("import socket, os\n"
                   "try:\n    socket.getaddrinfo('example.com', 80); print('ESCAPED dns')\n"
                   "except OSError: print('no dns')\n"
                   "print(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else ['lo'])\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("no dns"), std::string::npos);
  EXPECT_EQ(r.stdout_data.find("eth"), std::string::npos) << r.stdout_data;
}

TEST_F(Security, WriteOutsideTmpFails) {
  RunResult r = Py("import os\n"
                   "for p in ['/usr/evil', '/box/evil', '/evil', '/etc/evil', '/proc/evil', '/usr/lib/evil.py']:\n"
                   "    try:\n        open(p, 'w').write('x'); print('ESCAPED wrote', p)\n"
                   "    except OSError as e: print('denied', p)\n"
                   "open('/tmp/ok', 'w').write('fine'); print('tmp ok')\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("tmp ok"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/usr/evil"));
  EXPECT_FALSE(std::filesystem::exists("/usr/lib/evil.py"));
}

TEST_F(Security, ReadShadowAndHostFilesFails) {
  RunResult r = Py("import os\n"
                   "for p in ['/etc/shadow', '/etc/passwd', '/root/.bashrc', '/proc/1/environ', '/home', '/work', '/root']:\n"
                   "    try:\n"
                   "        data = open(p).read() if not os.path.isdir(p) else os.listdir(p)\n"
                   "        if p == '/proc/1/environ': print('pid1 env', len(data))\n"
                   "        else: print('ESCAPED read', p)\n"
                   "    except OSError: print('denied', p)\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("denied /etc/shadow"), std::string::npos) << r.stdout_data;
}

TEST_F(Security, HostEnvironmentIsInvisible) {
  // The secret is in this (host) process's environment; the program looks in
  // its own environment and every /proc/*/environ it can see.
  RunResult r = Py("import os, glob\n"
                   "blob = repr(dict(os.environ))\n"
                   "for f in glob.glob('/proc/*/environ'):\n"
                   "    try: blob += open(f, 'rb').read().decode(errors='replace')\n"
                   "    except OSError: pass\n"
                   "print('ESCAPED' if 'sk-lmlab' in blob else 'clean', len(blob))\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("clean"), std::string::npos);
}

TEST_F(Security, ForkBombIsBoundedAndCleanedUp) {
  RunResult r = Py("import os\n"
                   "while True:\n"
                   "    try: os.fork()\n"
                   "    except OSError: pass\n",
                   [](Request& q) { q.limits.wall_seconds = 1.5; });
  EXPECT_TRUE(r.verdict == Verdict::kTimeout || r.verdict == Verdict::kCpuLimit) << Describe(r);
}

TEST_F(Security, ForkLimitIsEnforced) {
  RunResult r = Py("import os, time\n"
                   "n = 0\n"
                   "try:\n"
                   "    for i in range(200):\n"
                   "        if os.fork() == 0: time.sleep(2); os._exit(0)\n"
                   "        n += 1\n"
                   "except OSError: pass\n"
                   "print('forked', n)\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  int n = std::atoi(r.stdout_data.c_str() + r.stdout_data.find(' ') + 1);
  EXPECT_LT(n, 16) << r.stdout_data;  // max_processes
  EXPECT_GT(n, 0) << r.stdout_data;
}

TEST_F(Security, MemoryBombHitsTheLimit) {
  RunResult r = Py("x = bytearray(1 << 31)\nprint('ESCAPED allocated')\n");
  EXPECT_EQ(r.verdict, Verdict::kMemoryLimit) << Describe(r);
}

TEST_F(Security, GrowingMemoryHitsTheLimit) {
  RunResult r = Py("chunks = []\nwhile True: chunks.append(bytearray(16 << 20))\n");
  EXPECT_EQ(r.verdict, Verdict::kMemoryLimit) << Describe(r);
}

TEST_F(Security, InfiniteLoopHitsTheCpuLimit) {
  // A generous wall clock: on a loaded machine one CPU second takes longer.
  RunResult r = Py("while True: pass\n", [](Request& q) {
    q.limits.cpu_seconds = 1;
    q.limits.wall_seconds = 30;
  });
  EXPECT_EQ(r.verdict, Verdict::kCpuLimit) << Describe(r);
  EXPECT_LT(r.wall_seconds, 29);
  EXPECT_GE(r.cpu_seconds, 0.9);
}

TEST_F(Security, SleepForeverIsKilledOnTime) {
  RunResult r = Py("import time\ntime.sleep(10**6)\n", [](Request& q) { q.limits.wall_seconds = 0.5; });
  EXPECT_EQ(r.verdict, Verdict::kTimeout) << Describe(r);
  EXPECT_LT(r.wall_seconds, 3.0);
}

TEST_F(Security, IgnoringSigtermDoesNotHelp) {
  RunResult r = Py("import signal, time\n"
                   "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)\n"
                   "time.sleep(10**6)\n",
                   [](Request& q) { q.limits.wall_seconds = 0.5; });
  EXPECT_EQ(r.verdict, Verdict::kTimeout) << Describe(r);
}

TEST_F(Security, StdoutFloodHitsTheOutputLimit) {
  RunResult r = Py("import sys\nwhile True: sys.stdout.write('x' * 4096)\n");
  EXPECT_EQ(r.verdict, Verdict::kOutputLimit) << Describe(r);
  EXPECT_LE(r.stdout_data.size(), size_t(64 << 10));
}

TEST_F(Security, StderrFloodHitsTheOutputLimit) {
  RunResult r = Py("import sys\nwhile True: sys.stderr.write('y' * 4096)\n");
  EXPECT_EQ(r.verdict, Verdict::kOutputLimit) << Describe(r);
  EXPECT_LE(r.stderr_data.size(), size_t(64 << 10));
}

TEST_F(Security, KillingTheParentAndEveryoneLeavesTheHostAlone) {
  pid_t canary = fork();
  if (canary == 0) {
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(1);
  }
  RunResult r = Py("import os, signal\n"
                   "for target in (os.getppid(), 1, " + std::to_string(canary) + ", " +
                   std::to_string(getpid()) + "):\n"
                   "    try: os.kill(target, signal.SIGKILL)\n"
                   "    except OSError as e: print('cannot kill', target)\n"
                   "try: os.kill(-1, signal.SIGKILL)\n"
                   "except OSError: pass\n"
                   "print('still here')\n");
  EXPECT_EQ(kill(canary, 0), 0) << "the canary process was killed";
  EXPECT_TRUE(r.verdict == Verdict::kOk || r.verdict == Verdict::kSignal) << Describe(r);
  kill(canary, SIGKILL);
  waitpid(canary, nullptr, 0);
}

TEST_F(Security, PtraceOfHostProcessesFails) {
  RunResult r = Py("import ctypes, os\n"
                   "libc = ctypes.CDLL(None, use_errno=True)\n"
                   "PTRACE_ATTACH = 16\n"
                   "for pid in (" + std::to_string(getpid()) + ", " + std::to_string(getppid()) + "):\n"
                   "    rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)\n"
                   "    if rc == 0: print('ESCAPED attached', pid)\n"
                   "    else: print('ptrace', pid, rc, ctypes.get_errno())\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("ptrace " + std::to_string(getpid()) + " -1"), std::string::npos) << r.stdout_data;
}

TEST_F(Security, ProcShowsOnlyTheSandbox) {
  RunResult r = Py("import os\n"
                   "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                   "print('pids', len(pids))\n"
                   "for p in pids:\n"
                   "    try:\n"
                   "        cmd = open(f'/proc/{p}/cmdline', 'rb').read()\n"
                   "        if b'security_test' in cmd or b'sandbox_test' in cmd: print('ESCAPED saw host', p)\n"
                   "    except OSError: pass\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  int n = std::atoi(r.stdout_data.c_str() + 5);
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 3) << r.stdout_data;  // bwrap's init and the program
}

TEST_F(Security, BackgroundDaemonDoesNotOutliveTheRun) {
  // Double fork, new session, ignore SIGHUP: a classic daemon. The run ends at
  // once; the daemon must die with it.
  RunResult r = Py("import os, time, signal\n"
                   "if os.fork() == 0:\n"
                   "    os.setsid()\n"
                   "    if os.fork() == 0:\n"
                   "        signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
                   "        time.sleep(60)\n"
                   "        os._exit(0)\n"
                   "    os._exit(0)\n"
                   "time.sleep(0.2)\n"
                   "print('parent done')\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_LT(r.wall_seconds, 5.0);  // not the daemon's 60 s
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(ProcessesOfUid(r.uid).empty());
}

TEST_F(Security, DaemonKeepingPipesOpenIsStillReaped) {
  // The daemon holds stdout open; the run must still end when the program does.
  RunResult r = Py("import os, time\n"
                   "if os.fork() == 0:\n"
                   "    os.setsid(); time.sleep(60)\n"
                   "print('bye')\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_LT(r.wall_seconds, 5.0);  // not the daemon's 60 s
}

TEST_F(Security, BigFileHitsTheFileSizeLimit) {
  RunResult r = Py("open('/tmp/big', 'wb').write(b'0' * (8 << 20))\nprint('ESCAPED wrote 8 MiB')\n");
  EXPECT_EQ(r.verdict, Verdict::kFileSizeLimit) << Describe(r);
}

TEST_F(Security, FillingTmpHitsItsSize) {
  RunResult r = Py("for i in range(100): open(f'/tmp/f{i}', 'wb').write(b'0' * (900 << 10))\n"
                   "print('ESCAPED filled 90 MiB')\n");
  EXPECT_EQ(r.verdict, Verdict::kFileSizeLimit) << Describe(r);
}

TEST_F(Security, BecomingRootFails) {
  RunResult r = Py("import os\n"
                   "try:\n    os.setuid(0); print('ESCAPED root')\n"
                   "except OSError: print('no root', os.getuid())\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_NE(r.stdout_data.find("no root"), std::string::npos);
}

TEST_F(Security, SegfaultIsASignalVerdict) {
  RunResult r = Py("import ctypes\nctypes.string_at(0)\n");
  EXPECT_EQ(r.verdict, Verdict::kSignal) << Describe(r);
  EXPECT_EQ(r.signal, SIGSEGV);
}

TEST_F(Security, ThreadBombIsBounded) {
  RunResult r = Py("import threading, time\n"
                   "n = 0\n"
                   "try:\n"
                   "    for i in range(1000):\n"
                   "        threading.Thread(target=time.sleep, args=(1,), daemon=True).start(); n += 1\n"
                   "except RuntimeError: pass\n"
                   "print('threads', n)\n");
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  EXPECT_LT(std::atoi(r.stdout_data.c_str() + 8), 16) << r.stdout_data;
}

TEST_F(Security, ClosingOutputAndHangingStillTimesOut) {
  RunResult r = Py("import os, time\nos.close(1); os.close(2)\ntime.sleep(10**6)\n",
                   [](Request& q) { q.limits.wall_seconds = 0.5; });
  EXPECT_EQ(r.verdict, Verdict::kTimeout) << Describe(r);
}

TEST_F(Security, HostFileDescriptorsDoNotLeakIn) {
  int fd = open("/etc/hostname", O_RDONLY);  // without O_CLOEXEC on purpose
  ASSERT_GE(fd, 0);
  RunResult r = Py("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n");
  close(fd);
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  // 0-2, the listing's own fd, and at most bwrap's status fd.
  EXPECT_LE(std::count(r.stdout_data.begin(), r.stdout_data.end(), ','), 4) << r.stdout_data;
}

// The seccomp filter (src/sandbox/seccomp.h). Each call is made through
// libc.syscall with this (host) architecture's numbers, with arguments chosen
// so that it succeeds, or fails with an errno other than EPERM, when no filter
// is loaded (SyscallsFailForTheFilterNotForOtherReasons shows that for the
// ones that need no privilege): only the filter makes every one EPERM.
// A call that gets through prints ESCAPED; a clone that gets through exits
// in the child.
constexpr const char* kSyscallHelper =
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "def call(name, nr, *args):\n"
    "    ctypes.set_errno(0)\n"
    "    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_char_p(a) if isinstance(a, bytes) else ctypes.c_long(a)\n"
    "                                          for a in args])\n"
    "    err = ctypes.get_errno()\n"
    "    if rc == 0 and name.startswith('clone'): os._exit(0)\n"
    "    print(name, rc, err, flush=True)\n"
    "    return rc\n";

std::string Num(long v) { return std::to_string(v); }

// (name, Python argument list after the syscall number)
std::vector<std::pair<std::string, std::string>> DeniedCalls() {
  return {
      {"ptrace", Num(SYS_ptrace) + ", 0, 0, 0, 0"},  // PTRACE_TRACEME
      {"process_vm_readv", Num(SYS_process_vm_readv) + ", os.getpid(), 0, 0, 0, 0, 0"},
      {"keyctl", Num(SYS_keyctl) + ", 0, -3, 1"},  // KEYCTL_GET_KEYRING_ID of the session keyring, create
      {"add_key", Num(SYS_add_key) + ", b'user', b'lmlab', b'x', 1, -2"},
      {"request_key", Num(SYS_request_key) + ", b'user', b'lmlab', 0, 0"},
      {"bpf", Num(SYS_bpf) + ", 0, 0, 0"},
      {"perf_event_open", Num(SYS_perf_event_open) + ", 0, 0, -1, -1, 0"},
      {"userfaultfd", Num(SYS_userfaultfd) + ", 1"},  // UFFD_USER_MODE_ONLY: allowed unprivileged
      {"io_uring_setup", Num(SYS_io_uring_setup) + ", 1, 0"},
      {"unshare", Num(SYS_unshare) + ", " + Num(CLONE_NEWUSER)},
      {"setns", Num(SYS_setns) + ", -1, 0"},
      {"mount", Num(SYS_mount) + ", b'none', b'/tmp', b'tmpfs', 0, 0"},
      {"clock_settime", Num(SYS_clock_settime) + ", 0, 0"},
      {"personality", Num(SYS_personality) + ", 0x0040000"},  // ADDR_NO_RANDOMIZE
      {"clone_newuser", Num(SYS_clone) + ", " + Num(CLONE_NEWUSER | SIGCHLD) + ", 0, 0, 0, 0"},
      {"clone_newnet", Num(SYS_clone) + ", " + Num(CLONE_NEWNET | SIGCHLD) + ", 0, 0, 0, 0"},
      {"clone_newns", Num(SYS_clone) + ", " + Num(CLONE_NEWNS | SIGCHLD) + ", 0, 0, 0, 0"},
      {"kexec_load", Num(SYS_kexec_load) + ", 0, 0, 0, 0"},
      {"init_module", Num(SYS_init_module) + ", 0, 0, b''"},
      // Families the network namespace does not cover: vsock (to the VM's host), AF_ALG.
      {"socket_vsock", Num(SYS_socket) + ", " + Num(AF_VSOCK) + ", " + Num(SOCK_STREAM) + ", 0"},
      {"socket_alg", Num(SYS_socket) + ", " + Num(AF_ALG) + ", " + Num(SOCK_SEQPACKET) + ", 0"},
  };
}

TEST_F(Security, DeniedSyscallsFailWithEperm) {
  std::string code = kSyscallHelper;
  for (const auto& [name, args] : DeniedCalls())
    code += "if call('" + name + "', " + args + ") >= 0: print('ESCAPED " + name + "', flush=True)\n";
  code += "if call('clone3', " + Num(SYS_clone3) + ", 0, 0) >= 0: print('ESCAPED clone3', flush=True)\n";
  RunResult r = Py(code);
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  const std::string lines = "\n" + r.stdout_data;
  for (const auto& [name, args] : DeniedCalls())
    EXPECT_NE(lines.find("\n" + name + " -1 " + Num(EPERM) + "\n"), std::string::npos)
        << name << " did not fail with EPERM:\n" << r.stdout_data;
  // clone3 passes its flags in memory, where a filter cannot look: ENOSYS
  // makes glibc fall back to clone.
  EXPECT_NE(lines.find("\nclone3 -1 " + Num(ENOSYS) + "\n"), std::string::npos) << r.stdout_data;
}

TEST_F(Security, SyscallsFailForTheFilterNotForOtherReasons) {
  // The same calls without the filter (BubblewrapOptions::seccomp = false):
  // these need no privilege, so they get through or fail otherwise. Were
  // they EPERM here too, DeniedSyscallsFailWithEperm would prove nothing.
  std::string code = std::string(kSyscallHelper) +
                     "call('process_vm_readv', " + Num(SYS_process_vm_readv) + ", os.getpid(), 0, 0, 0, 0, 0)\n"
                     "call('setns', " + Num(SYS_setns) + ", -1, 0)\n"
                     "call('personality', " + Num(SYS_personality) + ", 0x0040000)\n"
                     "call('clone3', " + Num(SYS_clone3) + ", 0, 0)\n";
  Request req{.argv = {"/usr/bin/python3", "/box/main.py"}, .files = {{"main.py", code}}};
  req.limits.wall_seconds = 5;
  auto box = MakeBubblewrapSandbox({.seccomp = false});
  Result<RunResult> r = box->Run(req);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->verdict, Verdict::kOk) << Describe(*r);
  EXPECT_NE(r->stdout_data.find("process_vm_readv 0 0\n"), std::string::npos) << r->stdout_data;
  EXPECT_NE(r->stdout_data.find("setns -1 " + Num(EBADF) + "\n"), std::string::npos) << r->stdout_data;
  EXPECT_NE(r->stdout_data.find("personality 0 0\n"), std::string::npos) << r->stdout_data;
  EXPECT_NE(r->stdout_data.find("clone3 -1 " + Num(EINVAL) + "\n"), std::string::npos) << r->stdout_data;
}

TEST_F(Security, AllowedSyscallsStillWork) {
  // What ordinary programs do: fork, threads (glibc tries clone3 first and
  // must fall back to clone), a raw clone without namespace flags,
  // subprocess, the personality query, numpy with an OpenBLAS thread pool.
  std::string code = std::string(kSyscallHelper) +
                     "call('getpid', " + Num(SYS_getpid) + ")\n"
                     "call('socket_unix', " + Num(SYS_socket) + ", " + Num(AF_UNIX) + ", " + Num(SOCK_STREAM) + ", 0)\n"
                     "call('personality_query', " + Num(SYS_personality) + ", 0xffffffff)\n"
                     "call('personality_linux', " + Num(SYS_personality) + ", 0)\n"
                     "pid = call('clone_plain', " + Num(SYS_clone) + ", " + Num(SIGCHLD) + ", 0, 0, 0, 0)\n"
                     "print('clone child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
                     "pid = os.fork()\n"
                     "if pid == 0: os._exit(7)\n"
                     "print('fork child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
                     "import threading\n"
                     "out = []\n"
                     "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
                     "for t in ts: t.start()\n"
                     "for t in ts: t.join()\n"
                     "print('threads', sorted(out))\n"
                     "import subprocess\n"
                     "print('subprocess', subprocess.run(['/usr/bin/echo', 'hi'], capture_output=True).stdout)\n"
                     "import numpy as np\n"
                     "a = np.arange(256 * 256, dtype=np.float64).reshape(256, 256) / 65536\n"
                     "print('numpy', round(float((a @ a.T).trace()), 3),\n"
                     "      'tasks', len(os.listdir('/proc/self/task')))\n";
  RunResult r = Py(code, [](Request& q) {
    q.env = {{"OPENBLAS_NUM_THREADS", "2"}};
    q.limits.memory_bytes = 2LL << 30;
    q.limits.wall_seconds = 10;
    q.limits.cpu_seconds = 5;
  });
  EXPECT_EQ(r.verdict, Verdict::kOk) << Describe(r);
  const std::string& o = r.stdout_data;
  EXPECT_NE(o.find("getpid "), std::string::npos) << o;
  EXPECT_EQ(o.find("getpid -1"), std::string::npos) << o;
  EXPECT_NE(o.find("socket_unix "), std::string::npos) << o;
  EXPECT_EQ(o.find("socket_unix -1"), std::string::npos) << o;
  EXPECT_NE(o.find("personality_query 0 0\n"), std::string::npos) << o;  // PER_LINUX, the current one
  EXPECT_NE(o.find("personality_linux 0 0\n"), std::string::npos) << o;
  EXPECT_EQ(o.find("clone_plain -1"), std::string::npos) << o;
  EXPECT_NE(o.find("clone child 0\n"), std::string::npos) << o;
  EXPECT_NE(o.find("fork child 7\n"), std::string::npos) << o;
  EXPECT_NE(o.find("threads [0, 1, 2, 3]\n"), std::string::npos) << o;
  EXPECT_NE(o.find("subprocess b'hi\\n'\n"), std::string::npos) << o;
  EXPECT_NE(o.find("numpy 21844.833"), std::string::npos) << o;
}

#if defined(__x86_64__)
TEST_F(Security, SyscallThroughTheI386AbiIsKilled) {
  // int 0x80 from a 64-bit process takes i386 syscall numbers, which a
  // filter written for x86_64 numbers would misread: the filter kills.
  RunResult r = Py("import ctypes, mmap\n"
                   "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
                   "m.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))  # mov eax, 20 (getpid); int 0x80; ret\n"
                   "f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))\n"
                   "print('ESCAPED i386 getpid', f(), flush=True)\n");
  if (r.verdict == Verdict::kSignal && r.signal == SIGSEGV) GTEST_SKIP() << "this kernel has no i386 emulation";
  EXPECT_EQ(r.verdict, Verdict::kSignal) << Describe(r);
  EXPECT_EQ(r.signal, SIGSYS) << Describe(r);
}
#endif

TEST_F(Security, BadRequestsAreErrorsNotRuns) {
  auto box = MakeBubblewrapSandbox();
  EXPECT_FALSE(box->Run({.argv = {}}).has_value());
  EXPECT_FALSE(box->Run({.argv = {"python3"}}).has_value());
  EXPECT_FALSE(box->Run({.argv = {"/usr/bin/true"}, .files = {{"../escape", "x"}}}).has_value());
}

TEST_F(Security, MissingBubblewrapIsASandboxErrorNotACrash) {
  EXPECT_FALSE(CheckBubblewrap({.bwrap = "/nonexistent/bwrap"}).has_value());
  auto box = MakeBubblewrapSandbox({.bwrap = "/nonexistent/bwrap"});
  Result<RunResult> r = box->Run({.argv = {"/usr/bin/true"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, Verdict::kSandboxError);
}

}  // namespace
}  // namespace lmlab::sandbox
