// Generation speed of lmlab's llama.cpp backend (LanguageModel::Complete:
// sampler chain, stop-string matching, streaming) against llama.cpp's own
// llama-bench on the same model, threads and token count, in the same run.
// The model is a random llama GGUF written by WriteTinyModel (default 4 layers
// x 256), so the numbers mean something without downloads. Rounds alternate
// the two sides; each side's best repetition counts. llama-bench runs as its
// users run it (libgomp's default spinning); when lmlab's own OpenMP wait
// policy is in force (core/threads.h) it also runs under that, to separate
// lmlab's per-token path from the policy.
//
//   scripts/dev-build.sh runtime_generation_bench llama-bench
//   build/bench/runtime_generation_bench --threads 1     # three times in a row: the acceptance check
//   build/bench/runtime_generation_bench --threads 2 --tokens 64
//   build/bench/runtime_generation_bench --model path/to/real.gguf --json
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench_support.h"
#include "lmlab/core/table.h"
#include "lmlab/core/threads.h"
#include "lmlab/runtime/language_model.h"

int main(int argc, char** argv) {
  using namespace lmlab;
  ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  CLI::App app{"Generation tokens/s: lmlab's llama.cpp backend vs llama-bench, same model, same run"};
  std::string model;
  int threads = 2, tokens = 64, reps = 5, rounds = 3, gpu_layers = 0;
  bench::RandomModelShape shape;
  bool json = false;
  app.add_option("--model", model, "GGUF to measure (default: a random 4 x 256 llama written here)");
  app.add_option("--threads", threads, "CPU threads for both")->capture_default_str();
  app.add_option("--tokens", tokens, "Tokens generated per repetition")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions per round (the best of each side counts)")->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds, alternating lmlab and llama-bench")->capture_default_str();
  app.add_option("--gpu-layers", gpu_layers, "Layers offloaded by both (CUDA builds; -1 = all)")->capture_default_str();
  bench::AddRandomModelOptions(app, shape);
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  const std::filesystem::path build = bench::BuildDir();
  if (model.empty()) {
    auto random = bench::RandomModel(shape);
    if (!random) return bench::Fail(random.error());
    model = *random;
  }

  const std::string tool = (build / "bin" / "llama-bench").string();
  if (!std::filesystem::exists(tool)) {
    std::cerr << "llama-bench not found; build it: scripts/dev-build.sh llama-bench\n";
    return 1;
  }
  auto lm = runtime::OpenModel({.gguf_path = model, .threads = threads, .n_ctx = tokens + 8, .n_gpu_layers = gpu_layers});
  if (!lm) return bench::Fail(lm.error());
  int generated = 0;
  // lmlab: greedy generation from BOS alone, as llama-bench's tg test does;
  // seconds per generated token (Complete's own timing), the least of reps.
  auto lmlab_round = [&]() -> Result<double> {
    auto best = bench::BestOf(reps, [&]() -> Result<double> {
      auto c = (*lm)->Complete("", {.temperature = 0, .max_tokens = tokens});
      if (!c) return std::unexpected(c.error());
      generated = static_cast<int>(c->completion_tokens);
      return c->seconds / double(c->completion_tokens);
    });
    if (!best) return std::unexpected(best.error());
    return 1 / *best;
  };
  // llama-bench tg<tokens>, same threads: its best repetition (samples_ts).
  // `env` is the environment prefix: as users run it, or with lmlab's wait policy.
  auto llama_bench_round = [&](const std::string& env) -> Result<double> {
    const bench::CommandOutput run =
        bench::RunCommand(env + fmt::format("{} -m {} -p 0 -n {} -t {} -r {} -ngl {} -o json 2>/dev/null", tool, model,
                                            tokens, threads, reps, gpu_layers < 0 ? 999 : gpu_layers));
    if (run.exit_code != 0) return Internal(fmt::format("llama-bench failed ({}): {}", run.exit_code, run.out));
    double best = 0;
    try {
      for (const auto& test : nlohmann::json::parse(run.out))
        for (double ts : test.value("samples_ts", std::vector<double>{})) best = std::max(best, ts);
    } catch (const std::exception& e) {
      return ParseError(std::string("cannot parse llama-bench output: ") + e.what());
    }
    return best;
  };
  // With lmlab's OpenMP wait policy in force (core/threads.h), llama-bench
  // also runs once more under it: the same-policy ratio isolates lmlab's
  // own per-token path from the policy's effect.
  const bool policy_differs = std::getenv(kWaitPolicyMarker) != nullptr;
  double ours = 0, reference = 0, reference_same_policy = 0;
  for (int round = 0; round < rounds; ++round) {
    auto o = lmlab_round();
    if (!o) return bench::Fail(o.error());
    auto r = llama_bench_round(bench::ReferenceEnv());
    if (!r) return bench::Fail(r.error());
    ours = std::max(ours, *o);
    reference = std::max(reference, *r);
    if (policy_differs) {
      auto p = llama_bench_round("");
      if (!p) return bench::Fail(p.error());
      reference_same_policy = std::max(reference_same_policy, *p);
    }
  }
  if (generated != tokens)
    std::cerr << fmt::format("note: generation stopped at an end token after {} of {} tokens\n", generated, tokens);

  const double ratio = reference > 0 ? ours / reference : 0;
  const double ratio_same = reference_same_policy > 0 ? ours / reference_same_policy : 0;
  if (json) {
    nlohmann::json j{{"model", model},
                     {"threads", threads},
                     {"tokens", tokens},
                     {"rounds", rounds},
                     {"reps", reps},
                     {"lmlab_tokens_per_s", ours},
                     {"llama_bench_tokens_per_s", reference},
                     {"ratio", ratio}};
    if (policy_differs) {
      j["llama_bench_same_policy_tokens_per_s"] = reference_same_policy;
      j["ratio_same_policy"] = ratio_same;
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  Table t({"generation", "tokens/s", "lmlab / it"}, {Align::kLeft, Align::kRight, Align::kRight});
  t.AddRow({"lmlab Complete (greedy)", fmt::format("{:.0f}", ours), "1.00"});
  t.AddRow({fmt::format("llama-bench tg{}", tokens), fmt::format("{:.0f}", reference), fmt::format("{:.2f}", ratio)});
  if (policy_differs)
    t.AddRow({fmt::format("llama-bench tg{}, GOMP_SPINCOUNT={} like lmlab", tokens, kOpenMpSpinCount),
              fmt::format("{:.0f}", reference_same_policy), fmt::format("{:.2f}", ratio_same)});
  std::cout << fmt::format("model {}, {} threads, {} tokens, best repetition of {} rounds x {}\n", model, threads,
                           tokens, rounds, reps)
            << t.Render() << fmt::format("ratio lmlab / llama-bench: {:.2f} (goal >= 0.95)\n", ratio);
  return 0;
}
