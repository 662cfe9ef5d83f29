#include "lmlab/probe/ridge.h"

#include <fmt/format.h>

#include "lmlab/core/threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

namespace lmlab::probe {
namespace {

// LAPACK's divide-and-conquer symmetric eigensolver (Fortran ABI; gfortran
// passes the lengths of the character arguments last).
using Dsyevd = void (*)(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len,
                        size_t uplo_len);

// The system's LAPACK (liblapack.so.3, the one Debian's numpy and scipy call),
// used only when an optimised BLAS stands behind it: OpenBLAS's dsyevd is
// blocked and runs its products in BLAS 3 (1024 x 1024: 0.21 s against
// Eigen's 0.90 s on one core, docs/performance.md), while the reference
// LAPACK over the reference BLAS is slower than Eigen. Loaded on first use, so
// that a machine without it loses nothing and OPENBLAS_CORETYPE set by the
// caller before the first fit still counts.
// BLAS 3 from the same library (Fortran ABI), so that the Gram matrix and the
// projection run on OpenBLAS's threads too: with Eigen's OpenMP team and
// OpenBLAS's pool both holding 2 threads on 2 cores, each spun while the
// other worked (the 480 x 2048 fit took 80 ms on 2 threads, 37 ms on one).
using Dsyrk = void (*)(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
                       const double* a, const int* lda, const double* beta, double* c, const int* ldc, size_t uplo_len,
                       size_t trans_len);
using Dgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc, size_t transa_len, size_t transb_len);

struct Lapack {
  Dsyevd dsyevd = nullptr;
  Dsyrk dsyrk = nullptr;
  Dgemm dgemm = nullptr;
  void (*set_threads)(int) = nullptr;  // openblas_set_num_threads
  std::string name = "Eigen (SelfAdjointEigenSolver)";
};

const Lapack& SystemLapack() {
  static Lapack lapack;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("liblapack.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    using CharFn = char* (*)();
    auto config = reinterpret_cast<CharFn>(dlsym(lib, "openblas_get_config"));
    auto core = reinterpret_cast<CharFn>(dlsym(lib, "openblas_get_corename"));
    auto dsyevd = reinterpret_cast<Dsyevd>(dlsym(lib, "dsyevd_"));
    if (!config || !core || !dsyevd) {  // the reference LAPACK: Eigen is faster
      dlclose(lib);
      return;
    }
    lapack.dsyevd = dsyevd;
    lapack.dsyrk = reinterpret_cast<Dsyrk>(dlsym(lib, "dsyrk_"));
    lapack.dgemm = reinterpret_cast<Dgemm>(dlsym(lib, "dgemm_"));
    lapack.set_threads = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"));
    lapack.name = fmt::format("LAPACK dsyevd ({}, {})", config(), core());
  });
  return lapack;
}

// gram [m, m], lower triangle filled -> ascending eigenvalues and the
// eigenvectors as columns. False when the solver did not converge.
bool SymmetricEigen(Eigen::MatrixXd gram, Eigen::VectorXd* values, Eigen::MatrixXd* vectors) {
  const Lapack& lapack = SystemLapack();
  const int m = static_cast<int>(gram.rows());
  if (lapack.dsyevd && m > 1) {
    values->resize(m);
    int lwork = -1, liwork = -1, info = 0, iwork_size = 0;
    double work_size = 0;
    lapack.dsyevd("V", "L", &m, gram.data(), &m, values->data(), &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
    if (info == 0) {
      lwork = static_cast<int>(work_size);
      liwork = iwork_size;
      std::vector<double> work(static_cast<size_t>(std::max(lwork, 1)));
      std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
      lapack.dsyevd("V", "L", &m, gram.data(), &m, values->data(), work.data(), &lwork, iwork.data(), &liwork, &info,
                    1, 1);
      if (info == 0) {
        *vectors = std::move(gram);
        return true;
      }
    }
    return false;
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
  if (eig.info() != Eigen::Success) return false;
  *values = eig.eigenvalues();
  *vectors = eig.eigenvectors();
  return true;
}

// Lower triangle of xc^T xc [d, d] (GramOf::kColumns) or xc xc^T [n, n] (kRows).
enum class GramOf { kColumns, kRows };
Eigen::MatrixXd Gram(const Eigen::MatrixXd& xc, GramOf of) {
  const Lapack& blas = SystemLapack();
  const int rows = static_cast<int>(xc.rows()), cols = static_cast<int>(xc.cols());
  const int m = of == GramOf::kColumns ? cols : rows;
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(m, m);
  if (blas.dsyrk) {
    const int k = of == GramOf::kColumns ? rows : cols;
    const double one = 1.0, zero = 0.0;
    blas.dsyrk("L", of == GramOf::kColumns ? "T" : "N", &m, &k, &one, xc.data(), &rows, &zero, gram.data(), &m, 1, 1);
  } else if (of == GramOf::kColumns) {
    gram.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
  } else {
    gram.selfadjointView<Eigen::Lower>().rankUpdate(xc);
  }
  return gram;
}

// a [m, k] * b [k, n].
Eigen::MatrixXd Product(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Lapack& blas = SystemLapack();
  if (!blas.dgemm) return a * b;
  Eigen::MatrixXd c(a.rows(), b.cols());
  const int m = static_cast<int>(a.rows()), n = static_cast<int>(b.cols()), k = static_cast<int>(a.cols());
  const double one = 1.0, zero = 0.0;
  blas.dgemm("N", "N", &m, &n, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m, 1, 1);
  return c;
}

}  // namespace

std::string RidgeEigenSolver() { return SystemLapack().name; }

std::vector<double> LogSpace(double start, double stop, int count) {
  std::vector<double> out;
  if (count == 1) return {std::pow(10.0, start)};
  for (int i = 0; i < count; ++i) out.push_back(std::pow(10.0, start + (stop - start) * i / (count - 1)));
  return out;
}

Eigen::MatrixXd RidgeProbe::Predict(const Eigen::MatrixXd& x) const {
  Eigen::MatrixXd y = x * coef;
  y.rowwise() += intercept;
  return y;
}

Result<RidgeProbe> FitRidge(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const RidgeOptions& options) {
  const Eigen::Index n = x.rows(), d = x.cols(), k = y.cols();
  if (n < 3) return InvalidArgument(fmt::format("a ridge probe needs at least 3 examples (got {})", n));
  if (d == 0 || k == 0) return InvalidArgument("a ridge probe needs at least one feature and one target");
  if (y.rows() != n) return InvalidArgument(fmt::format("ridge: {} rows of activations but {} targets", n, y.rows()));
  if (!x.allFinite()) return InvalidArgument("ridge: activations contain NaN or infinity");
  if (!y.allFinite()) return InvalidArgument("ridge: targets contain NaN or infinity");
  if (options.alphas.empty()) return InvalidArgument("ridge: the penalty grid is empty");
  for (double a : options.alphas)
    if (!(a > 0) || !std::isfinite(a)) return InvalidArgument(fmt::format("ridge: penalty {} must be positive", a));

  const int threads = ResolveThreads(options.threads);
  // One pool at a time: with OpenBLAS behind LAPACK the big products run on
  // its threads and Eigen's remaining work (small products over the penalty
  // grid) on one, so the two pools never spin against each other.
  const Lapack& lapack = SystemLapack();
  Eigen::setNbThreads(lapack.dsyrk && lapack.dgemm ? 1 : threads);
  if (lapack.set_threads) lapack.set_threads(threads);

  const Eigen::RowVectorXd x_mean = x.colwise().mean();
  const Eigen::RowVectorXd y_mean = y.colwise().mean();
  Eigen::MatrixXd xc = x.rowwise() - x_mean;
  Eigen::MatrixXd yc = y.rowwise() - y_mean;
  Eigen::RowVectorXd y_scale = Eigen::RowVectorXd::Ones(k);
  if (options.standardize == StandardizeTargets::kYes) {
    for (Eigen::Index t = 0; t < k; ++t) {
      double sd = std::sqrt(yc.col(t).squaredNorm() / static_cast<double>(n));
      y_scale(t) = sd > 0 ? sd : 1.0;
    }
    yc = yc.array().rowwise() / y_scale.array();
  }

  // Primal (n > d): C = Xc^T Xc = V diag(lam) V^T, P = Xc V; then for penalty a
  //   fitted = P diag(1/(lam+a)) P^T Yc,  H_ii = 1/n + sum_j P_ij^2 / (lam_j + a).
  // Dual (n <= d): K = Xc Xc^T = Q diag(lam) Q^T; then
  //   fitted = Q diag(lam/(lam+a)) Q^T Yc, H_ii = 1/n + sum_j Q_ij^2 lam_j / (lam_j + a).
  const bool primal = n > d;
  Eigen::MatrixXd basis;  // primal: P [n, d]; dual: Q [n, n]
  Eigen::MatrixXd vecs;   // primal: V [d, d]
  Eigen::VectorXd lam;
  {
    Eigen::MatrixXd eigenvectors;
    if (!SymmetricEigen(Gram(xc, primal ? GramOf::kColumns : GramOf::kRows), &lam, &eigenvectors))
      return Internal("ridge: the eigendecomposition did not converge");
    lam = lam.cwiseMax(0.0);
    if (primal) {
      vecs = std::move(eigenvectors);
      basis = Product(xc, vecs);
    } else {
      basis = std::move(eigenvectors);
    }
  }
  const Eigen::MatrixXd basis_sq = basis.array().square();
  const Eigen::MatrixXd proj = basis.transpose() * yc;  // [r, k]
  const double inv_n = 1.0 / static_cast<double>(n);

  auto shrinkage = [&](double a) -> Eigen::VectorXd {
    if (primal) return (lam.array() + a).inverse().matrix();
    return (lam.array() / (lam.array() + a)).matrix();
  };
  // LOO mean squared error (standardised units) for one penalty; `resid`
  // receives the LOO residuals.
  auto loo = [&](double a, Eigen::MatrixXd* resid) {
    const Eigen::VectorXd shrink = shrinkage(a);
    Eigen::VectorXd h = (basis_sq * shrink).array() + inv_n;
    Eigen::MatrixXd fitted = basis * (shrink.asDiagonal() * proj);
    *resid = (yc - fitted).array().colwise() / (1.0 - h.array());
    return resid->squaredNorm() / static_cast<double>(n * k);
  };
  // The same for every penalty of a grid at once: two matrix products that
  // read basis_sq and basis once, instead of two matrix-vector passes over
  // them per penalty (those passes were a quarter of a 3200 x 256 fit).
  auto loo_grid = [&](const std::vector<double>& alphas) {
    const Eigen::Index g = static_cast<Eigen::Index>(alphas.size()), r = lam.size();
    Eigen::MatrixXd shrink(r, g);           // [r, g]
    Eigen::MatrixXd shrunk_proj(r, g * k);  // [r, g*k]: penalty i in columns i*k .. i*k+k-1
    for (Eigen::Index i = 0; i < g; ++i) {
      shrink.col(i) = shrinkage(alphas[static_cast<size_t>(i)]);
      shrunk_proj.middleCols(i * k, k) = shrink.col(i).asDiagonal() * proj;
    }
    const Eigen::MatrixXd h = (basis_sq * shrink).array() + inv_n;  // [n, g]
    const Eigen::MatrixXd fitted = basis * shrunk_proj;             // [n, g*k]
    std::vector<double> out(alphas.size());
    for (Eigen::Index i = 0; i < g; ++i) {
      const Eigen::MatrixXd resid = (yc - fitted.middleCols(i * k, k)).array().colwise() / (1.0 - h.col(i).array());
      out[static_cast<size_t>(i)] = resid.squaredNorm() / static_cast<double>(n * k);
    }
    return out;
  };

  std::vector<double> grid = options.alphas;
  std::sort(grid.begin(), grid.end());
  std::vector<double> mse = loo_grid(grid);
  Eigen::MatrixXd resid;
  if (options.edge == GridEdge::kExtend && grid.size() >= 2) {
    constexpr int kMaxExtension = 12;
    const double step_low = grid[1] / grid[0], step_high = grid.back() / grid[grid.size() - 2];
    for (int e = 0; e < kMaxExtension; ++e) {
      size_t best = static_cast<size_t>(std::min_element(mse.begin(), mse.end()) - mse.begin());
      if (best == 0 && step_low > 1) {
        grid.insert(grid.begin(), grid.front() / step_low);
        mse.insert(mse.begin(), loo(grid.front(), &resid));
      } else if (best + 1 == grid.size() && step_high > 1) {
        grid.push_back(grid.back() * step_high);
        mse.push_back(loo(grid.back(), &resid));
      } else {
        break;
      }
    }
  }
  RidgeProbe probe;
  probe.alphas = grid;
  probe.loo_mse = mse;
  probe.alpha_index = static_cast<int>(std::min_element(mse.begin(), mse.end()) - mse.begin());
  probe.alpha = grid[probe.alpha_index];
  Eigen::MatrixXd best_resid;
  loo(probe.alpha, &best_resid);
  const double a = probe.alpha;
  Eigen::MatrixXd coef_std;
  if (primal) {
    coef_std = vecs * ((lam.array() + a).inverse().matrix().asDiagonal() * proj);
  } else {
    coef_std = xc.transpose() * (basis * ((lam.array() + a).inverse().matrix().asDiagonal() * proj));
  }
  probe.coef = coef_std * y_scale.asDiagonal();
  probe.intercept = y_mean - x_mean * probe.coef;
  probe.loo_predictions = y - best_resid * y_scale.asDiagonal();
  return probe;
}

}  // namespace lmlab::probe
