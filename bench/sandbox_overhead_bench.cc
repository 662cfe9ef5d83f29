// What the sandbox costs, measured against a reference in the same run:
//   1. a trivial Python program in the bubblewrap sandbox vs the same program
//      in a bare python3 subprocess (fork, exec, pipes; goal <= 1.5x), with
//      the sandbox set up ahead (lmlab's default, one spare) and on request
//      (BubblewrapOptions::spares = 0). A 20 ms pause after every run, on
//      every side, lets a spare's set-up finish outside the next timing;
//      what a spare costs in CPU is the same set-up as before, moved off the
//      request's path;
//   2. STOP solution evaluations per second (LPN seed solution, 3 instances
//      each, numpy imported) with 1 and with 2 parallel sandboxes (--jobs 2).
// Prints a table; --json for a record. Numbers go to docs/performance.md.
//
//   scripts/dev-build.sh sandbox_overhead_bench
//   build/bench/sandbox_overhead_bench --runs 40 --evals 16
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "lmlab/core/stats.h"
#include "lmlab/core/table.h"
#include "lmlab/core/threads.h"
#include "lmlab/improve/evaluate.h"
#include "lmlab/improve/task.h"
#include "lmlab/sandbox/host_process.h"
#include "lmlab/sandbox/sandbox.h"

namespace {

using namespace lmlab;
using Clock = std::chrono::steady_clock;

constexpr const char* kTrivial = "print(sum(range(1000)))\n";

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The reference: python3 in a plain subprocess, stdout captured through a pipe.
bool RunBare() {
  int out[2];
  if (pipe(out) != 0) return false;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl("/usr/bin/python3", "python3", "-c", kTrivial, nullptr);
    _exit(127);
  }
  close(out[1]);
  char buf[256];
  std::string got;
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == "499500\n";
}

bool RunSandboxed(sandbox::Sandbox& box) {
  sandbox::Request req{.argv = {"/usr/bin/python3", "-c", kTrivial}};
  auto r = box.Run(req);
  return r && r->verdict == sandbox::Verdict::kOk && r->stdout_data == "499500\n";
}

// Times one run, then pauses so that background work it started (a spare's
// set-up) does not fall into the next timing.
template <typename F>
double TimedThenPause(F&& run, int& failures) {
  auto t = Clock::now();
  failures += !run();
  double s = Since(t);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return s;
}

double EvalsPerSecond(int jobs, int evals, const improve::Task& task, sandbox::Sandbox& box, int& failures) {
  std::atomic<int> next{0}, bad{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j)
    pool.emplace_back([&] {
      for (int i; (i = next++) < evals;) {
        auto e = improve::EvaluateSolution(box, task, task.seed_solution, {.seed = uint64_t(i)});
        if (!e || e->errors > 0) ++bad;
      }
    });
  for (auto& t : pool) t.join();
  failures += bad;
  return evals / Since(start);
}

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  int runs = 40, evals = 16;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--evals" && i + 1 < argc) evals = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
    else {
      std::cerr << "usage: sandbox_overhead_bench [--runs N] [--evals N] [--json]\n";
      return 2;
    }
  }
  if (auto s = sandbox::PrepareHostProcess(); !s) {  // as lmlab's main does (docs/sandbox.md)
    std::cerr << s.error().ToString() << "\n";
    return 1;
  }
  auto box = sandbox::MakeBubblewrapSandbox();                       // lmlab's default: one spare
  auto on_request = sandbox::MakeBubblewrapSandbox({.spares = 0});  // every sandbox set up on its request
  if (auto s = sandbox::CheckBubblewrap(); !s) {
    std::cerr << s.error().ToString() << "\n";
    return 1;
  }
  // Warm both paths (page cache, Python's bytecode cache), then interleave.
  RunBare();
  RunSandboxed(*box);
  RunSandboxed(*on_request);
  // Medians: the machine is shared, and a median shrugs off the odd stall.
  std::vector<double> bare_s, boxed_s, on_request_s;
  int failures = 0;
  for (int i = 0; i < runs; ++i) {
    bare_s.push_back(TimedThenPause([] { return RunBare(); }, failures));
    boxed_s.push_back(TimedThenPause([&] { return RunSandboxed(*box); }, failures));
    on_request_s.push_back(TimedThenPause([&] { return RunSandboxed(*on_request); }, failures));
  }
  double bare = Median(bare_s), boxed = Median(boxed_s), boxed_on_request = Median(on_request_s);
  auto task = improve::FindTask("lpn");
  double one = EvalsPerSecond(1, evals, *task, *box, failures);
  double two = EvalsPerSecond(2, evals, *task, *box, failures);

  if (json) {
    std::cout << nlohmann::json{{"bare_python_ms", bare * 1e3},       {"sandboxed_ms", boxed * 1e3},
                                {"sandbox_ratio", boxed / bare},
                                {"sandboxed_on_request_ms", boxed_on_request * 1e3},
                                {"sandbox_on_request_ratio", boxed_on_request / bare},       {"evals_per_s_jobs1", one},
                                {"evals_per_s_jobs2", two},            {"jobs2_speedup", two / one},
                                {"failures", failures},                {"runs", runs},
                                {"evals", evals},                      {"cores", std::thread::hardware_concurrency()}}
                     .dump(2)
              << "\n";
    return failures ? 1 : 0;
  }
  Table t({"measurement", "value"}, {Align::kLeft, Align::kRight});
  t.AddRow({"bare python3 subprocess, trivial program (median)", fmt::format("{:.1f} ms", bare * 1e3)});
  t.AddRow({"same program in the bubblewrap sandbox, set up ahead (median)", fmt::format("{:.1f} ms", boxed * 1e3)});
  t.AddRow({"sandbox / bare (goal <= 1.5)", fmt::format("{:.2f}x", boxed / bare)});
  t.AddRow({"same, sandbox set up on request (spares = 0; median)", fmt::format("{:.1f} ms", boxed_on_request * 1e3)});
  t.AddRow({"sandbox set up on request / bare", fmt::format("{:.2f}x", boxed_on_request / bare)});
  t.AddRow({"LPN evaluations/s, --jobs 1", fmt::format("{:.1f}", one)});
  t.AddRow({"LPN evaluations/s, --jobs 2", fmt::format("{:.1f}", two)});
  t.AddRow({"speed-up from --jobs 2", fmt::format("{:.2f}x", two / one)});
  std::cout << t.Render();
  if (failures) std::cout << failures << " runs failed\n";
  return failures ? 1 : 0;
}
