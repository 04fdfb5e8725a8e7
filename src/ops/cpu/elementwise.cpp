#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace bitfold::ops::cpu {

namespace {

constexpr int64_t kParallelElements = 1 << 15;

}  // namespace

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  // Chunks of 4096 across threads, each a vectorized loop.
  const int64_t chunks = (n + 4095) / 4096;
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * 4096);
    // SiLU(g) = g · σ(g) = g / (1 + e^(-g)), as torch computes it in F32.
#pragma omp simd
    for (int64_t i = c * 4096; i < end; ++i) {
      const float g = gate[i];
      out[i] = g / (1.0f + exp_f32(-g)) * up[i];
    }
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelElements)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
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
  for (int64_t t = 0; t < T; ++t) {
    const float* row = logits + t * V;
    float max = row[0];
#pragma omp simd reduction(max : max)
    for (int64_t j = 1; j < V; ++j) max = std::max(max, row[j]);
    // Terms e^(x - max) ∈ (0, 1] in F32, summed in double.
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < V; ++j) sum += double(exp_f32(row[j] - max));
    nll[t] = double(max) + std::log(sum) - double(row[targets[t]]);
  }
}

}  // namespace bitfold::ops::cpu
