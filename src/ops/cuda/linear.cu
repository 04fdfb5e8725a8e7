// Linear layers on cuBLAS SGEMM. The math mode is CUBLAS_DEFAULT_MATH: F32 products with F32
// accumulation, no TF32 tensor cores (which would round the operands to 10-bit mantissas and
// move logits by ~1e-3 against the CPU backend).
#include "ops/cuda/common.cuh"
#include "ops/cuda/cublas_handle.cuh"
#include "ops/cuda/cuda_ops.h"

namespace bitfold::ops::cuda {

namespace {

const char* cublas_message(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "cuBLAS not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "cuBLAS allocation failed (out of GPU memory?)";
    case CUBLAS_STATUS_INVALID_VALUE: return "cuBLAS invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "cuBLAS architecture mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "cuBLAS execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "cuBLAS operation not supported";
    default: return "cuBLAS error";
  }
}

}  // namespace

void check_blas(cublasStatus_t status, const char* op) {
  if (status != CUBLAS_STATUS_SUCCESS) raise(op, cublas_message(status));
}

Blas::Blas() {
  check_blas(cublasCreate(&handle), "cublas");
  check_blas(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublas");
}

Blas& blas() {
  static Blas* b = new Blas;  // never destroyed: the CUDA context may be gone at static destruction
  return *b;
}

namespace {

// y[t, :] = bias for every row, so that the GEMM can accumulate into it (beta = 1).
__global__ void broadcast_rows(const float* __restrict__ bias, float* __restrict__ y, int64_t T,
                               int64_t N) {
  const int64_t total = T * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = bias[i % N];
}

}  // namespace

void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K) {
  if (T == 0 || N == 0) return;
  float beta = 0.0f;
  if (bias) {
    broadcast_rows<<<grid_for(T * N, 256), 256>>>(bias, y, T, N);
    check_launch("linear");
    beta = 1.0f;
  }
  if (K == 0) {
    if (!bias) check(cudaMemset(y, 0, size_t(T * N) * sizeof(float)), "linear");
    return;
  }
  if (T > INT32_MAX || N > INT32_MAX || K > INT32_MAX) raise("linear", "dimension beyond 2^31");
  // Row-major y[T,N] = x[T,K] w[N,K]ᵀ is column-major yᵀ[N,T] = (w as K×N)ᵀ · (x as K×T).
  const float alpha = 1.0f;
  Blas& b = blas();
  std::lock_guard<std::mutex> lock(b.mutex);
  check_blas(cublasSgemm(b.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(T), int(K), &alpha, w,
                         int(K), x, int(K), &beta, y, int(N)),
             "linear");
}

}  // namespace bitfold::ops::cuda
