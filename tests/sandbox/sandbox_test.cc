// The sandbox's plumbing: stdin, exit codes, files, the RPC channel and its
// clock, verdict names.
#include "lmlab/sandbox/sandbox.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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
  if (geteuid() == 0) EXPECT_NE(a->uid, b->uid);
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
