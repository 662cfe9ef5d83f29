// The matrix products of lmlab's ggml graphs on Eigen's blocked GEMM.
// Internal to src/train/ (under include/ only so its tests can reach it).
//
// ggml differentiates every forward MUL_MAT into two OUT_PRODs, and its CPU
// OUT_PROD is a loop of axpy calls over unpacked memory (about 12-25 GFLOP/s
// on one core where a packed GEMM does 100-150; it took half of a training
// profile). Forward MUL_MATs with a permuted operand (attention) fall back
// to one dot product per output. UseEigenProducts rewrites every F32
// MUL_MAT and OUT_PROD node of a finished graph (forward, backward and
// optimizer built) into a ggml custom op that computes the same product with
// Eigen's packed GEMM kernel, transposes folded into the packing instead of
// copied. The graph keeps its nodes and shapes; only how two products are
// computed changes (results differ from ggml's in summation order only).
//
//   ggml_build_backward_expand(ctx, gb, grad_accs);
//   ... optimizer nodes ...
//   internal::UseEigenProducts(gb);  // before allocating or computing gb
#pragma once

#include <cstdint>

struct ggml_cgraph;

namespace lmlab::train::internal {

// How a matrix is stored: column i of a col-major m x n matrix is contiguous.
enum class Layout { kColMajor, kRowMajor };

// c[m x n] (col-major, leading dimension ldc) = a[m x k] * b[k x n], with a and
// b stored either way (leading dimension lda, ldb); c is overwritten. One
// thread (Eigen's sequential GEMM path): callers split the columns of c.
void Sgemm(Layout a_layout, Layout b_layout, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc);

// Rewrites the graph's F32 MUL_MAT and OUT_PROD nodes (operands whose 2-D
// slices have a unit stride in one dimension) as custom ops on Sgemm, split
// across ggml's threads. Returns how many nodes it rewrote.
int UseEigenProducts(ggml_cgraph* graph);

}  // namespace lmlab::train::internal
