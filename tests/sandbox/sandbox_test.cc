// The sandbox's plumbing: stdin, exit codes, files, the RPC channel and its
// clock, verdict names.
#include "lmlab/sandbox/sandbox.h"

#include "lmlab/sandbox/host_process.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "tests/sandbox/prepared_host.h"

namespace lmlab::sandbox {
namespace {

Request Python(const std::string& code) {
  Request req{.argv = {"/usr/bin/python3", "/box/main.py"}, .files = {{"main.py", code}}};
  req.limits.wall_seconds = 5;
  req.limits.memory_bytes = 512LL << 20;
  return req;
}

TEST(Sandbox, StdinAndExitCode) {
  auto box = MakeBubblewrapSandbox();
  Request req = Python("import sys\ndata = sys.stdin.read()\nprint(data.upper())\nsys.exit(3)\n");
  req.stdin_data = std::string(200000, 'a');  // more than a pipe buffer
  auto r = box->Run(req);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->verdict, Verdict::kNonZeroExit);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stdout_data, std::string(200000, 'A') + "\n");
}

TEST(Sandbox, SyntaxErrorIsNonZeroExitWithMessage) {
  auto box = MakeBubblewrapSandbox();
  auto r = box->Run(Python("def broken(:\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::kNonZeroExit);
  EXPECT_NE(r->stderr_data.find("SyntaxError"), std::string::npos);
}

TEST(Sandbox, NestedFilesAreReadOnlyUnderBox) {
  auto box = MakeBubblewrapSandbox();
  Request req = Python("import helper.lib as h\nprint(h.VALUE)\n");
  req.argv = {"/usr/bin/python3", "-c", "import sys; sys.path.insert(0, '/box'); exec(open('/box/main.py').read())"};
  req.files.push_back({"helper/__init__.py", ""});
  req.files.push_back({"helper/lib.py", "VALUE = 'nested ok'\n"});
  auto r = box->Run(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::kOk) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "nested ok\n");
}

TEST(Sandbox, RpcRoundTripsAndItsTimeIsNotCharged) {
  auto box = MakeBubblewrapSandbox();
  Request req = Python(
      "import os\n"
      "req = os.fdopen(3, 'w'); resp = os.fdopen(4, 'r')\n"
      "total = 0\n"
      "for i in range(5):\n"
      "    req.write(f'{i}\\n'); req.flush()\n"
      "    total += int(resp.readline())\n"
      "print(total)\n");
  req.limits.wall_seconds = 3.0;
  int calls = 0;
  req.rpc = [&](std::string_view line) {
    ++calls;
    // A slow host (a model call): 5 x 0.7 s exceeds the 3 s wall limit, but
    // the program is blocked waiting, so it is not charged.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    return std::to_string(std::stoi(std::string(line)) * 10);
  };
  auto r = box->Run(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, Verdict::kOk) << r->detail << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "100\n");
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(r->rpc_requests, 5);
  EXPECT_GE(r->rpc_seconds, 3.4);
}

// Dirs of this process's runs left in the temp dir.
int BoxDirsOfThisProcess() {
  namespace fs = std::filesystem;
  std::string prefix = "lmlab-sandbox-" + std::to_string(getpid()) + "-";
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path()))
    n += e.path().filename().string().starts_with(prefix);
  return n;
}

// A handler that throws, fails, or breaks the line protocol ends the run
// with a verdict: the host lives, the program and its children are killed,
// the run's dir is removed.
struct FailingHandler {
  const char* name;
  std::function<Result<std::string>(std::string_view)> rpc;
  const char* expect;  // in the verdict's detail
};

void PrintTo(const FailingHandler& h, std::ostream* os) { *os << h.name; }

class SandboxFailingRpc : public ::testing::TestWithParam<FailingHandler> {};

TEST_P(SandboxFailingRpc, EndsTheRunNotTheHost) {
  // No spare: the count of run dirs below is this run's alone.
  auto box = MakeBubblewrapSandbox({.spares = 0});
  Request req = Python(
      "import os, subprocess, time\n"
      "subprocess.Popen(['/usr/bin/sleep', '60'])\n"  // a child that must not outlive the run
      "req = os.fdopen(3, 'w'); resp = os.fdopen(4, 'r')\n"
      "req.write('{\"op\": \"lm\"}\\n'); req.flush()\n"
      "print(resp.readline())\n"
      "time.sleep(60)\n");
  req.limits.wall_seconds = 30;
  req.rpc = GetParam().rpc;
  int dirs_before = BoxDirsOfThisProcess();
  auto start = std::chrono::steady_clock::now();
  auto r = box->Run(req);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->verdict, Verdict::kRpcError) << r->detail << r->stderr_data;
  EXPECT_EQ(VerdictName(r->verdict), "rpc error");
  EXPECT_NE(r->detail.find(GetParam().expect), std::string::npos) << r->detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));  // killed, not timed out
  EXPECT_EQ(r->rpc_requests, 1);
  EXPECT_EQ(r->survivors, 0);
  if (geteuid() == 0) {
    EXPECT_TRUE(ProcessesOfUid(r->uid).empty());
  }
  EXPECT_EQ(BoxDirsOfThisProcess(), dirs_before);
  // The sandbox still works.
  auto again = box->Run(Python("print(42)\n"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->stdout_data, "42\n");
}

INSTANTIATE_TEST_SUITE_P(
    Handlers, SandboxFailingRpc,
    ::testing::Values(
        FailingHandler{"Throws",
                       [](std::string_view) -> Result<std::string> { throw std::runtime_error("boom in handler"); },
                       "boom in handler"},
        FailingHandler{"ReturnsAnError", [](std::string_view) -> Result<std::string> { return Internal("no model"); },
                       "no model"},
        FailingHandler{"RepliesWithSeveralLines",
                       [](std::string_view) -> Result<std::string> { return std::string("{}\n{}"); },
                       "several lines"}),
    [](const ::testing::TestParamInfo<FailingHandler>& info) { return std::string(info.param.name); });

TEST(Sandbox, RunRefusesAProcessThatIsNotPrepared) {
  auto box = MakeBubblewrapSandbox();
  ASSERT_TRUE(CheckHostProcess());
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
  auto no_subreaper = box->Run(Python("print(1)\n"));
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ASSERT_FALSE(no_subreaper);
  EXPECT_EQ(no_subreaper.error().code, ErrorCode::kInternal);
  EXPECT_NE(no_subreaper.error().message.find("subreaper"), std::string::npos);
  EXPECT_NE(no_subreaper.error().message.find("PrepareHostProcess"), std::string::npos);

  signal(SIGPIPE, SIG_DFL);
  auto default_sigpipe = box->Run(Python("print(1)\n"));
  signal(SIGPIPE, SIG_IGN);
  ASSERT_FALSE(default_sigpipe);
  EXPECT_NE(default_sigpipe.error().message.find("SIGPIPE"), std::string::npos);
  EXPECT_NE(default_sigpipe.error().message.find("PrepareHostProcess"), std::string::npos);

  ASSERT_TRUE(CheckHostProcess());
  EXPECT_TRUE(box->Run(Python("print(1)\n")));
}

TEST(Sandbox, TheProgramGetsSigpipesDefaultActionBack) {
  // The host ignores SIGPIPE; an ignored signal would stay ignored across
  // exec. SigIgn in /proc/self/status is a hex mask, bit 12 = SIGPIPE (13).
  auto box = MakeBubblewrapSandbox();
  Request req{.argv = {"/usr/bin/grep", "^SigIgn", "/proc/self/status"}};
  auto r = box->Run(req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->verdict, Verdict::kOk) << r->detail << r->stderr_data;
  std::string mask = r->stdout_data.substr(r->stdout_data.find_last_of(" \t") + 1);
  EXPECT_EQ(std::stoull(mask, nullptr, 16) & (1ULL << (SIGPIPE - 1)), 0u) << r->stdout_data;
}

TEST(Sandbox, NoRpcChannelWithoutHandler) {
  auto box = MakeBubblewrapSandbox();
  auto r = box->Run(Python("import os\ntry:\n    os.write(3, b'x\\n'); print('open')\nexcept OSError: print('closed')\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stdout_data, "closed\n");
}

TEST(Sandbox, ParallelRunsGetDistinctUids) {
  auto box = MakeBubblewrapSandbox();
  Result<RunResult> a, b;
  std::thread t([&] { a = box->Run(Python("import time, os\ntime.sleep(0.3)\nprint(os.getuid())\n")); });
  b = box->Run(Python("import time, os\ntime.sleep(0.3)\nprint(os.getuid())\n"));
  t.join();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->verdict, Verdict::kOk);
  EXPECT_EQ(b->verdict, Verdict::kOk);
  if (geteuid() == 0) {
    EXPECT_NE(a->uid, b->uid);
  }
}

// A sandbox set up ahead serves the next request of the same shape: the
// request's files (written after bwrap started) are there, nothing of the
// previous program is (its /tmp, its processes, its uid), a request of
// another shape gets a sandbox set up for it, and spares of both shapes are
// kept from then on. Destroying the Sandbox removes the spares still waiting.
TEST(Sandbox, SparesServeTheNextRequestWithNothingOfThePrevious) {
  const int dirs_before = BoxDirsOfThisProcess();
  {
    auto box = MakeBubblewrapSandbox();  // one spare (the default)
    const char* code =
        "import os, subprocess\n"
        "print(open('/box/note.txt').read(), os.path.exists('/tmp/left'), os.getuid())\n"
        "open('/tmp/left', 'w').write('x')\n"
        "subprocess.Popen(['/usr/bin/sleep', '60'])\n";
    Request first = Python(code);
    first.files.push_back({"note.txt", "first"});
    auto a = box->Run(first);
    ASSERT_TRUE(a) << a.error().ToString();
    EXPECT_EQ(a->verdict, Verdict::kOk) << a->detail << a->stderr_data;
    EXPECT_FALSE(a->set_up_ahead);  // nothing was waiting yet
    EXPECT_TRUE(a->stdout_data.starts_with("first False")) << a->stdout_data;

    Request second = Python(code);
    second.files.push_back({"note.txt", "second"});
    auto b = box->Run(second);
    ASSERT_TRUE(b) << b.error().ToString();
    EXPECT_EQ(b->verdict, Verdict::kOk) << b->detail << b->stderr_data;
    EXPECT_TRUE(b->set_up_ahead);
    EXPECT_TRUE(b->stdout_data.starts_with("second False")) << b->stdout_data;  // fresh /tmp, its own files
    EXPECT_EQ(b->survivors, 0);
    if (geteuid() == 0) {
      EXPECT_NE(a->uid, b->uid);
      EXPECT_TRUE(ProcessesOfUid(a->uid).empty());
    }

    // Another shape (a lower memory limit): not the spare, and its limit holds.
    Request small = Python("x = bytearray(400 << 20)\nprint(len(x))\n");
    small.limits.memory_bytes = 200LL << 20;
    auto c = box->Run(small);
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->set_up_ahead);
    EXPECT_EQ(c->verdict, Verdict::kMemoryLimit) << c->detail << c->stderr_data;
    // The pool now keeps spares of that shape.
    auto d = box->Run(small);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->set_up_ahead);
    EXPECT_EQ(d->verdict, Verdict::kMemoryLimit) << d->detail << d->stderr_data;
    // And still one of the first shape: alternating two shapes (as STOP's
    // improver and solution runs do) finds a spare every time.
    Request third = Python(code);
    third.files.push_back({"note.txt", "third"});
    auto e = box->Run(third);
    ASSERT_TRUE(e) << e.error().ToString();
    EXPECT_TRUE(e->set_up_ahead);
    EXPECT_TRUE(e->stdout_data.starts_with("third False")) << e->stdout_data;
    auto f = box->Run(small);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->set_up_ahead);
    EXPECT_EQ(f->verdict, Verdict::kMemoryLimit) << f->detail << f->stderr_data;
  }
  EXPECT_EQ(BoxDirsOfThisProcess(), dirs_before);
}

TEST(Sandbox, CheckBubblewrapPassesHere) {
  auto s = CheckBubblewrap();
  EXPECT_TRUE(s) << s.error().ToString();
}

// A host killed with SIGKILL leaves its run dir behind; the next sandbox
// removes dirs of hosts that are gone and keeps those of live ones: a live
// pid here, or a lock held (a host in another pid namespace or on another
// node sharing the temp dir, where its pid means nothing).
TEST(Sandbox, RemovesRunDirsLeftByDeadHosts) {
  namespace fs = std::filesystem;
  pid_t dead = fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) _exit(0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);  // reaped: the pid names no process now
  fs::path tmp = fs::temp_directory_path();
  fs::path left = tmp / ("lmlab-sandbox-" + std::to_string(dead) + "-test01");
  fs::path live = tmp / ("lmlab-sandbox-" + std::to_string(getpid()) + "-test02");
  fs::path locked = tmp / ("lmlab-sandbox-" + std::to_string(dead) + "-test03");
  fs::path young = tmp / ("lmlab-sandbox-" + std::to_string(dead) + "-test04");
  for (const fs::path& d : {left, live, locked, young}) {
    fs::create_directories(d / "sub");
    std::ofstream(d / "sub" / "main.py") << "print(1)\n";
    if (d != young) fs::last_write_time(d, fs::file_time_type::clock::now() - std::chrono::hours(2));
  }
  int lock = open(locked.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(flock(lock, LOCK_EX), 0);
  auto box = MakeBubblewrapSandbox();
  EXPECT_FALSE(fs::exists(left));
  EXPECT_TRUE(fs::exists(live / "sub" / "main.py"));
  EXPECT_TRUE(fs::exists(locked / "sub" / "main.py"));
  EXPECT_TRUE(fs::exists(young / "sub" / "main.py"));  // maybe a host between mkdtemp and flock
  close(lock);
  for (const fs::path& d : {live, locked, young}) fs::remove_all(d);
}

TEST(Sandbox, VerdictNames) {
  EXPECT_EQ(VerdictName(Verdict::kOk), "ok");
  EXPECT_EQ(VerdictName(Verdict::kTimeout), "timeout");
  EXPECT_EQ(VerdictName(Verdict::kMemoryLimit), "memory limit");
  EXPECT_EQ(VerdictName(Verdict::kSandboxError), "sandbox error");
}

}  // namespace
}  // namespace lmlab::sandbox
