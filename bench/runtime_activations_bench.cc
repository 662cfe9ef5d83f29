// Activation capture throughput (CaptureActivations: every layer's residual
// stream at each prompt's last token, through llama.cpp's eval callback)
// against plain llama_decode of the same prompts packed the same way, in the
// same run. The model is a random llama GGUF written by WriteTinyModel
// (default 4 layers x 256).
//
//   scripts/dev-build.sh runtime_activations_bench
//   build/bench/runtime_activations_bench --threads 2 --prompts 512
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "lmlab/core/threads.h"
#include "lmlab/core/table.h"
#include "lmlab/runtime/activations.h"
#include "lmlab/runtime/internal/reference_decode.h"

namespace {

using namespace lmlab;

// Short entity prompts of the kind probes use ("The capital of X is").
std::vector<std::string> Prompts(int n) {
  const char* subjects[] = {"France", "Germany", "Italy", "Spain", "Japan", "the river", "the city", "the model",
                            "water", "the sun", "the station", "the book", "the park", "the dog", "the week"};
  const char* frames[] = {"The capital of {} is", "{} is a", "Where is {}?", "The name of {} is", "We will meet {}"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(fmt::format(fmt::runtime(frames[i % 5]), subjects[(i / 5) % 15]));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  CLI::App app{"Activation capture prompts/s vs plain llama_decode of the same prompts, same run"};
  std::string model;
  int threads = 2, n_prompts = 512, batch_tokens = 512, reps = 3;
  bench::RandomModelShape shape;
  bool json = false;
  app.add_option("--model", model, "GGUF to measure (default: a random 4 x 256 llama written here)");
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--prompts", n_prompts, "Prompts per repetition")->capture_default_str();
  app.add_option("--batch-tokens", batch_tokens, "Tokens per batch")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions (the best of each side counts)")->capture_default_str();
  bench::AddRandomModelOptions(app, shape);
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  if (model.empty()) {
    auto random = bench::RandomModel(shape);
    if (!random) return bench::Fail(random.error());
    model = *random;
  }
  const runtime::ModelSpec spec{.gguf_path = model, .threads = threads};
  const std::vector<std::string> prompts = Prompts(n_prompts);

  auto capture = runtime::OpenActivationModel(spec);
  if (!capture) return bench::Fail(capture.error());
  auto best = bench::BestOf(
      reps,
      [&] {
        return bench::Seconds(
            [&] { return (*capture)->CaptureActivations({.prompts = prompts, .batch_tokens = batch_tokens}); });
      },
      [&] { return runtime::internal::PlainDecodeSeconds(spec, prompts, batch_tokens); });
  if (!best) return bench::Fail(best.error());
  const double ours = n_prompts / best->ours, reference = n_prompts / best->reference;
  const double ratio = ours / reference;
  if (json) {
    std::cout << nlohmann::json{{"model", model},
                                {"threads", threads},
                                {"prompts", n_prompts},
                                {"batch_tokens", batch_tokens},
                                {"capture_prompts_per_s", ours},
                                {"plain_decode_prompts_per_s", reference},
                                {"ratio", ratio}}
                     .dump(2)
              << "\n";
    return 0;
  }
  Table t({"work", "prompts/s"}, {Align::kLeft, Align::kRight});
  t.AddRow({"CaptureActivations (all layers, last token)", fmt::format("{:.0f}", ours)});
  t.AddRow({"plain llama_decode, same batches", fmt::format("{:.0f}", reference)});
  std::cout << fmt::format("model {}, {} threads, {} prompts, {} tokens per batch, best of {}\n", model, threads,
                           n_prompts, batch_tokens, reps)
            << t.Render() << fmt::format("ratio capture / plain decode: {:.2f} (goal >= 0.9)\n", ratio);
  return 0;
}
