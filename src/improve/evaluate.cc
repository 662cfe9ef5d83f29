// The hidden utility: the host makes instances, run_solution.py runs the
// candidate on their inputs in the sandbox, the host scores what it printed.
#include "lmlab/improve/evaluate.h"

#include <cmath>
#include <optional>

#include "lmlab/core/embedded.h"
#include "lmlab/core/json.h"

namespace lmlab::improve {

using nlohmann::json;

namespace {

// One instance's record from run_solution.py: {"output": ..., "seconds": s,
// "error": null or "..."}. The candidate ran in the same Python process as
// the runner, so anything may have been printed: read it as untrusted.
struct InstanceRecord {
  json output;
  double seconds = 0;
  std::optional<std::string> error;
};

InstanceRecord ReadRecord(const json& r, double too_slow) {
  InstanceRecord rec;
  if (!r.is_object()) {
    rec.error = "the solution runner printed a record that is not an object";
    return rec;
  }
  auto error = r.find("error");
  if (error != r.end() && !error->is_null())
    rec.error = error->is_string() ? error->get<std::string>() : std::string("error");
  auto seconds = r.find("seconds");
  rec.seconds = seconds != r.end() && seconds->is_number() ? seconds->get<double>() : too_slow;
  auto output = r.find("output");
  if (output != r.end()) rec.output = *output;
  return rec;
}

}  // namespace

Result<Evaluation> EvaluateSolution(sandbox::Sandbox& box, const Task& task, const std::string& code,
                                    const EvalOptions& options) {
  LMLAB_ASSIGN_OR_RETURN(std::string_view runner, embedded::Find("data/improve/run_solution.py"));
  int n = options.instances > 0 ? options.instances : task.instances_per_call;
  if (task.distinct_instances > 0) n = std::min(n, task.distinct_instances);  // the same instance twice adds nothing
  std::vector<Instance> instances;
  json args = json::array();
  for (int i = 0; i < n; ++i) {
    instances.push_back(task.make_instance(MixSeed(options.seed, uint64_t(i))));
    args.push_back(instances.back().args);
  }
  double limit = task.time_limit_seconds * options.time_limit_scale;
  // The marker tells the result line from anything the candidate prints.
  std::string marker = "lmlab-result-" + std::to_string(MixSeed(options.seed, 0x5eed));
  json request = {{"code", code},     {"entry", task.entry}, {"instances", args},
                  {"numpy_args", task.numpy_args}, {"time_limit", limit}, {"marker", marker},
                  {"seed", options.seed % 1000000007ULL}};

  sandbox::Request req{.argv = {"/usr/bin/python3", "/box/run_solution.py"},
                       .files = {{"run_solution.py", std::string(runner)}}};
  req.stdin_data = DumpJson(request);
  req.env = {{"OPENBLAS_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}};
  req.limits.wall_seconds = 3 + n * limit * 1.5;  // startup + every instance, with slack
  req.limits.cpu_seconds = static_cast<int>(std::ceil(req.limits.wall_seconds));
  req.limits.memory_bytes = 2LL << 30;
  req.limits.max_processes = 16;
  req.limits.output_bytes = 4 << 20;
  LMLAB_ASSIGN_OR_RETURN(sandbox::RunResult run, box.Run(req));

  Evaluation e;
  e.instances = n;
  e.verdict = run.verdict;
  e.seconds = run.wall_seconds;
  size_t at = run.stdout_data.rfind(marker + "\n");
  json results;
  if (at != std::string::npos) {
    results = json::parse(run.stdout_data.substr(at + marker.size() + 1), nullptr, /*allow_exceptions=*/false);
  }
  const json* records = nullptr;
  if (results.is_object())
    if (auto it = results.find("results"); it != results.end() && it->is_array() && it->size() == size_t(n))
      records = &*it;
  if (!records) {
    e.errors = n;
    e.error = run.verdict == sandbox::Verdict::kOk ? "no result from the solution runner"
                                                   : std::string(sandbox::VerdictName(run.verdict)) + ": " +
                                                         run.detail;
    if (!run.stderr_data.empty()) e.error += " | " + run.stderr_data.substr(0, 300);
    return e;
  }
  double total = 0;
  for (int i = 0; i < n; ++i) {
    InstanceRecord r = ReadRecord((*records)[i], limit + 1);
    if (r.error) {
      ++e.errors;
      if (e.error.empty()) e.error = *r.error;
      continue;
    }
    if (!(r.seconds <= limit)) {
      ++e.too_slow;
      continue;
    }
    InstanceScore s = task.score(r.output, instances[i].answer);
    if (s.wrong_shape) ++e.wrong_shape;
    e.max_naive_value = std::max(e.max_naive_value, s.naive_value);
    double v = std::isfinite(s.value) ? std::clamp(s.value, 0.0, 1.0) : 0.0;
    total += v;
  }
  e.utility = total / n;
  return e;
}

}  // namespace lmlab::improve
