// The security suite: hostile programs, each of which must be contained with
// a clear verdict. A program that gets out prints a line starting with
// "ESCAPED"; every test asserts there is none, plus what the host can check
// from outside (the canary process lives, no process of the run's uid is
// left, host files are untouched). Limits are tight so the suite stays fast.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "lmlab/sandbox/sandbox.h"

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
