// Training the OOD lab's MLP (784-128-64-10, CE, AdamW, batch 128) with
// ggml-opt vs the same model in PyTorch on the CPU, same images, same epochs,
// measured in one run. Prints images/s for both and the ratio (> 1 = lmlab
// faster), plus both test accuracies so a fast-but-wrong side shows.
//
//   scripts/dev-build.sh ood_train_bench
//   build/bench/ood_train_bench --threads 1 --epochs 2 --repeats 3 [--json]
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "lmlab/core/threads.h"
#include "lmlab/ood/classifier.h"
#include "lmlab/ood/datasets.h"

namespace {

using namespace lmlab;
using namespace lmlab::ood;

[[noreturn]] void Die(const std::string& m) {
  std::fprintf(stderr, "ood_train_bench: %s\n", m.c_str());
  std::exit(1);
}

std::string Run(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) Die("cannot run " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("reference failed: " + cmd + "\n" + out);
  return out;
}

// [n, 784] float32 then [n] int32, native endianness.
void WriteRaw(const ImageSet& s, const std::filesystem::path& path) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(s.pixels.data()), static_cast<std::streamsize>(s.pixels.size() * sizeof(float)));
  f.write(reinterpret_cast<const char*>(s.labels.data()), static_cast<std::streamsize>(s.labels.size() * sizeof(int32_t)));
  if (!f) Die("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  int threads = 1, epochs = 2, repeats = 3;
  int64_t train_size = 60000;
  bool json = false;
  std::string python = "/usr/bin/python3";
  std::string script = (bench::BuildDir().parent_path() / "bench" / "reference" / "ood_train_torch.py").string();
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : (Die("missing value for " + k), std::string()); };
    if (k == "--threads") threads = std::stoi(next());
    else if (k == "--epochs") epochs = std::stoi(next());
    else if (k == "--repeats") repeats = std::stoi(next());
    else if (k == "--train-size") train_size = std::stoll(next());
    else if (k == "--python") python = next();
    else if (k == "--json") json = true;
    else Die("unknown flag " + k + " (--threads --epochs --repeats --train-size --python --json)");
  }
  auto train_full = LoadFashionMnist(Split::kTrain);
  auto test = LoadFashionMnist(Split::kTest);
  if (!train_full || !test) Die("Fashion-MNIST missing: apt-get install dataset-fashion-mnist");
  ImageSet train = Subsample(*train_full, train_size, 1);
  auto dir = std::filesystem::temp_directory_path() / fmt::format("lmlab-ood-bench-{}", getpid());
  std::filesystem::create_directories(dir);
  WriteRaw(train, dir / "train.bin");
  WriteRaw(*test, dir / "test.bin");

  TrainOptions o{.arch = Arch::kMlp, .loss = Loss::kCrossEntropy, .epochs = epochs, .threads = threads};
  const double images = static_cast<double>(train.size() / o.batch * o.batch) * epochs;
  double best_lmlab = 0, best_torch = 0, acc_lmlab = 0, acc_torch = 0;
  std::string torch_version;
  for (int r = 0; r < repeats; ++r) {
    // Alternate sides so background load hits both alike.
    auto t0 = std::chrono::steady_clock::now();
    auto model = TrainClassifier(train, o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!model) Die(model.error().ToString());
    best_lmlab = std::max(best_lmlab, images / s);
    auto predictions = Predict(*model, *test, threads);
    if (!predictions) Die(predictions.error().ToString());
    acc_lmlab = Accuracy(*model, *predictions, *test);

    // OpenBLAS keeps its own pool beside torch.set_num_threads: pin it to the same count.
    auto out = Run(bench::ReferenceEnv() +
                   fmt::format("OPENBLAS_NUM_THREADS={} {} {} --train {} --test {} --n-train {} --n-test {} --epochs {} "
                               "--threads {}",
                               threads, python, script, (dir / "train.bin").string(), (dir / "test.bin").string(),
                               train.size(), test->size(), epochs, threads));
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded()) Die("reference printed no JSON: " + out);
    best_torch = std::max(best_torch, j["images_per_second"].get<double>());
    acc_torch = j["test_accuracy"].get<double>();
    torch_version = j["torch"].get<std::string>();
  }
  std::filesystem::remove_all(dir);
  double ratio = best_lmlab / best_torch;
  if (json) {
    std::printf("%s\n", nlohmann::json{{"benchmark", "ood_train_mlp"}, {"threads", threads}, {"epochs", epochs},
                                       {"train_images", train.size()}, {"repeats", repeats},
                                       {"lmlab_images_per_second", best_lmlab}, {"torch_images_per_second", best_torch},
                                       {"ratio", ratio}, {"lmlab_test_accuracy", acc_lmlab},
                                       {"torch_test_accuracy", acc_torch}, {"torch", torch_version}}
                            .dump()
                            .c_str());
  } else {
    std::printf("MLP 784-128-64-10, CE, AdamW, batch 128, %d epochs on %lld Fashion-MNIST images, %d thread(s), "
                "best of %d\n",
                epochs, static_cast<long long>(train.size()), threads, repeats);
    std::printf("  lmlab (ggml-opt): %9.0f images/s   test accuracy %.4f\n", best_lmlab, acc_lmlab);
    std::printf("  PyTorch %-9s %9.0f images/s   test accuracy %.4f\n", (torch_version + ":").c_str(), best_torch,
                acc_torch);
    std::printf("  ratio lmlab / PyTorch: %.2f\n", ratio);
  }
  return 0;
}
