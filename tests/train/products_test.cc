#include "lmlab/train/internal/products.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace lmlab::train::internal {
namespace {

// Element (i, j) of a rows x cols matrix stored with leading dimension ld.
float& At(std::vector<float>& m, Layout layout, int64_t ld, int64_t i, int64_t j) {
  return layout == Layout::kColMajor ? m[static_cast<size_t>(i + j * ld)] : m[static_cast<size_t>(i * ld + j)];
}

// Sgemm against the textbook triple loop, for every storage combination,
// sizes that are not multiples of Eigen's register blocks, and leading
// dimensions larger than the matrices (sub-matrices of bigger tensors).
TEST(SgemmTest, MatchesTheTripleLoopForEveryLayout) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (Layout la : {Layout::kColMajor, Layout::kRowMajor})
    for (Layout lb : {Layout::kColMajor, Layout::kRowMajor})
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 3}, {50, 33, 129}, {97, 64, 200}}) {
        const int64_t lda = (la == Layout::kColMajor ? m : k) + 3, ldb = (lb == Layout::kColMajor ? k : n) + 1;
        const int64_t ldc = m + 2;
        std::vector<float> a(static_cast<size_t>(lda * (la == Layout::kColMajor ? k : m)));
        std::vector<float> b(static_cast<size_t>(ldb * (lb == Layout::kColMajor ? n : k)));
        for (float& x : a) x = u(rng);
        for (float& x : b) x = u(rng);
        std::vector<float> c(static_cast<size_t>(ldc * n), 42.0f);  // overwritten, not accumulated into
        Sgemm(la, lb, m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = 0;
            for (int64_t p = 0; p < k; ++p) want += static_cast<double>(At(a, la, lda, i, p)) * At(b, lb, ldb, p, j);
            ASSERT_NEAR(c[static_cast<size_t>(i + j * ldc)], want, 1e-4 * (1 + std::abs(want)))
                << "layouts " << int(la) << int(lb) << " size " << m << "x" << n << "x" << k << " at " << i << "," << j;
          }
        EXPECT_EQ(c[static_cast<size_t>(m)], 42.0f) << "wrote past the rows (into the padding)";
      }
}

TEST(SgemmTest, EmptyInnerDimensionGivesZeros) {
  std::vector<float> c(6, 7.0f);
  Sgemm(Layout::kColMajor, Layout::kColMajor, 2, 3, 0, nullptr, 2, nullptr, 1, c.data(), 2);
  for (float x : c) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace lmlab::train::internal
