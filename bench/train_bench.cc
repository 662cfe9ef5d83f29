// Training throughput of `lmlab train` against, in the same run, on the same
// model shape, batch and token stream:
//   - lmlab's pre-change trainer (the same graph on ggml's own MUL_MAT and
//     OUT_PROD kernels: TrainOptions::products = kGgml);
//   - PyTorch on the CPU (bench/reference/train_torch.py, same architecture,
//     AdamW), over whatever BLAS the system gives numpy/PyTorch (OpenBLAS
//     after scripts/setup-bench.sh; the table says which was loaded);
//   - llama.cpp's llama-finetune (ggml-opt), one window per step, started
//     from the GGUF lmlab exports before its first step.
// Plus lmlab's model-FLOP utilisation against an fp32 GEMM measured right
// after, on the same threads. Sides alternate round by round; the best round
// of each counts. Prints a table; --json for a record.
//
//   scripts/setup-bench.sh                          # PyTorch over OpenBLAS
//   scripts/dev-build.sh train_bench llama-finetune
//   build/bench/train_bench                         # the default model's recipe (192 wide, ctx 128, batch 8)
//   build/bench/train_bench --shape 4x256           # 4 x 256, ctx 256 (llama-finetune's native window)
//   build/bench/train_bench --threads 1 --rounds 3 --json
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "bench/bench_support.h"
#include "lmlab/core/threads.h"
#include "lmlab/core/format.h"
#include "lmlab/core/table.h"
#include "lmlab/train/default_model.h"
#include "lmlab/train/model.h"
#include "lmlab/train/trainer.h"

namespace {

using namespace lmlab;
using namespace lmlab::train;

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

struct Side {
  double best_tps = 0;
  double last_loss = 0;
  TrainResult last;
};

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  CLI::App app{"Training tokens/s: lmlab vs its pre-change trainer, PyTorch and llama-finetune, same run"};
  std::string shape = "default";
  int threads = 2, rounds = 3;
  int64_t steps = 0, docs_count = 3000;
  bool json = false, skip_torch = false, skip_finetune = false;
  std::string finetune = (bench::BuildDir() / "bin" / "llama-finetune").string();
  std::string python = "/usr/bin/python3";
  std::string torch_script = (bench::BuildDir().parent_path() / "bench" / "reference" / "train_torch.py").string();
  app.add_option("--shape", shape, "default: the default model's recipe (4 x 192, ctx 128, batch 8); 4x256: 4 x 256, ctx 256, batch 8")
      ->check(CLI::IsMember({"default", "4x256"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "Threads for every side")->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds; each side's best round counts")->capture_default_str();
  app.add_option("--steps", steps, "Optimizer steps per round (default: 12 for default, 6 for 4x256)");
  app.add_option("--docs", docs_count, "Documents of the default corpus to use")->capture_default_str();
  app.add_option("--finetune", finetune, "llama-finetune binary")->capture_default_str();
  app.add_option("--python", python, "Python with PyTorch")->capture_default_str();
  app.add_flag("--no-torch", skip_torch, "Skip the PyTorch reference");
  app.add_flag("--no-finetune", skip_finetune, "Skip the llama-finetune reference");
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  // The model: the default recipe's shapes, or the 4 x 256 bench model.
  TrainOptions o = DefaultModelRecipe().train;
  o.checkpoint_every = 0;
  o.checkpoint.clear();
  if (shape == "4x256") {
    o.model = {.n_ctx = 256, .n_embd = 256, .n_layer = 4, .n_head = 4};
    o.batch = 8;
  }
  if (steps <= 0) steps = shape == "4x256" ? 6 : 12;
  o.steps = steps;
  o.warmup = 1;
  o.threads = threads;
  o.val_fraction = 0.02;
  o.max_val_windows = 1;

  auto corpus = BuildDefaultCorpus(DefaultModelRecipe());
  if (!corpus) Die(corpus.error().ToString());
  std::vector<std::string> docs(corpus->begin(), corpus->begin() + std::min<int64_t>(docs_count, corpus->size()));
  auto tok = Tokenizer::Learn(docs, o.tokenizer);
  if (!tok) Die(tok.error().ToString());
  ModelConfig config = o.model;
  config.n_vocab = tok->size();
  Model init = InitModel(config, tok->vocab(), o.seed);
  const double flops_per_token = TrainingFlopsPerToken(config);

  const std::string dir = "/tmp/lmlab-train-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string init_path = dir + "/init.gguf", text_path = dir + "/corpus.txt", tokens_path = dir + "/tokens.bin";
  if (auto s = ExportGguf(init, init_path); !s) Die(s.error().ToString());
  {
    // The same token stream for the references: text for llama-finetune
    // (it tokenizes with the exported vocabulary), ids for PyTorch.
    std::ofstream text(text_path);
    std::ofstream ids(tokens_path, std::ios::binary);
    for (const std::string& d : docs) {
      text << d << "\n";
      std::vector<int32_t> t = tok->Encode(d, runtime::AddBos::kYes);
      t.push_back(tok->eos());
      ids.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(int32_t)));
    }
  }

  auto torch_run = [&](int64_t batch, int64_t n_steps) {
    const std::string cmd = fmt::format(
        "OPENBLAS_NUM_THREADS={} {} {} --tokens {} --vocab {} --layers {} --width {} --heads {} --ff {} --ctx {} --batch {} --steps {} "
        "--threads {} 2>&1",
        threads, python, torch_script, tokens_path, config.n_vocab, config.n_layer, config.n_embd, config.n_head,
        FeedForwardSize(config), config.n_ctx, batch, n_steps, threads);
    auto r = bench::RunCommand(bench::ReferenceEnv() + cmd);
    if (r.exit_code != 0) Die("PyTorch reference failed (scripts/setup-bench.sh installs it):\n" + r.out.substr(0, 2000));
    const size_t at = r.out.rfind("{\"backend\"");
    if (at == std::string::npos) Die("PyTorch reference printed no result:\n" + r.out.substr(0, 2000));
    return nlohmann::json::parse(r.out.substr(at));
  };

  // lmlab (Eigen products) vs the pre-change trainer vs PyTorch, alternating
  // round by round at the recipe's batch; then batch 1 against llama-finetune.
  Side eigen, ggml, eigen1;
  double torch_tps = 0, torch_last_loss = 0;
  std::string torch_backend, torch_blas;
  auto lmlab_round = [&](MatrixProducts products, int64_t batch, Side* side) {
    TrainOptions t = o;
    t.products = products;
    t.batch = batch;
    auto r = Train(docs, t);
    if (!r) Die(r.error().ToString());
    side->best_tps = std::max(side->best_tps, r->tokens_per_second);
    side->last_loss = r->losses.back();
    side->last = std::move(*r);
  };
  for (int round = 0; round < rounds; ++round) {
    lmlab_round(MatrixProducts::kEigen, o.batch, &eigen);
    lmlab_round(MatrixProducts::kGgml, o.batch, &ggml);
    if (!skip_torch) {
      nlohmann::json j = torch_run(o.batch, steps);
      torch_tps = std::max(torch_tps, j["tokens_per_second"].get<double>());
      torch_last_loss = j["last_loss"];
      torch_backend = j["backend"];
      torch_blas = j.value("blas", "?");
    }
  }

  // llama-finetune trains one window of n_ctx tokens per step (its n_ctx is
  // padded to a multiple of 256): lmlab at batch 1 on the same window size.
  double ft_tps = 0, ft_secs = -1;
  int64_t ft_points = 0, ft_ctx = (config.n_ctx + 255) / 256 * 256;
  if (!skip_finetune) {
    TrainOptions o1 = o;
    o1.model.n_ctx = ft_ctx;
    o1.steps = 4 * steps;
    std::swap(o, o1);
    for (int round = 0; round < rounds; ++round) lmlab_round(MatrixProducts::kEigen, 1, &eigen1);
    std::swap(o, o1);
    // One epoch over a corpus cut so that it runs about 4 * steps steps
    // (windows overlap by half: stride n_ctx/2), 5% held out.
    std::ifstream in(text_path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const double bytes_per_token = static_cast<double>(all.size()) / std::max<int64_t>(1, eigen.last.corpus_tokens);
    const size_t keep = std::min(all.size(), static_cast<size_t>((4 * steps + 2) * ft_ctx / 2 * bytes_per_token * 1.1));
    std::ofstream(text_path + ".cut") << all.substr(0, keep);
    const std::string cmd = fmt::format(
        "{} -m {} -f {}.cut -c {} -b {} -ub {} -t {} -epochs 1 -val-split 0.05 -lr 1e-4 -o {}/ft.gguf 2>&1", finetune,
        init_path, text_path, ft_ctx, ft_ctx, ft_ctx, threads, dir);
    auto r = bench::RunCommand(bench::ReferenceEnv() + cmd);
    if (r.exit_code != 0) Die("llama-finetune failed (build it: scripts/dev-build.sh llama-finetune):\n" + r.out.substr(0, 2000));
    ft_secs = FinetuneTrainSeconds(r.out, &ft_points);
    if (ft_secs <= 0) Die("could not read llama-finetune's timing:\n" + r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0));
    ft_tps = static_cast<double>(ft_points * ft_ctx) / ft_secs;
  }
  std::filesystem::remove_all(dir);

  const double mfu = eigen.last.gemm_flops_per_second > 0 ? flops_per_token * eigen.best_tps / eigen.last.gemm_flops_per_second : 0;
  nlohmann::json j = {
      {"shape", shape},
      {"model", {{"layers", config.n_layer}, {"width", config.n_embd}, {"heads", config.n_head}, {"ctx", config.n_ctx},
                 {"vocab", config.n_vocab}, {"ff", FeedForwardSize(config)}, {"params", init.NumParams()}}},
      {"batch", o.batch},
      {"threads", threads},
      {"rounds", rounds},
      {"steps_per_round", steps},
      {"lmlab_tokens_per_second", eigen.best_tps},
      {"lmlab_products", "Eigen 3.4 packed GEMM (built in)"},
      {"pre_change_tokens_per_second", ggml.best_tps},
      {"ratio_lmlab_vs_pre_change", eigen.best_tps / ggml.best_tps},
      {"lmlab_last_loss", eigen.last_loss},
      {"pre_change_last_loss", ggml.last_loss},
      {"model_flops_per_token", flops_per_token},
      {"gemm_flops_per_second", eigen.last.gemm_flops_per_second},
      {"mfu", mfu},
  };
  if (!skip_torch) {
    j["torch_tokens_per_second"] = torch_tps;
    j["torch_backend"] = torch_backend;
    j["torch_blas"] = torch_blas;
    j["torch_last_loss"] = torch_last_loss;
    j["ratio_lmlab_vs_torch"] = eigen.best_tps / torch_tps;
  }
  if (!skip_finetune) {
    j["finetune_ctx"] = ft_ctx;
    j["lmlab_batch1_tokens_per_second"] = eigen1.best_tps;
    j["llama_finetune_tokens_per_second"] = ft_tps;
    j["llama_finetune_train_seconds"] = ft_secs;
    j["ratio_lmlab_vs_llama_finetune"] = eigen1.best_tps / ft_tps;
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format(
      "Training throughput: {} layers x {} wide, {} heads, ctx {}, vocab {} ({} parameters), batch {}, {} threads, "
      "best of {} rounds of {} steps\n\n",
      config.n_layer, config.n_embd, config.n_head, config.n_ctx, config.n_vocab,
      FormatThousands(static_cast<double>(init.NumParams())), o.batch, threads, rounds, steps);
  Table t({"trainer", "products on", "batch", "tokens/s", "lmlab / it", "last loss"},
          {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  t.AddRow({"lmlab", "Eigen GEMM (built in)", std::to_string(o.batch), FormatThousands(eigen.best_tps), "1.00",
            FormatFixed(eigen.last_loss, 3)});
  t.AddRow({"lmlab before (kGgml)", "ggml MUL_MAT/OUT_PROD", std::to_string(o.batch), FormatThousands(ggml.best_tps),
            FormatFixed(eigen.best_tps / ggml.best_tps, 2), FormatFixed(ggml.last_loss, 3)});
  if (!skip_torch)
    t.AddRow({torch_backend, torch_blas.substr(0, torch_blas.find(';')) + ")", std::to_string(o.batch), FormatThousands(torch_tps),
              FormatFixed(eigen.best_tps / torch_tps, 2), FormatFixed(torch_last_loss, 3)});
  if (!skip_finetune) {
    t.AddRow({fmt::format("lmlab, ctx {}", ft_ctx), "Eigen GEMM (built in)", "1", FormatThousands(eigen1.best_tps), "1.00", ""});
    t.AddRow({fmt::format("llama-finetune, ctx {} (token_embd, attn_k, attn_v frozen)", ft_ctx), "ggml", "1",
              FormatThousands(ft_tps), FormatFixed(eigen1.best_tps / ft_tps, 2), ""});
  }
  std::cout << t.Render();
  std::cout << fmt::format(
      "\nlmlab model-FLOP utilisation: {:.0f}% ({} GFLOP/s of model FLOPs, {} FLOP/token, against an fp32 GEMM of {} "
      "GFLOP/s measured on {} threads right after)\n",
      100 * mfu, FormatFixed(flops_per_token * eigen.best_tps / 1e9, 1), FormatThousands(flops_per_token),
      FormatFixed(eigen.last.gemm_flops_per_second / 1e9, 1), threads);
  return 0;
}
