#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace bitfold::ops::cpu {

namespace {

// Below this many elements a loop runs on the calling thread (waking the team costs more).
constexpr int64_t kParallelElements = 1 << 15;
constexpr int64_t kChunk = 4096;

// SiLU(g) ⊙ u = g / (1 + e^(-g)) · u, as torch computes it in F32.
BITFOLD_VECTOR_CLONES
void silu_mul_range(const float* gate, const float* up, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + exp_f32(-g)) * up[i];
  }
}

BITFOLD_VECTOR_CLONES
void add_range(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// logsumexp(row) − row[target]: terms e^(x − max) ∈ (0, 1] in F32, summed in double.
BITFOLD_VECTOR_CLONES
double nll_row(const float* row, int64_t V, int32_t target) {
  float max = row[0];
#pragma omp simd reduction(max : max)
  for (int64_t j = 1; j < V; ++j) max = std::max(max, row[j]);
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < V; ++j) sum += double(exp_f32(row[j] - max));
  return double(max) + std::log(sum) - double(row[target]);
}

// Runs fn(begin, end) over [0, n) in chunks, across threads when n is large.
template <class Fn>
void chunked(int64_t n, Fn&& fn) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (int64_t c = 0; c < chunks; ++c) fn(c * kChunk, std::min(n, (c + 1) * kChunk));
}

}  // namespace

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  chunked(n, [&](int64_t b, int64_t e) { silu_mul_range(gate + b, up + b, out + b, e - b); });
}

void add_inplace(float* x, const float* y, int64_t n) {
  chunked(n, [&](int64_t b, int64_t e) { add_range(x + b, y + b, e - b); });
}

void embedding(const void* table, DType dtype, int64_t D, const int32_t* ids, int64_t T,
               float* out) {
  const size_t row_bytes = size_t(D) * dtype_size(dtype);
  for (int64_t t = 0; t < T; ++t) {
    const void* row = static_cast<const std::byte*>(table) + size_t(ids[t]) * row_bytes;
    convert_to_f32(row, dtype, out + t * D, size_t(D));
  }
}

void token_nll(const float* logits, const int32_t* targets, int64_t T, int64_t V, double* nll) {
#pragma omp parallel for schedule(static) if (T * V >= kParallelElements)
  for (int64_t t = 0; t < T; ++t) nll[t] = nll_row(logits + t * V, V, targets[t]);
}

}  // namespace bitfold::ops::cpu
