// RMSNorm, one CTA per row: Σx² in double (as the CPU backend), then the same F32 operations in
// the same order with explicit rounding intrinsics (no FMA contraction): r = 1 / sqrt(float(Σ/D)
// + eps), y = γ · (x · r).
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                               float eps, float* y, int64_t D) {
  __shared__ double scratch[32];
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) ss += double(xr[i]) * double(xr[i]);
  ss = block_sum(ss, scratch);  // every read of x happens before this barrier: y may alias x
  const float r = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(float(ss / double(D)), eps)));
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = __fmul_rn(gamma[i], __fmul_rn(xr[i], r));
}

// The folds' RMSNorm (ops.h rmsnorm_gather_bias): the mean of squares over the D input channels,
// output channel k reads input channels[k] (the identity when channels is null), then + beta[k],
// in the CPU backend's order: y = γ · (x · r), then y + β.
__global__ void rmsnorm_gather_bias_kernel(const float* __restrict__ x, const int32_t* __restrict__ channels,
                                           const float* __restrict__ gamma, const float* __restrict__ beta,
                                           float eps, float* __restrict__ y, int64_t D, int64_t K) {
  __shared__ double scratch[32];
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * K;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) ss += double(xr[i]) * double(xr[i]);
  ss = block_sum(ss, scratch);
  const float r = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(float(ss / double(D)), eps)));
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
    const float v = __fmul_rn(gamma[k], __fmul_rn(xr[channels != nullptr ? channels[k] : k], r));
    yr[k] = beta != nullptr ? __fadd_rn(v, beta[k]) : v;
  }
}

}  // namespace

void rmsnorm_gather_bias(const float* x, const int32_t* channels, const float* gamma, const float* beta,
                         float eps, float* y, int64_t T, int64_t D, int64_t K) {
  if (T == 0 || K == 0) return;
  if (T > INT32_MAX) raise("rmsnorm_gather_bias", "more than 2^31 rows");
  rmsnorm_gather_bias_kernel<<<unsigned(T), 256>>>(x, channels, gamma, beta, eps, y, D, K);
  check_launch("rmsnorm_gather_bias");
}

void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D) {
  if (T == 0 || D == 0) return;
  if (T > INT32_MAX) raise("rmsnorm", "more than 2^31 rows");
  rmsnorm_kernel<<<unsigned(T), 256>>>(x, gamma, eps, y, D);
  check_launch("rmsnorm");
}

}  // namespace bitfold::ops::cuda
