// Training throughput of lmlab's own ggml training graph against two
// references measured in the same run, on the same model shape and corpus:
//   - llama.cpp's llama-finetune (ggml-opt through llama_opt_epoch), started
//     from the very GGUF lmlab exports before its first step;
//   - PyTorch on CPU (bench/reference/train_torch.py, same architecture).
// Prints a table of training tokens/s and the ratios; --json for a record.
//
//   scripts/dev-build.sh train_bench llama-finetune
//   build/bench/train_bench --threads 1 --steps 40
//   # PyTorch also with OpenBLAS, without changing the system's BLAS:
//   apt-get download libopenblas0-pthread && dpkg-deb -x libopenblas0-pthread_*.deb /tmp/oblas
//   build/bench/train_bench --threads 1 --steps 40 --openblas /tmp/oblas/usr/lib/x86_64-linux-gnu/openblas-pthread
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/wait.h>
#include <unistd.h>
#include <string>

#include "bench/bench_support.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/train/default_model.h"
#include "lmlab/train/model.h"
#include "lmlab/train/trainer.h"

namespace {

using namespace lmlab;
using namespace lmlab::train;

struct CommandOutput {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command and captures its stdout.
CommandOutput Run(const std::string& cmd) {
  CommandOutput r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct Args {
  int threads = 2;
  int64_t steps = 20;
  int64_t ctx = 256;
  int64_t layers = 4, width = 256, heads = 4;
  int vocab = 2048;
  int64_t docs = 3000;
  std::string finetune = (bench::BuildDir() / "bin" / "llama-finetune").string();
  std::string python = "/usr/bin/python3";
  std::string torch_script = (bench::BuildDir().parent_path() / "bench" / "reference" / "train_torch.py").string();
  // A directory holding an optimized libblas.so.3 (e.g. Debian's
  // libopenblas0-pthread unpacked there): PyTorch runs a second time with it.
  // Debian's python3-torch calls whatever libblas.so.3 the system selects,
  // which is the reference BLAS unless an optimized one is installed.
  std::string openblas;
  bool json = false;
};

[[noreturn]] void Die(const std::string& m) {
  std::fprintf(stderr, "train_bench: %s\n", m.c_str());
  std::exit(1);
}

// Seconds from llama-finetune's last "train:" progress line ("t=00:01:05").
double FinetuneTrainSeconds(const std::string& log, int64_t* datapoints) {
  std::regex re(R"(train: \[[^\]]*\] data=(\d+)/(\d+) [^\r\n]*?t=(\d+):(\d+):(\d+))");
  double secs = -1;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    *datapoints = std::stoll(m[1]);
    secs = std::stoi(m[3]) * 3600 + std::stoi(m[4]) * 60 + std::stoi(m[5]);
  }
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + k);
      return argv[++i];
    };
    if (k == "--threads") a.threads = std::stoi(next());
    else if (k == "--steps") a.steps = std::stoll(next());
    else if (k == "--ctx") a.ctx = std::stoll(next());
    else if (k == "--layers") a.layers = std::stoll(next());
    else if (k == "--width") a.width = std::stoll(next());
    else if (k == "--heads") a.heads = std::stoll(next());
    else if (k == "--vocab") a.vocab = std::stoi(next());
    else if (k == "--docs") a.docs = std::stoll(next());
    else if (k == "--finetune") a.finetune = next();
    else if (k == "--python") a.python = next();
    else if (k == "--openblas") a.openblas = next();
    else if (k == "--json") a.json = true;
    else Die("unknown flag " + k + " (see the comment at the top of bench/train_bench.cc)");
  }

  // The corpus: the default model's documents (real package data).
  auto corpus = BuildDefaultCorpus(DefaultModelRecipe());
  if (!corpus) Die(corpus.error().ToString());
  std::vector<std::string> docs(corpus->begin(), corpus->begin() + std::min<int64_t>(a.docs, corpus->size()));

  TrainOptions o;
  o.model = {.n_ctx = a.ctx, .n_embd = a.width, .n_layer = a.layers, .n_head = a.heads};
  o.tokenizer.vocab_size = a.vocab;
  o.steps = a.steps;
  o.batch = 1;  // llama-finetune trains one window of n_ctx tokens per step
  o.threads = a.threads;
  o.val_fraction = 0.05;
  o.max_val_windows = 1;
  auto tok = Tokenizer::Learn(docs, o.tokenizer);
  if (!tok) Die(tok.error().ToString());
  ModelConfig config = o.model;
  config.n_vocab = tok->size();
  Model init = InitModel(config, tok->vocab(), o.seed);
  const std::string dir = "/tmp/lmlab-train-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string init_path = dir + "/init.gguf", text_path = dir + "/corpus.txt", tokens_path = dir + "/tokens.bin";
  if (auto s = ExportGguf(init, init_path); !s) Die(s.error().ToString());

  // lmlab, batch 1 (as llama-finetune) and batch 8 (lmlab's default).
  auto ours = Train(docs, o);
  if (!ours) Die(ours.error().ToString());
  TrainOptions o8 = o;
  o8.batch = 8;
  o8.steps = std::max<int64_t>(2, a.steps / 4);
  auto ours8 = Train(docs, o8);
  if (!ours8) Die(ours8.error().ToString());

  // The same token stream for the other two: text for llama-finetune (which
  // tokenizes it with the exported vocabulary), ids for PyTorch.
  {
    std::ofstream text(text_path);
    std::ofstream ids(tokens_path, std::ios::binary);
    for (const std::string& d : docs) {
      text << d << "\n";
      std::vector<int32_t> t = tok->Encode(d, runtime::AddBos::kYes);
      t.push_back(tok->eos());
      ids.write(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(int32_t));
    }
  }

  // llama-finetune: one epoch over a corpus cut so it runs about `steps` steps
  // (its windows overlap by half: stride n_ctx/2), 5% held out.
  double ft_tps = 0;
  int64_t ft_points = 0;
  double ft_secs = -1;
  {
    std::ifstream in(text_path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t bytes_per_token = std::max<size_t>(1, all.size() / std::max<int64_t>(1, ours->corpus_tokens));
    const size_t keep = std::min(all.size(), static_cast<size_t>((a.steps + 2) * a.ctx / 2 * bytes_per_token * 1.1));
    std::ofstream(text_path + ".cut") << all.substr(0, keep);
    const std::string cmd = fmt::format(
        "{} -m {} -f {}.cut -c {} -b {} -ub {} -t {} -epochs 1 -val-split 0.05 -lr 1e-4 -o {}/ft.gguf 2>&1",
        a.finetune, init_path, text_path, a.ctx, a.ctx, a.ctx, a.threads, dir);
    auto r = Run(cmd);
    if (r.exit_code != 0) Die("llama-finetune failed (build it: scripts/dev-build.sh llama-finetune):\n" + r.out.substr(0, 2000));
    ft_secs = FinetuneTrainSeconds(r.out, &ft_points);
    if (ft_secs <= 0) Die("could not read llama-finetune's timing:\n" + r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0));
    ft_tps = static_cast<double>(ft_points * a.ctx) / ft_secs;
  }

  // PyTorch, same shape, batch 1 and 8.
  auto torch_run = [&](int64_t batch, int64_t steps, const std::string& blas_dir) {
    const std::string env =
        blas_dir.empty() ? "" : fmt::format("LD_LIBRARY_PATH={} OPENBLAS_NUM_THREADS={} ", blas_dir, a.threads);
    const std::string cmd = env + fmt::format(
        "{} {} --tokens {} --vocab {} --layers {} --width {} --heads {} --ff {} --ctx {} --batch {} --steps {} "
        "--threads {}",
        a.python, a.torch_script, tokens_path, config.n_vocab, a.layers, a.width, a.heads, FeedForwardSize(config),
        a.ctx, batch, steps, a.threads);
    auto r = Run(cmd + " 2>&1");
    if (r.exit_code != 0) Die("PyTorch reference failed:\n" + r.out.substr(0, 2000));
    const size_t at = r.out.rfind("{\"backend\"");
    if (at == std::string::npos) Die("PyTorch reference printed no result:\n" + r.out.substr(0, 2000));
    return nlohmann::json::parse(r.out.substr(at));
  };
  nlohmann::json torch1 = torch_run(1, a.steps, "");
  nlohmann::json torch8 = torch_run(8, std::max<int64_t>(2, a.steps / 8), "");
  nlohmann::json otorch1, otorch8;
  if (!a.openblas.empty()) {
    otorch1 = torch_run(1, a.steps, a.openblas);
    otorch8 = torch_run(8, std::max<int64_t>(2, a.steps / 8), a.openblas);
  }
  std::filesystem::remove_all(dir);

  const double t1 = torch1["tokens_per_second"], t8 = torch8["tokens_per_second"];
  nlohmann::json j = {
      {"model", {{"layers", a.layers}, {"width", a.width}, {"heads", a.heads}, {"ctx", a.ctx}, {"vocab", config.n_vocab},
                 {"params", init.NumParams()}}},
      {"threads", a.threads},
      {"lmlab_batch1_tokens_per_second", ours->tokens_per_second},
      {"lmlab_batch8_tokens_per_second", ours8->tokens_per_second},
      {"llama_finetune_tokens_per_second", ft_tps},
      {"llama_finetune_train_seconds", ft_secs},
      {"llama_finetune_windows", ft_points},
      {"torch_batch1_tokens_per_second", t1},
      {"torch_batch8_tokens_per_second", t8},
      {"torch_version", torch1["backend"]},
      {"ratio_lmlab_vs_llama_finetune", ours->tokens_per_second / ft_tps},
      {"ratio_lmlab_vs_torch_batch1", ours->tokens_per_second / t1},
      {"ratio_lmlab_vs_torch_batch8", ours8->tokens_per_second / t8},
  };
  if (!a.openblas.empty()) {
    j["torch_openblas_batch1_tokens_per_second"] = otorch1["tokens_per_second"];
    j["torch_openblas_batch8_tokens_per_second"] = otorch8["tokens_per_second"];
    j["ratio_lmlab_vs_torch_openblas_batch1"] = ours->tokens_per_second / otorch1["tokens_per_second"].get<double>();
    j["ratio_lmlab_vs_torch_openblas_batch8"] = ours8->tokens_per_second / otorch8["tokens_per_second"].get<double>();
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("Training throughput, {} layers x {} wide, {} heads, ctx {}, vocab {} ({} parameters), {} threads\n\n",
                           a.layers, a.width, a.heads, a.ctx, config.n_vocab,
                           FormatThousands(static_cast<double>(init.NumParams())), a.threads);
  Table t({"trainer", "batch", "tokens/s", "lmlab / it"}, {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  t.AddRow({"lmlab (own ggml graph, all weights)", "1", FormatThousands(ours->tokens_per_second), "1.00"});
  t.AddRow({"llama.cpp llama-finetune (ggml-opt)", "1", FormatThousands(ft_tps), FormatFixed(ours->tokens_per_second / ft_tps, 2)});
  t.AddRow({"PyTorch CPU " + torch1["backend"].get<std::string>(), "1", FormatThousands(t1), FormatFixed(ours->tokens_per_second / t1, 2)});
  t.AddRow({"lmlab", "8", FormatThousands(ours8->tokens_per_second), "1.00"});
  t.AddRow({"PyTorch CPU", "8", FormatThousands(t8), FormatFixed(ours8->tokens_per_second / t8, 2)});
  if (!a.openblas.empty()) {
    const double o1 = otorch1["tokens_per_second"], o8 = otorch8["tokens_per_second"];
    t.AddRow({"PyTorch CPU + OpenBLAS", "1", FormatThousands(o1), FormatFixed(ours->tokens_per_second / o1, 2)});
    t.AddRow({"PyTorch CPU + OpenBLAS", "8", FormatThousands(o8), FormatFixed(ours8->tokens_per_second / o8, 2)});
  }
  std::cout << t.Render();
  return 0;
}
