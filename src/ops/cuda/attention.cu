// Causal grouped-query attention, softmax(q kᵀ/√d) v ("Attention Is All You Need" eq. 1), written
// plainly: one CTA per (query, head). The query's scores for positions 0..start_pos+t live in
// shared memory, so the arithmetic follows the CPU backend step by step: s = scale · (q·k), a
// max-subtracted exp, the sum in F32, p = e · (1/sum), out = Σ p v.
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads) attention_kernel(
    const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
    float* __restrict__ out, int n_heads, int group, int hd, int start_pos, float scale,
    int64_t q_dim, int64_t kv_dim) {
  extern __shared__ float sh[];
  float* qs = sh;                  // [hd] the query
  float* partial = qs + hd;        // [kThreads] partial sums of p·v
  float* scratch = partial + kThreads;  // [32] reductions
  float* p = scratch + 32;         // [keys] scores, then probabilities
  const int h = int(blockIdx.x % unsigned(n_heads));
  const int64_t t = blockIdx.x / unsigned(n_heads);
  const int64_t kv_off = int64_t(h / group) * hd;
  const int keys = start_pos + int(t) + 1;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = kThreads / 32;

  for (int d = threadIdx.x; d < hd; d += kThreads) qs[d] = q[t * q_dim + int64_t(h) * hd + d];
  __syncthreads();

  // Scores: one warp per key (a key row is hd contiguous floats: one coalesced read).
  for (int j = warp; j < keys; j += warps) {
    const float* kr = k + int64_t(j) * kv_dim + kv_off;
    float dot = 0.0f;
    for (int d = lane; d < hd; d += 32) dot += qs[d] * kr[d];
    dot = warp_sum(dot);
    if (lane == 0) p[j] = __fmul_rn(dot, scale);
  }
  __syncthreads();

  float mx = -INFINITY;
  for (int j = threadIdx.x; j < keys; j += kThreads) mx = fmaxf(mx, p[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < keys; j += kThreads) {
    const float e = expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  sum = block_sum(sum, scratch);  // its barriers also publish p
  const float inv = __fdiv_rn(1.0f, sum);
  for (int j = threadIdx.x; j < keys; j += kThreads) p[j] = __fmul_rn(p[j], inv);
  __syncthreads();

  // out[d] = Σ_j p_j v[j][d]: consecutive threads read consecutive d of one value row; with
  // hd < kThreads the threads form kThreads / hd groups that split the keys.
  float* o = out + t * q_dim + int64_t(h) * hd;
  if (hd <= kThreads) {
    const int groups = kThreads / hd, gi = threadIdx.x / hd, d = threadIdx.x % hd;
    float acc = 0.0f;
    if (gi < groups)
      for (int j = gi; j < keys; j += groups) acc += p[j] * v[int64_t(j) * kv_dim + kv_off + d];
    partial[threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.x < hd) {
      float total = 0.0f;
      for (int g = 0; g < groups; ++g) total += partial[g * hd + threadIdx.x];
      o[threadIdx.x] = total;
    }
  } else {
    for (int d = threadIdx.x; d < hd; d += kThreads) {
      float acc = 0.0f;
      for (int j = 0; j < keys; ++j) acc += p[j] * v[int64_t(j) * kv_dim + kv_off + d];
      o[d] = acc;
    }
  }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, int64_t T, int n_heads,
               int n_kv_heads, int head_dim, int start_pos) {
  if (T == 0) return;
  const int64_t keys = start_pos + T;
  const size_t smem = size_t(head_dim + kThreads + 32 + keys) * sizeof(float);
  static int optin = [] {
    int device = 0, bytes = 0;
    check(cudaGetDevice(&device), "attention");
    check(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
          "attention");
    check(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
          "attention");
    return bytes;
  }();
  if (smem > size_t(optin))
    raise("attention", "the context is too long for the scores to fit in shared memory");
  const int64_t blocks = T * n_heads;
  if (blocks > INT32_MAX) raise("attention", "more than 2^31 (query, head) pairs");
  const float scale = 1.0f / sqrtf(float(head_dim));  // as the CPU backend computes it
  attention_kernel<<<unsigned(blocks), kThreads, smem>>>(q, k, v, out, n_heads,
                                                         n_heads / n_kv_heads, head_dim, start_pos,
                                                         scale, int64_t(n_heads) * head_dim,
                                                         int64_t(n_kv_heads) * head_dim);
  check_launch("attention");
}

}  // namespace bitfold::ops::cuda
