// End-to-end probe capture (CaptureCached: prompts from the world-cities
// dataset, every layer's residual stream at the entity's last token, chunked
// and written as .npy layer files) against plain llama_decode of the same
// prompts packed the same way (runtime's reference), in the same run. The goal
// is >= 0.9x: caching and reordering must cost little next to inference.
// bench/runtime_activations_bench.cc measures the raw CaptureActivations call.
//
//   scripts/dev-build.sh probe_capture_bench
//   build/bench/probe_capture_bench --prompts 1000
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "lmlab/core/threads.h"
#include "lmlab/core/table.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/dataset.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/internal/reference_decode.h"

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  using namespace lmlab;
  namespace fs = std::filesystem;
  CLI::App app{"Probe capture (with the .npy cache) prompts/s vs plain llama_decode of the same prompts"};
  std::string model;
  int threads = 2, n_prompts = 1000, batch_tokens = 512, reps = 3;
  bool json = false, float16 = false;
  app.add_option("--model", model, "GGUF to measure (default: a random 4 x 256 llama written here)");
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--prompts", n_prompts, "World cities to capture")->capture_default_str();
  app.add_option("--batch-tokens", batch_tokens, "Tokens per batch")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions (the best of each side counts)")->capture_default_str();
  app.add_flag("--float16", float16, "Store float16 layer files");
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  const fs::path tmp = fs::temp_directory_path() / "lmlab-probe-capture-bench";
  if (model.empty()) {
    auto random = bench::RandomModel({}, tmp);  // the default 4 x 256 shape
    if (!random) return bench::Fail(random.error());
    model = *random;
  }
  auto ds = probe::BuildWorldCities({.limit = n_prompts});
  if (!ds) return bench::Fail(ds.error());
  const std::vector<std::string> prompts = probe::MakePrompts(*ds, probe::PromptTemplate::kBare);
  const runtime::ModelSpec spec{.gguf_path = model, .threads = threads};
  auto m = runtime::OpenActivationModel(spec);
  if (!m) return bench::Fail(m.error());
  auto best = bench::BestOf(
      reps,
      [&] {
        fs::remove_all(tmp / "cache");
        probe::CaptureOptions o;
        o.dir = tmp / "cache" / "entry";
        o.batch_tokens = batch_tokens;
        o.dtype = float16 ? probe::StoreDtype::kFloat16 : probe::StoreDtype::kFloat32;
        return bench::Seconds([&] { return probe::CaptureCached(**m, prompts, o); });
      },
      [&] { return runtime::internal::PlainDecodeSeconds(spec, prompts, batch_tokens); });
  if (!best) return bench::Fail(best.error());
  const double ours = prompts.size() / best->ours, reference = prompts.size() / best->reference;
  fs::remove_all(tmp);
  const double ratio = ours / reference;
  if (json) {
    std::cout << nlohmann::json{{"model", model}, {"threads", threads}, {"prompts", prompts.size()},
                                {"probe_capture_prompts_per_s", ours}, {"plain_decode_prompts_per_s", reference},
                                {"ratio", ratio}}
                     .dump(2)
              << "\n";
    return 0;
  }
  Table t({"work", "prompts/s"}, {Align::kLeft, Align::kRight});
  t.AddRow({"probe capture: all layers + .npy cache", fmt::format("{:.0f}", ours)});
  t.AddRow({"plain llama_decode, same batches", fmt::format("{:.0f}", reference)});
  std::cout << fmt::format("model {}, {} threads, {} world-city prompts, best of {}\n", model, threads, prompts.size(), reps)
            << t.Render() << fmt::format("ratio probe capture / plain decode: {:.2f} (goal >= 0.9)\n", ratio);
  return 0;
}
