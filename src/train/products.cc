#include "lmlab/train/internal/products.h"

#include "ggml.h"

// GCC 12 flags Eigen's AVX-512 packet code with false "may be used uninitialized" warnings.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

namespace lmlab::train::internal {
namespace {

static_assert(EIGEN_WORLD_VERSION == 3 && EIGEN_MAJOR_VERSION == 4,
              "Sgemm calls Eigen 3.4's sequential GEMM kernel (Eigen::internal); check its signature before upgrading");

// Eigen's packed GEMM on one thread: the kernel behind Matrix * Matrix,
// called directly so that neither Eigen's OpenMP split nor a temporary gets
// in the way (ggml's threads split the work; see ForEachPart).
template <int AOrder, int BOrder>
void EigenGemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
               int64_t ldc) {
  using Eigen::Index;
  Eigen::internal::gemm_blocking_space<Eigen::ColMajor, float, float, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>
      blocking(m, n, k, 1, true);
  Eigen::internal::general_matrix_matrix_product<Index, float, AOrder, false, float, BOrder, false, Eigen::ColMajor,
                                                 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, 1.0f, blocking, nullptr);
}

constexpr int Order(Layout l) { return l == Layout::kColMajor ? Eigen::ColMajor : Eigen::RowMajor; }
Layout Flip(Layout l) { return l == Layout::kColMajor ? Layout::kRowMajor : Layout::kColMajor; }

// A 2-D slice [ne0, ne1] of a ggml tensor seen as an ne0 x ne1 matrix: ggml's
// ne0 is the contiguous dimension (col-major), unless the tensor is a
// transposed view (nb1 = one element: row-major).
struct Slice {
  const float* p = nullptr;
  Layout layout = Layout::kColMajor;
  int64_t ld = 0;
};

bool Mappable(const ggml_tensor* t) {
  return t->type == GGML_TYPE_F32 && (t->nb[0] == sizeof(float) || t->nb[1] == sizeof(float)) &&
         t->nb[0] % sizeof(float) == 0 && t->nb[1] % sizeof(float) == 0;
}

Slice At(const ggml_tensor* t, int64_t i2, int64_t i3) {
  const auto* base = reinterpret_cast<const float*>(static_cast<const char*>(t->data) + i2 * t->nb[2] + i3 * t->nb[3]);
  if (t->nb[0] == sizeof(float)) return {base, Layout::kColMajor, static_cast<int64_t>(t->nb[1] / sizeof(float))};
  return {base, Layout::kRowMajor, static_cast<int64_t>(t->nb[0] / sizeof(float))};
}

// Column j of a k x n matrix stored as `s`.
const float* Column(const Slice& s, int64_t j) { return s.layout == Layout::kColMajor ? s.p + j * s.ld : s.p + j; }

float* DstAt(ggml_tensor* dst, int64_t i2, int64_t i3) {
  return reinterpret_cast<float*>(static_cast<char*>(dst->data) + i2 * dst->nb[2] + i3 * dst->nb[3]);
}

// Splits dst's products among the nth threads: whole 2-D slices when there
// are at least as many slices as threads (attention: heads x sequences),
// otherwise column blocks of each slice (weights: one slice). Calls
// part(i2, i3, first column, end column) for the parts of thread ith.
template <class Part>
void ForEachPart(const ggml_tensor* dst, int ith, int nth, Part&& part) {
  const int64_t ne2 = dst->ne[2], n_slices = ne2 * dst->ne[3], cols = dst->ne[1];
  const int64_t per_slice = std::max<int64_t>(1, (nth + n_slices - 1) / n_slices);
  // Blocks of whole 16-column panels keep Eigen's kernel on full registers.
  const int64_t block = std::max<int64_t>(1, ((cols + per_slice - 1) / per_slice + 15) / 16 * 16);
  for (int64_t u = ith; u < n_slices * per_slice; u += nth) {
    const int64_t s = u / per_slice, c0 = (u % per_slice) * block, c1 = std::min(cols, c0 + block);
    if (c0 < c1) part(s % ne2, s / ne2, c0, c1);
  }
}

// dst = src0^T src1 per slice ([k, m] and [k, n] -> [m, n]); src0 broadcasts
// over src1's slices (grouped heads), as in ggml_mul_mat.
void MulMatOp(ggml_tensor* dst, int ith, int nth, void* /*userdata*/) {
  const ggml_tensor *s0 = dst->src[0], *s1 = dst->src[1];
  const int64_t m = dst->ne[0], k = s0->ne[0], ldc = static_cast<int64_t>(dst->nb[1] / sizeof(float));
  const int64_t r2 = s1->ne[2] / s0->ne[2], r3 = s1->ne[3] / s0->ne[3];
  ForEachPart(dst, ith, nth, [&](int64_t i2, int64_t i3, int64_t c0, int64_t c1) {
    const Slice a = At(s0, i2 / r2, i3 / r3), b = At(s1, i2, i3);
    Sgemm(Flip(a.layout), b.layout, m, c1 - c0, k, a.p, a.ld, Column(b, c0), b.ld, DstAt(dst, i2, i3) + c0 * ldc,
          ldc);
  });
}

// dst = src0 src1^T per slice ([m, k] and [n, k] -> [m, n]); src0 broadcasts
// over dst's slices, as in ggml_out_prod (the backward of ggml_mul_mat).
void OutProdOp(ggml_tensor* dst, int ith, int nth, void* /*userdata*/) {
  const ggml_tensor *s0 = dst->src[0], *s1 = dst->src[1];
  const int64_t m = dst->ne[0], k = s0->ne[1], ldc = static_cast<int64_t>(dst->nb[1] / sizeof(float));
  const int64_t r2 = dst->ne[2] / s0->ne[2], r3 = dst->ne[3] / s0->ne[3];
  ForEachPart(dst, ith, nth, [&](int64_t i2, int64_t i3, int64_t c0, int64_t c1) {
    const Slice a = At(s0, i2 / r2, i3 / r3);
    Slice b = At(s1, i2, i3);  // [n, k]; its transpose [k, n] is the right operand
    b.layout = Flip(b.layout);
    Sgemm(a.layout, b.layout, m, c1 - c0, k, a.p, a.ld, Column(b, c0), b.ld, DstAt(dst, i2, i3) + c0 * ldc, ldc);
  });
}

// Turns `node` into a custom op running `fun` on its own sources. The op
// parameters come from a prototype built by ggml's public ggml_custom_4d, so
// their layout stays ggml's business.
void Rewrite(ggml_tensor* node, ggml_custom_op_t fun) {
  static ggml_context* const scratch = ggml_init({ggml_tensor_overhead() * 4, nullptr, /*no_alloc=*/true});
  static ggml_tensor* const mul_mat = ggml_custom_4d(scratch, GGML_TYPE_F32, 1, 1, 1, 1, nullptr, 0, MulMatOp,
                                                     GGML_N_TASKS_MAX, nullptr);
  static ggml_tensor* const out_prod = ggml_custom_4d(scratch, GGML_TYPE_F32, 1, 1, 1, 1, nullptr, 0, OutProdOp,
                                                      GGML_N_TASKS_MAX, nullptr);
  const ggml_tensor* proto = fun == MulMatOp ? mul_mat : out_prod;
  std::memcpy(node->op_params, proto->op_params, sizeof(node->op_params));
  node->op = GGML_OP_CUSTOM;
}

}  // namespace

void Sgemm(Layout a_layout, Layout b_layout, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  for (int64_t j = 0; j < n; ++j) std::memset(c + j * ldc, 0, static_cast<size_t>(m) * sizeof(float));
  if (k <= 0) return;
  const bool a_col = a_layout == Layout::kColMajor, b_col = b_layout == Layout::kColMajor;
  if (a_col && b_col) EigenGemm<Order(Layout::kColMajor), Order(Layout::kColMajor)>(m, n, k, a, lda, b, ldb, c, ldc);
  else if (a_col) EigenGemm<Order(Layout::kColMajor), Order(Layout::kRowMajor)>(m, n, k, a, lda, b, ldb, c, ldc);
  else if (b_col) EigenGemm<Order(Layout::kRowMajor), Order(Layout::kColMajor)>(m, n, k, a, lda, b, ldb, c, ldc);
  else EigenGemm<Order(Layout::kRowMajor), Order(Layout::kRowMajor)>(m, n, k, a, lda, b, ldb, c, ldc);
}

int UseEigenProducts(ggml_cgraph* graph) {
  int rewritten = 0;
  for (int i = 0; i < ggml_graph_n_nodes(graph); ++i) {
    ggml_tensor* node = ggml_graph_node(graph, i);
    if (node->op != GGML_OP_MUL_MAT && node->op != GGML_OP_OUT_PROD) continue;
    if (node->type != GGML_TYPE_F32 || node->nb[0] != sizeof(float) || !Mappable(node->src[0]) ||
        !Mappable(node->src[1]))
      continue;
    Rewrite(node, node->op == GGML_OP_MUL_MAT ? MulMatOp : OutProdOp);
    ++rewritten;
  }
  return rewritten;
}

}  // namespace lmlab::train::internal
