#include <cmath>

#include "core/parallel.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/cpu/vec_math.h"

namespace bitfold::ops::cpu {

namespace {

// Rows are cheap (D ~ 10³): threads only pay off with many of them.
constexpr int64_t kParallelElements = 1 << 15;

BITFOLD_VECTOR_CLONES
float inverse_rms(const float* x, float eps, int64_t D) {
  // The mean of squares in double: the one reduction of the block that sees every channel.
  double ss = 0.0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < D; ++i) ss += double(x[i]) * double(x[i]);
  // As Hugging Face (and llama2.c): r = rsqrt(mean + eps) in F32, then γ ⊙ (x · r).
  return 1.0f / std::sqrt(float(ss / double(D)) + eps);
}

BITFOLD_VECTOR_CLONES
void rmsnorm_row(const float* x, const float* gamma, float eps, float* y, int64_t D) {
  const float r = inverse_rms(x, eps, D);
#pragma omp simd
  for (int64_t i = 0; i < D; ++i) y[i] = gamma[i] * (x[i] * r);
}

}  // namespace

void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D) {
#pragma omp parallel for schedule(static) if (T * D >= kParallelElements)
  for (int64_t t = 0; t < T; ++t) rmsnorm_row(x + t * D, gamma, eps, y + t * D, D);
}

void rmsnorm_gather_bias(const float* x, const int32_t* channels, const float* gamma,
                         const float* beta, float eps, float* y, int64_t T, int64_t D, int64_t K) {
#pragma omp parallel for schedule(static) if (T * K >= kParallelElements)
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    float* yr = y + t * K;
    const float r = inverse_rms(xr, eps, D);
    if (channels != nullptr) {
      for (int64_t k = 0; k < K; ++k) yr[k] = gamma[k] * (xr[channels[k]] * r);
    } else {
      for (int64_t k = 0; k < K; ++k) yr[k] = gamma[k] * (xr[k] * r);
    }
    if (beta != nullptr)
      for (int64_t k = 0; k < K; ++k) yr[k] += beta[k];
  }
}

}  // namespace bitfold::ops::cpu
