// Causal grouped-query attention, the softmax(QKᵀ/√d)V of "Attention Is All You Need" eq. 1.
//
// Work is split into (head, block of queries) items run in parallel; each item does two small
// SGEMMs (scores = Q Kᵀ and out = P V) on single-threaded OpenBLAS (inside a parallel region the
// OpenMP build of OpenBLAS does not spawn threads). A query block only reads the keys it may see,
// so the causal half of the score matrix is never computed.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/blas_threads.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace bitfold::ops::cpu {

namespace {

// Queries per work item: large enough for SGEMM to run near peak, small enough that the
// [block, keys] score matrix stays in L2 and the causal mask wastes little.
constexpr int64_t kQueryBlock = 64;
constexpr double kParallelMacs = 1 << 19;

// Numerically stable softmax of row[0, n) in place; row[n, total) (masked keys) set to 0.
BITFOLD_VECTOR_CLONES
void softmax_masked(float* row, int64_t n, int64_t total) {
  float max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < n; ++j) max = std::max(max, row[j]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    row[j] = exp_f32(row[j] - max);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  std::fill(row + n, row + total, 0.0f);
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, int64_t T, int n_heads,
               int n_kv_heads, int head_dim, int start_pos) {
  if (T == 0) return;
  const int64_t q_dim = int64_t(n_heads) * head_dim;
  const int64_t kv_dim = int64_t(n_kv_heads) * head_dim;
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  const int64_t blocks = (T + kQueryBlock - 1) / kQueryBlock;

  // Item i: the last query blocks (most keys) first, so the dynamic schedule ends balanced.
  const auto work_item = [&](int64_t item) {
    const int64_t block = blocks - 1 - item / n_heads;
    const int h = int(item % n_heads);
    const int kvh = h / group;
    const int64_t t0 = block * kQueryBlock;
    const int64_t rows = std::min(T, t0 + kQueryBlock) - t0;
    const int64_t keys = start_pos + t0 + rows;  // what the block's last query may see

    const float* qh = q + t0 * q_dim + int64_t(h) * head_dim;   // [rows, hd], stride q_dim
    const float* kh = k + int64_t(kvh) * head_dim;              // [keys, hd], stride kv_dim
    const float* vh = v + int64_t(kvh) * head_dim;              // [keys, hd], stride kv_dim
    float* oh = out + t0 * q_dim + int64_t(h) * head_dim;       // [rows, hd], stride q_dim

    thread_local std::vector<float> scores;
    scores.resize(size_t(rows * keys));
    float* s = scores.data();
    if (rows == 1) {  // decode: matrix-vector products
      cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(keys), head_dim, scale, kh, blasint(kv_dim),
                  qh, 1, 0.0f, s, 1);
      softmax_masked(s, keys, keys);
      cblas_sgemv(CblasRowMajor, CblasTrans, blasint(keys), head_dim, 1.0f, vh, blasint(kv_dim), s,
                  1, 0.0f, oh, 1);
      return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(keys), head_dim,
                scale, qh, blasint(q_dim), kh, blasint(kv_dim), 0.0f, s, blasint(keys));
    for (int64_t r = 0; r < rows; ++r) softmax_masked(s + r * keys, start_pos + t0 + r + 1, keys);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), head_dim, blasint(keys),
                1.0f, s, blasint(keys), vh, blasint(kv_dim), 0.0f, oh, blasint(q_dim));
  };
  // Threads only for enough work: a parallel region costs microseconds (far more when the
  // machine is oversubscribed), a whole decode step of a tiny model less.
  const int64_t items = blocks * n_heads;
  const double macs = double(T) * double(start_pos + T) * head_dim * n_heads;
  if (macs >= kParallelMacs) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) work_item(item);
  } else {
    SingleThreadedBlas serial;
    for (int64_t item = 0; item < items; ++item) work_item(item);
  }
}

}  // namespace bitfold::ops::cpu
