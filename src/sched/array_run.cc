// RunArray: submit, follow, resubmit, resume. See array_run.h.
#include "lmlab/sched/array_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "lmlab/core/file.h"
#include "lmlab/core/hash.h"
#include "lmlab/core/json.h"

namespace lmlab::sched {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kFormat = "lmlab array state";

// What state.json holds: enough to follow the job from another process.
struct State {
  struct Submission {
    std::string id;
    std::vector<int> elements;
  };
  std::string scheduler;
  std::string script_hash;
  int size = 0;
  std::vector<Submission> submissions;
  std::vector<int> attempts;           // per element: submissions so far
  int retried = 0;
  std::vector<std::string> failures;   // every failed attempt, oldest first
  std::vector<int> gave_up;            // elements that failed on every attempt: a new run tries them afresh

  json ToJson(const std::string& name) const {
    json subs = json::array();
    for (const auto& s : submissions) subs.push_back({{"id", s.id}, {"elements", s.elements}});
    return {{"format", kFormat}, {"version", 1},           {"name", name},         {"scheduler", scheduler},
            {"size", size},      {"script_hash", script_hash}, {"submissions", subs}, {"attempts", attempts},
            {"retried", retried}, {"failures", failures}, {"gave_up", gave_up}};
  }
};

fs::path StatePath(const ArrayJob& job) { return job.state_dir / "state.json"; }

// The saved state of this very job (same scheduler, size and script); a
// fresh one when there is none or it belongs to another job definition.
State LoadState(const ArrayJob& job, const Scheduler& scheduler, const std::string& script_hash, bool* reused) {
  State fresh{.scheduler = std::string(scheduler.name()), .script_hash = script_hash, .size = job.size,
              .attempts = std::vector<int>(job.size, 0)};
  *reused = false;
  Result<std::string> text = ReadFile(StatePath(job));
  if (!text) return fresh;
  Result<json> j = ParseJson(*text, StatePath(job).string());
  if (!j || !j->is_object() || j->value("format", "") != kFormat || j->value("scheduler", "") != scheduler.name() ||
      j->value("script_hash", "") != script_hash || j->value("size", -1) != job.size)
    return fresh;
  State s = fresh;
  std::string what = StatePath(job).string();
  auto attempts = JsonGet<std::vector<int>>(*j, "attempts", what);
  auto failures = JsonGetOr<std::vector<std::string>>(*j, "failures", {}, what);
  auto retried = JsonGetOr<int>(*j, "retried", 0, what);
  auto subs = JsonGet<json>(*j, "submissions", what);
  auto gave_up = JsonGetOr<std::vector<int>>(*j, "gave_up", {}, what);
  if (!attempts || int(attempts->size()) != job.size || !failures || !retried || !subs || !subs->is_array() ||
      !gave_up)
    return fresh;
  s.attempts = *attempts;
  s.gave_up = *gave_up;
  std::erase_if(s.gave_up, [&](int e) { return e < 0 || e >= job.size; });
  s.failures = *failures;
  s.retried = *retried;
  for (const json& sub : *subs) {
    auto id = JsonGet<std::string>(sub, "id", what);
    auto elements = JsonGet<std::vector<int>>(sub, "elements", what);
    if (!id || !elements) return fresh;
    std::erase_if(*elements, [&](int e) { return e < 0 || e >= job.size; });
    s.submissions.push_back({*id, *elements});
  }
  *reused = true;
  return s;
}

Status SaveState(const ArrayJob& job, const State& s) {
  return WriteFileAtomic(StatePath(job), DumpJson(s.ToJson(job.name), 1) + "\n");
}

bool Done(const ArrayJob& job, const FollowOptions& o, int e) {
  if (o.result_exists) return o.result_exists(e);
  std::optional<int> status = ReadExitStatus(job, e);
  return status && *status == 0;
}

void Sleep(const FollowOptions& o, double seconds) {
  if (o.sleep) {
    o.sleep(seconds);
    return;
  }
  // In slices, so that a cancel is seen within a fraction of a second.
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    if (o.cancel && o.cancel->load()) return;
    std::this_thread::sleep_for(std::min<std::chrono::duration<double>>(until - Clock::now(), std::chrono::milliseconds(200)));
  }
}

Status CheckJob(const ArrayJob& job) {
  if (job.command.empty()) return InvalidArgument("the array job has no command");
  if (job.size < 1) return InvalidArgument(fmt::format("an array job needs at least one element (got {})", job.size));
  if (job.state_dir.empty()) return InvalidArgument("the array job has no state directory");
  return {};
}

}  // namespace

DryRun PlanArray(const Scheduler& scheduler, const ArrayJob& job, const FollowOptions& o) {
  DryRun d;
  d.script = JobScript(job);
  for (int e = 0; e < job.size; ++e)
    if (!Done(job, o, e)) d.elements.push_back(e);
  if (!d.elements.empty()) d.submit_command = scheduler.SubmitCommand(job, d.elements);
  return d;
}

Result<ArrayOutcome> RunArray(Scheduler& scheduler, const ArrayJob& job, const FollowOptions& o) {
  LMLAB_RETURN_IF_ERROR(CheckJob(job));
  if (o.retries < 0) return InvalidArgument(fmt::format("retries must be >= 0 (got {})", o.retries));
  const auto start = Clock::now();
  const std::string script = JobScript(job);
  const std::string script_hash = fmt::format("{:016x}", Fnv1a(script));
  bool reused = false;
  State state = LoadState(job, scheduler, script_hash, &reused);
  if (!reused) {
    // Exit statuses of another job definition say nothing about this one.
    std::error_code ec;
    fs::remove_all(job.state_dir / "exit", ec);
  }
  LMLAB_RETURN_IF_ERROR(WriteJobScript(job));

  ArrayOutcome out;
  out.scheduler = std::string(scheduler.name());
  out.elements = job.size;
  std::map<int, std::string> latest;  // element -> its latest submission
  for (const auto& s : state.submissions)
    for (int e : s.elements) latest[e] = s.id;
  // Elements an earlier run gave up on start again with a full budget.
  for (int e : state.gave_up) {
    state.attempts[e] = 0;
    latest.erase(e);
  }
  state.gave_up.clear();
  std::set<int> in_flight, to_submit, gave_up;
  for (int e = 0; e < job.size; ++e) {
    if (Done(job, o, e))
      ++out.already_done;
    else if (latest.contains(e))
      in_flight.insert(e);  // an earlier process submitted it: the poll says what became of it
    else
      to_submit.insert(e);
  }
  std::map<int, int> unseen;  // element -> consecutive polls without news
  int poll_failures = 0;
  int running = 0, pending = 0;

  auto report = [&](const std::string& note) {
    int done = job.size - int(in_flight.size() + to_submit.size() + gave_up.size());
    std::string detail = fmt::format("{} running, {} pending", running, pending);
    if (state.retried) detail += fmt::format(", {} retried", state.retried);
    if (!gave_up.empty()) detail += fmt::format(", {} failed", gave_up.size());
    if (!state.submissions.empty()) detail += fmt::format("; {} job {}", scheduler.name(), state.submissions.back().id);
    if (!note.empty()) detail += "; " + note;
    Report(o.progress, {job.name, double(done), double(job.size), "elements", detail});
  };
  auto finish = [&]() {
    out.job_ids.clear();
    for (const auto& s : state.submissions) out.job_ids.push_back(s.id);
    out.retried = state.retried;
    out.failures = state.failures;
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  };

  while (true) {
    if (o.cancel && o.cancel->load()) {
      std::string note = "left queued; run the same command again to follow them";
      if (o.on_cancel == FollowOptions::OnCancel::kCancelJobs) {
        std::set<std::string> ids;
        for (int e : in_flight) ids.insert(latest[e]);
        for (const auto& id : ids) (void)scheduler.Cancel(id);
        note = "cancelled";
      }
      LMLAB_RETURN_IF_ERROR(SaveState(job, state));
      return MakeError(ErrorCode::kCancelled,
                       fmt::format("stopped following {} ({} of {} elements done; the others {})", job.name,
                                   job.size - int(in_flight.size() + to_submit.size() + gave_up.size()), job.size, note));
    }
    if (!to_submit.empty()) {
      std::vector<int> batch(to_submit.begin(), to_submit.end());
      for (int e : batch) {
        std::error_code ec;
        fs::remove(ExitStatusPath(job, e), ec);  // a stale status must not decide the new attempt
      }
      Result<std::string> id = scheduler.Submit(job, batch);
      if (!id) {
        LMLAB_RETURN_IF_ERROR(SaveState(job, state));
        return std::unexpected(id.error().WithContext(fmt::format("submitting {} elements of {}", batch.size(), job.name)));
      }
      state.submissions.push_back({*id, batch});
      for (int e : batch) {
        ++state.attempts[e];
        latest[e] = *id;
        in_flight.insert(e);
        unseen.erase(e);
      }
      out.submitted += int(batch.size());
      to_submit.clear();
      LMLAB_RETURN_IF_ERROR(SaveState(job, state));
      pending = int(batch.size());
      report("submitted");
    }
    if (in_flight.empty()) break;
    Sleep(o, o.poll_seconds);
    if (o.cancel && o.cancel->load()) continue;

    // One poll per submission that still has elements in flight.
    std::map<std::string, std::map<int, ElementStatus>> polled;
    bool poll_failed = false;
    std::string poll_error;
    for (int e : in_flight) {
      const std::string& id = latest[e];
      if (polled.contains(id)) continue;
      Result<std::vector<ElementStatus>> st = scheduler.Poll(job, id);
      if (!st) {
        poll_failed = true;
        poll_error = st.error().message;
        break;
      }
      auto& m = polled[id];
      for (const auto& s : *st) m[s.element] = s;
    }
    if (poll_failed) {
      if (++poll_failures > o.max_poll_failures) {
        LMLAB_RETURN_IF_ERROR(SaveState(job, state));
        return Unavailable(fmt::format("{} did not answer {} polls in a row: {}; run the same command again to "
                                       "follow the job",
                                       scheduler.name(), poll_failures, poll_error));
      }
      report("poll failed: " + poll_error);
      continue;
    }
    poll_failures = 0;
    running = pending = 0;
    bool changed = false;
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      const int e = *it;
      if (Done(job, o, e)) {
        it = in_flight.erase(it);
        continue;
      }
      const std::string& id = latest[e];
      const auto& m = polled[id];
      auto found = m.find(e);
      std::optional<int> status = ReadExitStatus(job, e);
      std::string failure;
      if (status) {
        failure = *status == 0 ? "exited 0 but its result is missing" : fmt::format("exited with {}", *status);
      } else if (found != m.end() && found->second.state == ElementState::kPending) {
        ++pending;
        unseen.erase(e);
      } else if (found != m.end() && found->second.state == ElementState::kRunning) {
        ++running;
        unseen.erase(e);
      } else if (found != m.end() && found->second.state == ElementState::kFailed) {
        failure = found->second.detail;
      } else if (++unseen[e] > o.grace_polls) {
        failure = found != m.end() ? found->second.detail + " without an exit status"
                                   : "left the queue without an exit status (killed, or its node failed)";
      }
      if (failure.empty()) {
        ++it;
        continue;
      }
      changed = true;
      unseen.erase(e);
      state.failures.push_back(fmt::format("element {}, attempt {}, {} job {}: {} (log: {})", e, state.attempts[e],
                                           scheduler.name(), id, failure,
                                           (LogDir(job) / fmt::format("{}_{}.log", id, e)).string()));
      if (state.attempts[e] <= o.retries) {
        to_submit.insert(e);
        ++state.retried;
      } else {
        gave_up.insert(e);
        state.gave_up.push_back(e);
      }
      it = in_flight.erase(it);
    }
    if (changed) LMLAB_RETURN_IF_ERROR(SaveState(job, state));
    report("");
  }

  LMLAB_RETURN_IF_ERROR(SaveState(job, state));
  finish();
  if (!gave_up.empty()) {
    std::string which;
    int shown = 0;
    for (auto it = state.failures.rbegin(); it != state.failures.rend() && shown < 3; ++it, ++shown)
      which += (which.empty() ? "" : "; ") + *it;
    return Unavailable(fmt::format("{} of {} elements of {} failed on every attempt ({} per element): {}; fix the "
                                   "cause and run the same command again (finished elements are kept)",
                                   gave_up.size(), job.size, job.name, o.retries + 1, which));
  }
  report("done");
  return out;
}

}  // namespace lmlab::sched
