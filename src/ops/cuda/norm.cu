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

}  // namespace

void rmsnorm(const float* x, const float* gamma, float eps, float* y, int64_t T, int64_t D) {
  if (T == 0 || D == 0) return;
  if (T > INT32_MAX) raise("rmsnorm", "more than 2^31 rows");
  rmsnorm_kernel<<<unsigned(T), 256>>>(x, gamma, eps, y, D);
  check_launch("rmsnorm");
}

}  // namespace bitfold::ops::cuda
