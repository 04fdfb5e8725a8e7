#include <cmath>

#include "core/parallel.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace bitfold::ops::cpu {

namespace {

// Rows are cheap (D ~ 10³): threads only pay off with many of them.
constexpr int64_t kParallelElements = 1 << 15;

BITFOLD_VECTOR_CLONES
void rmsnorm_row(const float* x, const float* gamma, float eps, float* y, int64_t D) {
  // The mean of squares in double: the one reduction of the block that sees every channel.
  double ss = 0.0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < D; ++i) ss += double(x[i]) * double(x[i]);
  // As Hugging Face (and llama2.c): r = rsqrt(mean + eps) in F32, then γ ⊙ (x · r).
  const float r = 1.0f / std::sqrt(float(ss / double(D)) + eps);
#pragma omp simd
  for (int64_t i = 0; i < D; ++i) y[i] = gamma[i] * (x[i] * r);
}

}  // namespace

void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D) {
#pragma omp parallel for schedule(static) if (T * D >= kParallelElements)
  for (int64_t t = 0; t < T; ++t) rmsnorm_row(x + t * D, gamma, eps, y + t * D, D);
}

}  // namespace bitfold::ops::cpu
