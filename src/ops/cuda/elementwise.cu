// SiLU-mul, residual add, embedding gather and the per-token NLL.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <mutex>
#include <vector>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

// SiLU(g) ⊙ u = g / (1 + e^(-g)) · u, the CPU backend's (and torch's) order of operations.
__global__ void silu_mul_kernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
  }
}

__global__ void add_kernel(float* x, const float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] += y[i];
}

template <class T>
__device__ __forceinline__ float to_f32(T v);
template <>
__device__ __forceinline__ float to_f32(float v) { return v; }
template <>
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// One CTA per token: its table row converted to F32.
template <class T>
__global__ void embedding_kernel(const T* __restrict__ table, const int32_t* __restrict__ ids,
                                 int64_t D, float* __restrict__ out) {
  const T* row = table + int64_t(ids[blockIdx.x]) * D;
  float* o = out + int64_t(blockIdx.x) * D;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) o[i] = to_f32(row[i]);
}

// One CTA per row: the max, then Σ e^(x − max) in double (as the CPU backend), then
// nll = max + log Σ − x[target].
__global__ void nll_kernel(const float* __restrict__ logits, const int32_t* __restrict__ targets,
                           int64_t V, double* __restrict__ nll) {
  __shared__ float fscratch[32];
  __shared__ double dscratch[32];
  const float* row = logits + int64_t(blockIdx.x) * V;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, row[j]);
  mx = block_max(mx, fscratch);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) sum += double(expf(row[j] - mx));
  sum = block_sum(sum, dscratch);
  if (threadIdx.x == 0) nll[blockIdx.x] = double(mx) + log(sum) - double(row[targets[blockIdx.x]]);
}

// A device buffer that only grows, for the small host → device copies of token ids.
class Staging {
 public:
  void* get(size_t bytes, const char* op) {
    if (bytes > size_) {
      if (ptr_) check(cudaFree(ptr_), op);
      ptr_ = nullptr;
      size_ = 0;
      check(cudaMalloc(&ptr_, bytes), op);
      size_ = bytes;
    }
    return ptr_;
  }
  std::mutex mutex;

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};
Staging& staging() {
  static Staging* s = new Staging;  // never freed: the CUDA context may be gone at exit
  return *s;
}

}  // namespace

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  if (n == 0) return;
  silu_mul_kernel<<<grid_for(n, 256), 256>>>(gate, up, out, n);
  check_launch("silu_mul");
}

void add_inplace(float* x, const float* y, int64_t n) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, 256), 256>>>(x, y, n);
  check_launch("add_inplace");
}

void embedding(const void* table, DType dtype, int64_t D, const int32_t* ids, int64_t T,
               float* out) {
  if (T == 0 || D == 0) return;
  if (T > INT32_MAX) raise("embedding", "more than 2^31 tokens");
  Staging& s = staging();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto* d_ids = static_cast<int32_t*>(s.get(size_t(T) * sizeof(int32_t), "embedding"));
  check(cudaMemcpy(d_ids, ids, size_t(T) * sizeof(int32_t), cudaMemcpyHostToDevice), "embedding");
  const int threads = 256;
  switch (dtype) {
    case DType::F32:
      embedding_kernel<<<unsigned(T), threads>>>(static_cast<const float*>(table), d_ids, D, out);
      break;
    case DType::F16:
      embedding_kernel<<<unsigned(T), threads>>>(static_cast<const __half*>(table), d_ids, D, out);
      break;
    case DType::BF16:
      embedding_kernel<<<unsigned(T), threads>>>(static_cast<const __nv_bfloat16*>(table), d_ids,
                                                 D, out);
      break;
    default: raise("embedding", "the table must be F32, F16 or BF16");
  }
  check_launch("embedding");
}

void token_nll(const float* logits, const int32_t* targets, int64_t T, int64_t V, double* nll) {
  if (T == 0) return;
  if (T > INT32_MAX) raise("token_nll", "more than 2^31 rows");
  Staging& s = staging();
  std::lock_guard<std::mutex> lock(s.mutex);
  const size_t target_bytes = (size_t(T) * sizeof(int32_t) + 15) / 16 * 16;
  auto* base = static_cast<char*>(s.get(target_bytes + size_t(T) * sizeof(double), "token_nll"));
  auto* d_targets = reinterpret_cast<int32_t*>(base);
  auto* d_nll = reinterpret_cast<double*>(base + target_bytes);
  check(cudaMemcpy(d_targets, targets, size_t(T) * sizeof(int32_t), cudaMemcpyHostToDevice),
        "token_nll");
  nll_kernel<<<unsigned(T), 256>>>(logits, d_targets, V, d_nll);
  check_launch("token_nll");
  check(cudaMemcpy(nll, d_nll, size_t(T) * sizeof(double), cudaMemcpyDeviceToHost), "token_nll");
}

}  // namespace bitfold::ops::cuda
