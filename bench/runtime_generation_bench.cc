// Generation speed of lmlab's llama.cpp backend (LanguageModel::Complete:
// sampler chain, stop-string matching, streaming) against llama.cpp's own
// llama-bench on the same model, threads and token count, in the same run.
// The model is a random llama GGUF written by WriteTinyModel (default 4 layers
// x 256), so the numbers mean something without downloads.
//
//   scripts/dev-build.sh runtime_generation_bench llama-bench
//   build/bench/runtime_generation_bench --threads 2 --tokens 64
//   build/bench/runtime_generation_bench --model path/to/real.gguf --json
#include <fmt/format.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench_support.h"
#include "lmlab/core/table.h"
#include "lmlab/runtime/language_model.h"

namespace {

using namespace lmlab;

std::string Capture(const std::string& command, int* status) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (!f) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = pclose(f);
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Generation tokens/s: lmlab's llama.cpp backend vs llama-bench, same model, same run"};
  std::string model;
  int threads = 2, tokens = 64, reps = 5, gpu_layers = 0;
  bench::RandomModelShape shape;
  bool json = false;
  app.add_option("--model", model, "GGUF to measure (default: a random 4 x 256 llama written here)");
  app.add_option("--threads", threads, "CPU threads for both")->capture_default_str();
  app.add_option("--tokens", tokens, "Tokens generated per repetition")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions (the best of each side counts)")->capture_default_str();
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

  // lmlab: greedy generation from BOS alone, as llama-bench's tg test does.
  auto lm = runtime::OpenModel({.gguf_path = model, .threads = threads, .n_ctx = tokens + 8, .n_gpu_layers = gpu_layers});
  if (!lm) return bench::Fail(lm.error());
  int generated = 0;
  // Seconds per generated token (Complete's own timing), so the best is the least.
  auto best = bench::BestOf(reps, [&]() -> Result<double> {
    auto c = (*lm)->Complete("", {.temperature = 0, .max_tokens = tokens});
    if (!c) return std::unexpected(c.error());
    generated = static_cast<int>(c->completion_tokens);
    return c->seconds / double(c->completion_tokens);
  });
  if (!best) return bench::Fail(best.error());
  const double ours = 1 / *best;
  if (generated != tokens)
    std::cerr << fmt::format("note: generation stopped at an end token after {} of {} tokens\n", generated, tokens);

  // llama-bench: tg<tokens>, same threads; its JSON has avg_ts per test.
  const std::string tool = (build / "bin" / "llama-bench").string();
  if (!std::filesystem::exists(tool)) {
    std::cerr << "llama-bench not found; build it: scripts/dev-build.sh llama-bench\n";
    return 1;
  }
  int status = 0;
  std::string out = Capture(fmt::format("{} -m {} -p 0 -n {} -t {} -r {} -ngl {} -o json 2>/dev/null", tool, model,
                                        tokens, threads, reps, gpu_layers < 0 ? 999 : gpu_layers),
                            &status);
  if (status != 0) {
    std::cerr << "llama-bench failed (" << status << ")\n" << out << "\n";
    return 1;
  }
  double reference = 0;
  try {
    auto j = nlohmann::json::parse(out);
    for (const auto& test : j) reference = std::max(reference, test.value("avg_ts", 0.0));
  } catch (const std::exception& e) {
    std::cerr << "cannot parse llama-bench output: " << e.what() << "\n";
    return 1;
  }

  const double ratio = reference > 0 ? ours / reference : 0;
  if (json) {
    std::cout << nlohmann::json{{"model", model},           {"threads", threads},
                                {"tokens", tokens},         {"lmlab_tokens_per_s", ours},
                                {"llama_bench_tokens_per_s", reference}, {"ratio", ratio}}
                     .dump(2)
              << "\n";
    return 0;
  }
  Table t({"generation", "tokens/s"}, {Align::kLeft, Align::kRight});
  t.AddRow({"lmlab Complete (greedy)", fmt::format("{:.0f}", ours)});
  t.AddRow({fmt::format("llama-bench tg{}", tokens), fmt::format("{:.0f}", reference)});
  std::cout << fmt::format("model {}, {} threads, {} tokens, best of {}\n", model, threads, tokens, reps)
            << t.Render() << fmt::format("ratio lmlab / llama-bench: {:.2f} (goal >= 0.95)\n", ratio);
  return 0;
}
