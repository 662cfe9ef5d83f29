// The local scheduler: worker threads, one child process per element.
#include "lmlab/sched/local_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "lmlab/core/file.h"

namespace lmlab::sched {
namespace {

struct Task {
  std::string job_id;
  int element = 0;
  std::filesystem::path script, log;
};

struct Submission {
  std::map<int, ElementStatus> elements;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

class LocalPool final : public Scheduler {
 public:
  LocalPool(ProcessRunner& runner, int workers) : runner_(runner) {
    for (int i = 0; i < std::max(1, workers); ++i) threads_.emplace_back([this] { Work(); });
  }
  ~LocalPool() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (auto& [id, s] : submissions_) s.cancel->store(true);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  std::string_view name() const override { return "local"; }

  std::string SubmitCommand(const ArrayJob& job, std::span<const int> elements) const override {
    return fmt::format("LMLAB_ELEMENT=<i> bash {}   # for i in {}", ShellQuote(JobScriptPath(job).string()),
                       ArrayRanges(elements));
  }

  Result<std::string> Submit(const ArrayJob& job, std::span<const int> elements) override {
    if (elements.empty()) return InvalidArgument("no elements to submit");
    std::lock_guard lock(mu_);
    std::string id = fmt::format("local-{}", ++counter_);
    Submission& s = submissions_[id];
    for (int e : elements) {
      s.elements[e] = {e, ElementState::kPending, "queued"};
      queue_.push_back({id, e, JobScriptPath(job), LogDir(job) / fmt::format("{}_{}.log", id, e)});
    }
    wake_.notify_all();
    return id;
  }

  Result<std::vector<ElementStatus>> Poll(const ArrayJob&, const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = submissions_.find(id);
    std::vector<ElementStatus> out;
    if (it == submissions_.end()) return out;  // another process's submission: forgotten
    for (const auto& [e, status] : it->second.elements) out.push_back(status);
    return out;
  }

  Status Cancel(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto it = submissions_.find(id);
    if (it == submissions_.end()) return NotFound("no local submission " + id);
    it->second.cancel->store(true);
    for (auto& [e, status] : it->second.elements)
      if (status.state == ElementState::kPending) status = {e, ElementState::kFailed, "CANCELLED"};
    std::erase_if(queue_, [&](const Task& t) { return t.job_id == id; });
    return {};
  }

 private:
  void Work() {
    while (true) {
      Task task;
      std::shared_ptr<std::atomic<bool>> cancel;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = queue_.front();
        queue_.pop_front();
        Submission& s = submissions_[task.job_id];
        s.elements[task.element] = {task.element, ElementState::kRunning, "running"};
        cancel = s.cancel;
      }
      Result<ProcessResult> r = runner_.Run({.argv = {"bash", task.script.string()},
                                             .env = {{"LMLAB_ELEMENT", std::to_string(task.element)}},
                                             .cancel = cancel.get()});
      ElementStatus done{task.element, ElementState::kFinished, "exited"};
      if (r) {
        done.detail = fmt::format("exited with {}", r->exit_code);
        (void)WriteFileAtomic(task.log, r->out + r->err);
      } else {
        done = {task.element, ElementState::kFailed,
                r.error().code == ErrorCode::kCancelled ? "CANCELLED" : r.error().message};
      }
      std::lock_guard lock(mu_);
      submissions_[task.job_id].elements[task.element] = done;
    }
  }

  ProcessRunner& runner_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  std::map<std::string, Submission> submissions_;
  int counter_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Scheduler> MakeLocalPool(ProcessRunner& runner, int workers) {
  return std::make_unique<LocalPool>(runner, workers);
}

}  // namespace lmlab::sched
