#include "sandbox/prepared_run.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sandbox/bwrap_args.h"

namespace lmlab::sandbox::internal {
namespace {

// The whole filter goes into the pipe now (a few KiB; the pipe is grown
// first should it ever outgrow the default 64 KiB) and the write end is
// closed, so bwrap reads it to EOF without the host's help.
Result<UniqueFd> SeccompPipe(const std::string& bpf) {
  LMLAB_ASSIGN_OR_RETURN(Pipe p, OpenPipe());
  if (bpf.size() > 65536 && fcntl(p.write.get(), F_SETPIPE_SZ, int(bpf.size())) < 0)
    return IoError(std::string("sandbox: cannot grow the seccomp pipe: ") + std::strerror(errno));
  for (size_t done = 0; done < bpf.size();) {
    ssize_t w = write(p.write.get(), bpf.data() + done, bpf.size() - done);
    if (w > 0) done += size_t(w);
    else if (w < 0 && errno != EINTR) return IoError(std::string("sandbox: seccomp pipe: ") + std::strerror(errno));
  }
  return std::move(p.read);
}

}  // namespace

RunShape RunShape::Of(const Request& r) {
  return RunShape{.argv = r.argv, .env = r.env, .limits = r.limits, .rpc = static_cast<bool>(r.rpc)};
}

Result<std::unique_ptr<PreparedRun>> PreparedRun::Start(const RunShape& shape, const PrepareOptions& o) {
  LMLAB_ASSIGN_OR_RETURN(BoxDir box, BoxDir::Create());
  // The child's ends of every pipe, and the host's.
  LMLAB_ASSIGN_OR_RETURN(Pipe in, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe out, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe err, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe status, OpenPipe());
  LMLAB_ASSIGN_OR_RETURN(Pipe block, OpenPipe());
  Pipe rpc_req, rpc_resp;
  if (shape.rpc) {
    LMLAB_ASSIGN_OR_RETURN(rpc_req, OpenPipe());
    LMLAB_ASSIGN_OR_RETURN(rpc_resp, OpenPipe());
  }
  UniqueFd seccomp_read;
  if (!o.seccomp_bpf.empty()) {
    LMLAB_ASSIGN_OR_RETURN(seccomp_read, SeccompPipe(o.seccomp_bpf));
  }
  Request as_request{.argv = shape.argv, .env = shape.env, .limits = shape.limits};
  ChildSpec spec{.argv = BwrapArgs(o.bwrap, as_request, box.path().string(),
                                   o.run_as_uid ? RunAs::kOwnUid : RunAs::kCallerInUserNamespace,
                                   o.seccomp_bpf.empty() ? Seccomp::kOff : Seccomp::kOn),
                 .limits = shape.limits,
                 .run_as_uid = o.run_as_uid,
                 .fds = {in.read.get(), out.write.get(), err.write.get(), rpc_req.write.get(), rpc_resp.read.get(),
                         status.write.get(), seccomp_read.get(), block.read.get()}};
  LMLAB_ASSIGN_OR_RETURN(BwrapProcess child, BwrapProcess::Spawn(spec, std::move(status.read)));
  std::unique_ptr<PreparedRun> run(new PreparedRun(shape, std::move(box), std::move(child)));
  run->uid_ = o.run_as_uid ? *o.run_as_uid : geteuid();
  // The child has its copies; the host keeps only its own ends.
  for (UniqueFd* fd : {&in.read, &out.write, &err.write, &status.write, &rpc_req.write, &rpc_resp.read,
                       &seccomp_read, &block.read})
    fd->Close();
  run->ends_ = HostEnds{.stdin_write = std::move(in.write),
                        .stdout_read = std::move(out.read),
                        .stderr_read = std::move(err.read),
                        .rpc_request_read = std::move(rpc_req.read),
                        .rpc_response_write = std::move(rpc_resp.write)};
  run->release_ = std::move(block.write);
  return run;
}

bool PreparedRun::Waiting() const {
  if (child_.pidfd() < 0) return true;  // no pidfd_open: assume so; a dead one shows as a sandbox error
  pollfd p{child_.pidfd(), POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

Status PreparedRun::Release(const std::vector<File>& files) {
  LMLAB_RETURN_IF_ERROR(box_.WriteFiles(files));
  // One byte ends bwrap's wait. Should bwrap have died meanwhile, the write
  // fails (the host ignores SIGPIPE) and the run ends as a sandbox error,
  // with bwrap's own message, like any set-up failure.
  const char go = 'x';
  while (write(release_.get(), &go, 1) < 0 && errno == EINTR) {
  }
  release_.Close();
  return {};
}

SparePool::SparePool(PrepareFn prepare, int max_spares)
    : prepare_(std::move(prepare)), max_spares_(max_spares), thread_([this] { Loop(); }) {}

SparePool::~SparePool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  slots_.clear();  // each spare kills its bwrap, reaps it and removes its dir
}

SparePool::Slot* SparePool::Find(const RunShape& shape) {
  for (Slot& slot : slots_)
    if (slot.shape == shape) return &slot;
  return nullptr;
}

SparePool::Slot* SparePool::Wanting() {
  for (Slot& slot : slots_)
    if (!slot.failed && int(slot.ready.size()) < slot.target) return &slot;
  return nullptr;
}

std::unique_ptr<PreparedRun> SparePool::Take(const RunShape& shape) {
  std::unique_ptr<PreparedRun> taken;
  std::vector<std::unique_ptr<PreparedRun>> discarded;  // destroyed outside the lock: reaping takes a moment
  {
    std::lock_guard lock(mu_);
    // This shape's slot moves to the front (made if new); slots past kShapes go.
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.shape == shape; });
    if (it == slots_.end()) {
      slots_.insert(slots_.begin(), Slot{.shape = shape});
    } else {
      std::rotate(slots_.begin(), it, it + 1);
    }
    while (int(slots_.size()) > kShapes) {
      for (auto& spare : slots_.back().ready) discarded.push_back(std::move(spare));
      slots_.pop_back();
    }
    Slot& slot = slots_.front();
    while (!slot.ready.empty() && !taken) {
      std::unique_ptr<PreparedRun> spare = std::move(slot.ready.back());
      slot.ready.pop_back();
      if (spare->Waiting()) taken = std::move(spare);
      else discarded.push_back(std::move(spare));
    }
    ++slot.running;
    slot.target = std::min(max_spares_, slot.running);
    slot.failed = false;
  }
  cv_.notify_all();
  return taken;
}

void SparePool::Done(const RunShape& shape) {
  std::lock_guard lock(mu_);
  // Its slot may have been dropped and made again meanwhile (a third shape
  // came between): never count below zero.
  if (Slot* slot = Find(shape); slot && slot->running > 0) --slot->running;
}

void SparePool::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || Wanting() != nullptr; });
    if (stop_) return;
    RunShape shape = Wanting()->shape;
    lock.unlock();
    Result<std::unique_ptr<PreparedRun>> spare = prepare_(shape);
    lock.lock();
    Slot* slot = Find(shape);  // the slot may have gone while the lock was free
    if (!spare) {
      if (slot) slot->failed = true;  // the request path sets one up itself and reports the error
      continue;
    }
    if (!stop_ && slot) {
      slot->ready.push_back(std::move(*spare));
    } else {
      lock.unlock();
      spare->reset();
      lock.lock();
    }
  }
}

}  // namespace lmlab::sandbox::internal
