// A sandbox set up before its program is known. bwrap is started with the
// request's shape (argv, environment, limits, RPC pipes) and an empty box
// dir; it builds the namespaces and mounts, then blocks on its --block-fd,
// before the seccomp filter and the exec. Release() writes the program's
// files into the box dir (the sandbox sees them through its bind mount) and
// lets bwrap go on. Every run goes through one: set up on request and
// released at once, or set up ahead by a SparePool while nothing waits for
// it. A prepared run serves exactly one request.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lmlab/core/error.h"
#include "lmlab/sandbox/sandbox.h"
#include "sandbox/box_dir.h"
#include "sandbox/bwrap_process.h"
#include "sandbox/io_pump.h"
#include "sandbox/unique_fd.h"

namespace lmlab::sandbox::internal {

// What bwrap's command line and the rlimits depend on: two requests of the
// same shape can use the same kind of prepared run.
struct RunShape {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  Limits limits;
  bool rpc = false;

  static RunShape Of(const Request& request);
  friend bool operator==(const RunShape&, const RunShape&) = default;
};

struct PrepareOptions {
  std::string bwrap;
  std::string seccomp_bpf;          // empty: no filter
  std::optional<uint32_t> run_as_uid;  // when root: the run's own unprivileged uid
};

class PreparedRun {
 public:
  // Creates the box dir and the pipes and starts bwrap, which blocks once
  // the sandbox is built.
  static Result<std::unique_ptr<PreparedRun>> Start(const RunShape& shape, const PrepareOptions& options);

  const RunShape& shape() const { return shape_; }
  uint32_t uid() const { return uid_; }
  // bwrap is still waiting for its release (it has not died meanwhile).
  bool Waiting() const;
  // Writes `files` into the box dir and releases bwrap. An error when a file
  // cannot be written (then nothing ran; the destructor cleans up).
  Status Release(const std::vector<File>& files);

  BwrapProcess& child() { return child_; }
  HostEnds& ends() { return ends_; }

 private:
  PreparedRun(RunShape shape, BoxDir box, BwrapProcess child)
      : shape_(std::move(shape)), box_(std::move(box)), child_(std::move(child)) {}
  RunShape shape_;
  uint32_t uid_ = 0;
  // Destroyed in reverse order: the pipes close, bwrap is killed and reaped,
  // then the box dir goes.
  BoxDir box_;
  BwrapProcess child_;
  HostEnds ends_;
  UniqueFd release_;  // a byte written here lets bwrap exec the program
};

using PrepareFn = std::function<Result<std::unique_ptr<PreparedRun>>(const RunShape&)>;

// Keeps up to `max_spares` prepared runs for each of the last kShapes shapes
// asked for, set up by its own thread. Two shapes, because STOP alternates
// two: an improver's run (with its RPC pipes) and the solution runs its
// utility asks for; with one, every switch threw the other's spare away.
// That thread forks every spare, so a spare's parent-death signal is bound to
// a thread that lives as long as the pool, not to a caller's thread that may
// end first (ParallelFor's do).
class SparePool {
 public:
  static constexpr int kShapes = 2;

  SparePool(PrepareFn prepare, int max_spares);
  ~SparePool();  // kills and removes the spares still waiting
  SparePool(const SparePool&) = delete;
  SparePool& operator=(const SparePool&) = delete;

  // A waiting spare of this shape, or null. Either way the pool then sets up
  // spares for this shape, one per request of it running at once (up to the
  // cap), and drops the spares of the shape asked for longest ago when this
  // makes more than kShapes.
  std::unique_ptr<PreparedRun> Take(const RunShape& shape);
  // The request that called Take(shape) has finished.
  void Done(const RunShape& shape);

 private:
  struct Slot {
    RunShape shape;
    std::vector<std::unique_ptr<PreparedRun>> ready;
    int running = 0;  // requests of this shape between Take and Done
    int target = 0;   // spares to keep
    bool failed = false;  // the last set-up failed: wait for the next Take instead of retrying in a loop
  };
  void Loop();
  Slot* Find(const RunShape& shape);  // under mu_
  Slot* Wanting();                    // under mu_: the most recently asked slot short of its target

  PrepareFn prepare_;
  const int max_spares_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;  // most recently asked first; at most kShapes
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace lmlab::sandbox::internal
