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

// The system's LAPACK and BLAS (liblapack.so.3, the one Debian's numpy and
// scipy call; Fortran ABI, gfortran passes the lengths of the character
// arguments last), used only when OpenBLAS stands behind it: its blocked
// reduction beats Eigen's unblocked one, while the reference LAPACK over the
// reference BLAS is slower than Eigen. Loaded on first use, so that a machine
// without it loses nothing and OPENBLAS_CORETYPE set by the caller before the
// first fit still counts. The Gram matrix and the products run on OpenBLAS's
// threads too: with Eigen's OpenMP team and OpenBLAS's pool both holding 2
// threads on 2 cores, each spun while the other worked (a 480 x 2048 fit took
// 80 ms on 2 threads, 37 ms on one).
using Dsyrk = void (*)(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
                       const double* a, const int* lda, const double* beta, double* c, const int* ldc, size_t uplo_len,
                       size_t trans_len);
using Dgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc, size_t transa_len, size_t transb_len);
// Householder reduction to tridiagonal form, and the orthogonal matrix of it.
using Dsytrd = void (*)(const char* uplo, const int* n, double* a, const int* lda, double* d, double* e, double* tau,
                        double* work, const int* lwork, int* info, size_t uplo_len);
using Dorgtr = void (*)(const char* uplo, const int* n, double* a, const int* lda, const double* tau, double* work,
                        const int* lwork, int* info, size_t uplo_len);

struct Lapack {
  Dsytrd dsytrd = nullptr;
  Dorgtr dorgtr = nullptr;
  Dsyrk dsyrk = nullptr;
  Dgemm dgemm = nullptr;
  void (*set_threads)(int) = nullptr;  // openblas_set_num_threads
  std::string name = "Eigen (Tridiagonalization)";
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
    auto dsytrd = reinterpret_cast<Dsytrd>(dlsym(lib, "dsytrd_"));
    auto dorgtr = reinterpret_cast<Dorgtr>(dlsym(lib, "dorgtr_"));
    auto dsyrk = reinterpret_cast<Dsyrk>(dlsym(lib, "dsyrk_"));
    auto dgemm = reinterpret_cast<Dgemm>(dlsym(lib, "dgemm_"));
    if (!config || !core || !dsytrd || !dorgtr || !dsyrk || !dgemm) {  // the reference LAPACK: Eigen is faster
      dlclose(lib);
      return;
    }
    lapack = {dsytrd, dorgtr, dsyrk, dgemm,
              reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads")),
              fmt::format("LAPACK dsytrd + dorgtr ({}, {})", config(), core())};
  });
  return lapack;
}

// gram = Q T Q^T with T symmetric tridiagonal: Q [m, m], diag [m], sub [m-1].
struct Tridiagonal {
  Eigen::MatrixXd q;
  Eigen::VectorXd diag, sub;
};

// gram [m, m] with its lower triangle filled. False when LAPACK reports an error.
bool Tridiagonalize(const Lapack& lapack, Eigen::MatrixXd gram, Tridiagonal* out) {
  const int m = static_cast<int>(gram.rows());
  if (lapack.dsytrd && m > 1) {
    out->diag.resize(m);
    out->sub.resize(m - 1);
    std::vector<double> tau(static_cast<size_t>(m - 1));
    int lwork = -1, info = 0;
    double size_trd = 0, size_org = 0;
    lapack.dsytrd("L", &m, gram.data(), &m, out->diag.data(), out->sub.data(), tau.data(), &size_trd, &lwork, &info, 1);
    if (info != 0) return false;
    lapack.dorgtr("L", &m, gram.data(), &m, tau.data(), &size_org, &lwork, &info, 1);
    if (info != 0) return false;
    lwork = static_cast<int>(std::max(size_trd, size_org));
    std::vector<double> work(static_cast<size_t>(std::max(lwork, 1)));
    lapack.dsytrd("L", &m, gram.data(), &m, out->diag.data(), out->sub.data(), tau.data(), work.data(), &lwork, &info,
                  1);
    if (info != 0) return false;
    lapack.dorgtr("L", &m, gram.data(), &m, tau.data(), work.data(), &lwork, &info, 1);
    if (info != 0) return false;
    out->q = std::move(gram);
    return true;
  }
  gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
  Eigen::Tridiagonalization<Eigen::MatrixXd> tri(gram);
  out->q = tri.matrixQ();
  out->diag = tri.diagonal();
  out->sub = tri.subDiagonal();
  return true;
}

// T + a I = L D L^T for a tridiagonal T that is positive semi-definite in
// exact arithmetic: l [m] (l[0] unused), inv_d [m] = 1 / D. Every pivot of a
// positive definite matrix is at least its smallest eigenvalue (a pivot is
// 1 / (M_1..j^-1)_jj, and eigenvalues interlace), so pivots are clamped to a:
// exact in exact arithmetic, and safe against rounding that makes T slightly
// indefinite.
struct Ldl {
  Eigen::VectorXd l, inv_d;
};
Ldl Factor(const Tridiagonal& t, double a) {
  const Eigen::Index m = t.diag.size();
  Ldl f{Eigen::VectorXd::Zero(m), Eigen::VectorXd(m)};
  double pivot = std::max(t.diag(0) + a, a);
  f.inv_d(0) = 1.0 / pivot;
  for (Eigen::Index j = 1; j < m; ++j) {
    f.l(j) = t.sub(j - 1) / pivot;
    pivot = std::max(t.diag(j) + a - f.l(j) * t.sub(j - 1), a);
    f.inv_d(j) = 1.0 / pivot;
  }
  return f;
}

// (T + aI) x = b, column by column: b [m, k] -> x [m, k].
Eigen::MatrixXd Solve(const Ldl& f, const Eigen::MatrixXd& b) {
  const Eigen::Index m = b.rows();
  Eigen::MatrixXd x = b;
  for (Eigen::Index j = 1; j < m; ++j) x.row(j) -= f.l(j) * x.row(j - 1);
  x.row(m - 1) *= f.inv_d(m - 1);
  for (Eigen::Index j = m - 2; j >= 0; --j) x.row(j) = x.row(j) * f.inv_d(j) - f.l(j + 1) * x.row(j + 1);
  return x;
}

// out(i, g) = b_i^T (T + a_g I)^-1 b_i for every row b_i of `basis` [n, m] and
// every factor: with u = L^-1 b_i, the form is sum_j u_j^2 / D_j, one forward
// sweep over the columns per factor. Rows go in blocks that stay in cache
// while every factor sweeps them; within a block the sweep is a vector
// operation over its rows (column-major: a column's rows are contiguous).
Eigen::MatrixXd QuadraticForms(const Eigen::MatrixXd& basis, const std::vector<Ldl>& factors) {
  const Eigen::Index n = basis.rows(), m = basis.cols();
  Eigen::MatrixXd out(n, static_cast<Eigen::Index>(factors.size()));
  constexpr Eigen::Index kBlock = 64;
  for (Eigen::Index r0 = 0; r0 < n; r0 += kBlock) {
    const Eigen::Index rows = std::min(kBlock, n - r0);
    for (size_t g = 0; g < factors.size(); ++g) {
      const Ldl& f = factors[g];
      double u[kBlock], acc[kBlock];
      const double* col = basis.data() + r0;
      for (Eigen::Index i = 0; i < rows; ++i) {
        u[i] = col[i];
        acc[i] = u[i] * u[i] * f.inv_d(0);
      }
      for (Eigen::Index j = 1; j < m; ++j) {
        col = basis.data() + j * n + r0;
        const double l = f.l(j), inv_d = f.inv_d(j);
        for (Eigen::Index i = 0; i < rows; ++i) {
          u[i] = col[i] - l * u[i];
          acc[i] += u[i] * u[i] * inv_d;
        }
      }
      for (Eigen::Index i = 0; i < rows; ++i) out(r0 + i, static_cast<Eigen::Index>(g)) = acc[i];
    }
  }
  return out;
}

// Lower triangle of xc^T xc [d, d] (GramOf::kColumns) or xc xc^T [n, n] (kRows).
enum class GramOf { kColumns, kRows };
Eigen::MatrixXd Gram(const Lapack& blas, const Eigen::MatrixXd& xc, GramOf of) {
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

// Which side to reduce, by cost in GEMM flops. Primal: the d x d Gram matrix
// (n d^2), its reduction, Q, and the basis Xc Q (2 n d^2); dual: the n x n
// Gram matrix (n^2 d) and its reduction and Q. LAPACK's tridiagonal reduction
// runs at about a seventh of the GEMM rate (half of it is matrix-vector
// products: 1024 x 1024 in 63 ms against 15 ms for a 1024^3 GEMM here,
// docs/performance.md), so near n = d the dual side wins although it is the
// larger one.
bool PrimalIsCheaper(Eigen::Index n, Eigen::Index d) {
  constexpr double kReductionWeight = 7.0;
  const double reduce = kReductionWeight * 4.0 / 3.0 + 4.0 / 3.0;  // dsytrd + dorgtr, per m^3
  const double nn = static_cast<double>(n), dd = static_cast<double>(d);
  const double primal = 3.0 * nn * dd * dd + reduce * dd * dd * dd;
  const double dual = nn * nn * dd + reduce * nn * nn * nn;
  return primal < dual;
}

// Xc^T w = X^T w - x_mean^T (1^T w) for w [n, k], without forming Xc.
Eigen::MatrixXd DualCoef(const Eigen::MatrixXd& x, const Eigen::RowVectorXd& x_mean, const Eigen::MatrixXd& w) {
  Eigen::MatrixXd out = x.transpose() * w;
  out -= x_mean.transpose() * w.colwise().sum();
  return out;
}

// a [m, k] * b [k, n].
Eigen::MatrixXd Product(const Lapack& blas, const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (!blas.dgemm) return a * b;
  Eigen::MatrixXd c(a.rows(), b.cols());
  const int m = static_cast<int>(a.rows()), n = static_cast<int>(b.cols()), k = static_cast<int>(a.cols());
  const double one = 1.0, zero = 0.0;
  blas.dgemm("N", "N", &m, &n, &k, &one, a.data(), &m, b.data(), &k, &zero, c.data(), &m, 1, 1);
  return c;
}

}  // namespace

std::string RidgeLinearAlgebraName() { return SystemLapack().name; }

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
  static const Lapack kEigenOnly;
  const Lapack& lapack = options.linear_algebra == RidgeLinearAlgebra::kEigen ? kEigenOnly : SystemLapack();
  Eigen::setNbThreads(lapack.dsyrk && lapack.dgemm ? 1 : threads);
  if (lapack.set_threads) lapack.set_threads(threads);

  const double inv_n = 1.0 / static_cast<double>(n);
  const Eigen::RowVectorXd x_mean = x.colwise().mean();
  const Eigen::RowVectorXd y_mean = y.colwise().mean();
  const bool primal = PrimalIsCheaper(n, d);
  // The dual path never forms Xc: it centres the n x n Gram matrix instead
  // (a copy of a wide X is a tenth of a dual fit).
  Eigen::MatrixXd xc;
  if (primal) xc = x.rowwise() - x_mean;
  Eigen::MatrixXd yc = y.rowwise() - y_mean;
  Eigen::RowVectorXd y_scale = Eigen::RowVectorXd::Ones(k);
  if (options.standardize == StandardizeTargets::kYes) {
    for (Eigen::Index t = 0; t < k; ++t) {
      double sd = std::sqrt(yc.col(t).squaredNorm() / static_cast<double>(n));
      y_scale(t) = sd > 0 ? sd : 1.0;
    }
    yc = yc.array().rowwise() / y_scale.array();
  }

  // One tridiagonal reduction of the smaller Gram matrix, G = Q T Q^T, serves
  // every penalty a (M = T + aI, factored in O(m) per penalty):
  // Primal (PrimalIsCheaper): G = Xc^T Xc [d, d], basis B = Xc Q [n, d]; then
  //   H_ii = 1/n + b_i^T M^-1 b_i,   fitted = B M^-1 B^T Yc,   coef = Q M^-1 B^T Yc.
  // Dual (otherwise): G = Xc Xc^T [n, n], basis B = Q; with Xc (Xc^T Xc + aI)^-1 Xc^T
  //   = I - a (G + aI)^-1:
  //   H_ii = 1/n + 1 - a b_i^T M^-1 b_i,   fitted = Yc - a B M^-1 B^T Yc,
  //   coef = Xc^T B M^-1 B^T Yc.
  // Only a tridiagonal reduction, not a full eigendecomposition: the reduction
  // is half of LAPACK's dsyevd, and the rest of the work per penalty is one
  // forward sweep over B (docs/performance.md, "Ridge").
  Tridiagonal tri;
  Eigen::MatrixXd gram;
  if (primal) {
    gram = Gram(lapack, xc, GramOf::kColumns);
  } else {
    // Xc Xc^T = (I - 11^T/n) X X^T (I - 11^T/n), lower triangle only.
    gram = Gram(lapack, x, GramOf::kRows);
    const Eigen::VectorXd row_mean = gram.selfadjointView<Eigen::Lower>() * Eigen::VectorXd::Constant(n, inv_n);
    const double mean = row_mean.mean();
    for (Eigen::Index j = 0; j < n; ++j)
      gram.col(j).tail(n - j).array() += mean - row_mean(j) - row_mean.tail(n - j).array();
  }
  if (!Tridiagonalize(lapack, std::move(gram), &tri))
    return Internal("ridge: LAPACK's tridiagonal reduction failed");
  const Eigen::MatrixXd basis = primal ? Product(lapack, xc, tri.q) : std::move(tri.q);  // [n, m]
  const Eigen::MatrixXd proj = basis.transpose() * yc;  // B^T Yc [m, k]

  // LOO mean squared error (standardised units) of each penalty, and its LOO
  // residuals [n, k] (kept, so the chosen penalty's need no second pass).
  struct Loo {
    double mse = 0;
    Eigen::MatrixXd resid;
  };
  auto loo_grid = [&](const std::vector<double>& alphas) {
    const Eigen::Index g = static_cast<Eigen::Index>(alphas.size());
    std::vector<Ldl> factors;
    Eigen::MatrixXd solved(proj.rows(), g * k);  // penalty i in columns i*k .. i*k+k-1: M^-1 B^T Yc
    for (Eigen::Index i = 0; i < g; ++i) {
      factors.push_back(Factor(tri, alphas[static_cast<size_t>(i)]));
      solved.middleCols(i * k, k) = Solve(factors.back(), proj);
    }
    const Eigen::MatrixXd forms = QuadraticForms(basis, factors);  // [n, g]
    const Eigen::MatrixXd through = Product(lapack, basis, solved);  // [n, g*k]
    std::vector<Loo> out(alphas.size());
    for (Eigen::Index i = 0; i < g; ++i) {
      const double a = alphas[static_cast<size_t>(i)];
      Eigen::VectorXd h;
      Eigen::MatrixXd fitted;
      if (primal) {
        h = forms.col(i).array() + inv_n;
        fitted = through.middleCols(i * k, k);
      } else {
        h = (1.0 + inv_n) - a * forms.col(i).array();
        fitted = yc - a * through.middleCols(i * k, k);
      }
      Loo& l = out[static_cast<size_t>(i)];
      l.resid = (yc - fitted).array().colwise() / (1.0 - h.array());
      l.mse = l.resid.squaredNorm() / static_cast<double>(n * k);
    }
    return out;
  };
  auto loo = [&](double a) { return std::move(loo_grid({a})[0]); };

  std::vector<double> grid = options.alphas;
  std::sort(grid.begin(), grid.end());
  std::vector<Loo> fits = loo_grid(grid);
  auto best_index = [&] {
    return static_cast<size_t>(
        std::min_element(fits.begin(), fits.end(), [](const Loo& a, const Loo& b) { return a.mse < b.mse; }) -
        fits.begin());
  };
  if (options.edge == GridEdge::kExtend && grid.size() >= 2) {
    constexpr int kMaxExtension = 12;
    const double step_low = grid[1] / grid[0], step_high = grid.back() / grid[grid.size() - 2];
    for (int e = 0; e < kMaxExtension; ++e) {
      const size_t best = best_index();
      if (best == 0 && step_low > 1) {
        grid.insert(grid.begin(), grid.front() / step_low);
        fits.insert(fits.begin(), loo(grid.front()));
      } else if (best + 1 == grid.size() && step_high > 1) {
        grid.push_back(grid.back() * step_high);
        fits.push_back(loo(grid.back()));
      } else {
        break;
      }
    }
  }
  RidgeProbe probe;
  probe.alphas = grid;
  for (const Loo& l : fits) probe.loo_mse.push_back(l.mse);
  probe.alpha_index = static_cast<int>(best_index());
  probe.alpha = grid[probe.alpha_index];
  const Eigen::MatrixXd& best_resid = fits[static_cast<size_t>(probe.alpha_index)].resid;
  const Eigen::MatrixXd solved = Solve(Factor(tri, probe.alpha), proj);  // M^-1 B^T Yc [m, k]
  const Eigen::MatrixXd coef_std = primal ? Eigen::MatrixXd(tri.q * solved) : DualCoef(x, x_mean, basis * solved);
  probe.coef = coef_std * y_scale.asDiagonal();
  probe.intercept = y_mean - x_mean * probe.coef;
  probe.loo_predictions = y - best_resid * y_scale.asDiagonal();
  return probe;
}

}  // namespace lmlab::probe
