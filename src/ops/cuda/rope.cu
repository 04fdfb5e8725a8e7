// Rotate-half RoPE: one thread per (token, head, pair), the CPU backend's arithmetic with explicit
// rounding (a·c − b·s and b·c + a·s, each product rounded, no FMA).
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

__global__ void rope_kernel(float* x, const float* __restrict__ cos, const float* __restrict__ sin,
                            int64_t T, int64_t width, int half, int start_pos) {
  const int64_t heads = width / (2 * half);
  const int64_t total = T * heads * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(idx % half);
    const int64_t h = (idx / half) % heads, t = idx / (half * heads);
    float* a = x + t * width + h * 2 * half;
    const float c = cos[(start_pos + t) * half + i], s = sin[(start_pos + t) * half + i];
    const float x1 = a[i], x2 = a[i + half];
    a[i] = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
    a[i + half] = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
  }
}

}  // namespace

void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t width, int head_dim,
          int start_pos) {
  const int half = head_dim / 2;
  const int64_t total = T * (width / head_dim) * half;
  if (total == 0) return;
  rope_kernel<<<grid_for(total, 256), 256>>>(x, cos, sin, T, width, half, start_pos);
  check_launch("rope");
}

}  // namespace bitfold::ops::cuda
