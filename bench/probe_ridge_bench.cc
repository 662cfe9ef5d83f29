// Ridge probes with closed-form leave-one-out (lmlab::probe::FitRidge)
// against scikit-learn's RidgeCV on the same matrices, in the same run: the
// chosen penalty must agree, test R^2 within 1e-6, and the goal is >= 3x
// faster. Matrices are activation-like (low-rank plus noise), float32 on disk
// as .npy, float64 in both fits; targets are z-scored latitude/longitude-like
// pairs. The paper's grid: logspace(0.8, 4.1, 12).
//
//   scripts/dev-build.sh probe_ridge_bench
//   build/bench/probe_ridge_bench            # sizes n x d: 4000x256, 2000x1024, 600x2048
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "lmlab/core/table.h"
#include "lmlab/core/threads.h"
#include "lmlab/probe/activation_cache.h"
#include "lmlab/probe/metrics.h"
#include "lmlab/probe/ridge.h"

namespace {

using namespace lmlab;
using namespace lmlab::probe;
namespace fs = std::filesystem;

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Case {
  int n, d;
};

RowMat ActivationLike(int n, int d, std::mt19937& rng, RowMat* y) {
  std::normal_distribution<float> g;
  int rank = std::max(4, d / 8);
  RowMat z(n, rank), a(rank, d), x(n, d);
  for (int i = 0; i < z.size(); ++i) z.data()[i] = g(rng);
  for (int i = 0; i < a.size(); ++i) a.data()[i] = g(rng) / std::sqrt(static_cast<float>(rank));
  x = z * a;
  for (int i = 0; i < x.size(); ++i) x.data()[i] += 0.5f * g(rng);
  RowMat w(d, 2);
  for (int i = 0; i < w.size(); ++i) w.data()[i] = g(rng) * 0.05f;
  *y = x * w;
  for (int i = 0; i < y->size(); ++i) y->data()[i] += 1.0f * g(rng);
  return x;
}

std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t r = fread(buf, 1, sizeof buf, p)) out.append(buf, r);
  pclose(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  lmlab::ApplyThreadWaitPolicy(argv);  // the thread policy lmlab runs with (core/threads.h)
  CLI::App app{"FitRidge (closed-form LOO) vs scikit-learn RidgeCV on the same matrices"};
  int reps = 3;
  bool json = false;
  std::string python = "/usr/bin/python3";
  app.add_option("--reps", reps, "Repetitions per side (best counts)")->capture_default_str();
  app.add_option("--python", python, "Python with scikit-learn (Debian python3-sklearn)")->capture_default_str();
  int threads = 2;
  app.add_option("--threads", threads, "Threads for both sides (lmlab's Eigen and OpenBLAS; scikit-learn's OpenBLAS)")
      ->capture_default_str();
  app.add_flag("--json", json, "Print JSON");
  CLI11_PARSE(app, argc, argv);

  const fs::path source = LMLAB_BENCH_DIR;  // bench/ in the source tree
  // Both sides on the same OpenBLAS kernels: where the system's OpenBLAS does
  // not know this CPU, the reference picks OPENBLAS_CORETYPE
  // (blas_info.choose_openblas_coretype); the same choice is made here before
  // FitRidge loads the LAPACK, and the reference process inherits it.
  if (!std::getenv("OPENBLAS_CORETYPE")) {
    const std::string core =
        Run(fmt::format("{} -c \"import sys; sys.path.insert(0, '{}'); import blas_info; "
                        "print(blas_info.choose_openblas_coretype() or '')\" 2>/dev/null",
                        python, (source / "reference").string()));
    const std::string trimmed = core.substr(0, core.find_first_of("\r\n"));
    if (!trimmed.empty()) setenv("OPENBLAS_CORETYPE", trimmed.c_str(), 1);
  }
  // The reference's OpenBLAS pool (and any OpenMP) gets the same thread count.
  setenv("OPENBLAS_NUM_THREADS", std::to_string(threads).c_str(), 1);
  setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
  const std::string lmlab_solver = RidgeLinearAlgebraName();
  std::string sklearn_blas;
  const std::vector<double> alphas = LogSpace(0.8, 4.1, 12);
  std::string alpha_args;
  for (double a : alphas) alpha_args += fmt::format(" {:.17g}", a);
  std::vector<Case> cases = {{4000, 256}, {2000, 1024}, {600, 2048}};
  std::mt19937 rng(42);
  nlohmann::json results = nlohmann::json::array();
  Table t({"n x d", "path", "lmlab s", "sklearn s", "speed-up", "alpha lmlab", "alpha sklearn", "|dR2|"},
          std::vector<Align>(8, Align::kRight));
  bool all_ok = true;
  for (const Case& c : cases) {
    RowMat y;
    RowMat x = ActivationLike(c.n, c.d, rng, &y);
    int n_train = c.n * 4 / 5;
    // z-score targets with the training rows' statistics, then store float32.
    Eigen::RowVector2f mean = y.topRows(n_train).colwise().mean();
    Eigen::RowVector2f sd = ((y.topRows(n_train).rowwise() - mean).array().square().colwise().mean()).sqrt();
    y = ((y.rowwise() - mean).array().rowwise() / sd.array()).matrix();
    RowMat xtr = x.topRows(n_train), xte = x.bottomRows(c.n - n_train);
    RowMat ytr = y.topRows(n_train), yte = y.bottomRows(c.n - n_train);
    fs::path dir = fs::temp_directory_path() / fmt::format("lmlab-ridge-bench-{}x{}", c.n, c.d);
    for (auto [name, m] : {std::pair<const char*, RowMat*>{"x_train", &xtr}, {"y_train", &ytr}, {"x_test", &xte}, {"y_test", &yte}})
      if (auto s = WriteNpy(dir / (std::string(name) + ".npy"), m->data(), {m->rows(), m->cols()}, StoreDtype::kFloat32); !s) {
        std::cerr << s.error().ToString() << "\n";
        return 1;
      }

    Eigen::MatrixXd xd = xtr.cast<double>(), yd = ytr.cast<double>(), xt = xte.cast<double>(), yt = yte.cast<double>();
    RidgeOptions o;
    o.alphas = alphas;
    o.threads = threads;
    o.standardize = StandardizeTargets::kNo;  // the same objective RidgeCV minimises on these targets
    double ours = 1e300;
    RidgeProbe probe;
    for (int r = 0; r < reps; ++r) {
      auto start = std::chrono::steady_clock::now();
      auto p = FitRidge(xd, yd, o);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!p) {
        std::cerr << p.error().ToString() << "\n";
        return 1;
      }
      ours = std::min(ours, s);
      probe = std::move(*p);
    }
    Eigen::MatrixXd pred = probe.Predict(xt);
    double r2 = 0;
    for (int k = 0; k < 2; ++k) r2 += RSquared(yt.col(k), pred.col(k)) / 2;

    std::string out = Run(fmt::format("{} {} {} {}{}", python, (source / "reference/probe_ridge_sklearn.py").string(),
                                      dir.string(), reps, alpha_args));
    nlohmann::json ref = nlohmann::json::parse(out, nullptr, false);
    fs::remove_all(dir);
    if (ref.is_discarded() || !ref.contains("seconds")) {
      std::cerr << "the scikit-learn reference failed (is python3-sklearn installed?): " << out << "\n";
      return 1;
    }
    double theirs = ref["seconds"].get<double>();
    if (ref.contains("blas")) sklearn_blas = ref["blas"].get<std::string>();
    double dr2 = std::abs(r2 - ref["r2"].get<double>());
    bool same_alpha = std::abs(probe.alpha - ref["alpha"].get<double>()) <= 1e-9 * probe.alpha;
    all_ok = all_ok && same_alpha && dr2 <= 1e-6;
    t.AddRow({fmt::format("{} x {}", n_train, c.d), n_train > c.d ? "primal" : "dual", fmt::format("{:.4f}", ours),
              fmt::format("{:.4f}", theirs), fmt::format("{:.1f}x", theirs / ours), fmt::format("{:.4g}", probe.alpha),
              fmt::format("{:.4g}", ref["alpha"].get<double>()), fmt::format("{:.1e}", dr2)});
    results.push_back({{"n_train", n_train}, {"d", c.d}, {"lmlab_seconds", ours}, {"sklearn_seconds", theirs},
                       {"speedup", theirs / ours}, {"alpha", probe.alpha}, {"sklearn_alpha", ref["alpha"]},
                       {"r2", r2}, {"sklearn_r2", ref["r2"]}, {"abs_r2_diff", dr2}, {"sklearn", ref["sklearn"]}});
  }
  if (json) {
    std::cout << nlohmann::json{{"cases", results}, {"agree", all_ok}, {"lmlab_eigensolver", lmlab_solver},
                                {"sklearn_blas", sklearn_blas}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << fmt::format("ridge with LOO over logspace(0.8, 4.1, 12), 2 targets, {} threads, best of {}\n", threads, reps)
              << fmt::format("lmlab:        {}\nscikit-learn: {}\n", lmlab_solver, sklearn_blas) << t.Render()
              << (all_ok ? "same penalty and R2 within 1e-6 in every case\n" : "DISAGREEMENT: see the table\n");
  }
  return all_ok ? 0 : 1;
}
