#pragma once
// Helpers of the CUDA ops: error checks and block-wide reductions. Included by .cu files only.
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/raise.h"

namespace bitfold::ops::cuda {

inline void check(cudaError_t status, const char* op) {
  if (status != cudaSuccess) raise(op, cudaGetErrorString(status));
}
// After a launch: a bad configuration shows here, a fault at the next synchronizing call.
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

inline unsigned grid_for(int64_t n, int block) {
  const int64_t blocks = (n + block - 1) / block;
  return unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16);  // grid-stride loops do the rest
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum (or max) over the block; every thread gets the result. `scratch` holds 32 values and may be
// reused right after the call returns (the trailing barrier protects it).
template <class T>
__device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}
__device__ inline float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : -INFINITY;
  total = warp_max(total);
  __syncthreads();
  return total;
}

}  // namespace bitfold::ops::cuda
