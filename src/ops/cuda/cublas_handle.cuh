#pragma once
// The process's cuBLAS handle, shared by the CUDA ops that call cuBLAS (linear, the integer
// engine's block products). Included by .cu files only.
#include <cublas_v2.h>

#include <mutex>

namespace bitfold::ops::cuda {

// One handle for the process (created on first use, on the default stream, math mode
// CUBLAS_DEFAULT_MATH: no TF32); cuBLAS handles are not meant to be used by two host threads at
// once, hence the lock to hold around each call.
struct Blas {
  cublasHandle_t handle = nullptr;
  std::mutex mutex;
  Blas();
};
Blas& blas();

// A failed cuBLAS call is a bitfold::Error naming the op.
void check_blas(cublasStatus_t status, const char* op);

}  // namespace bitfold::ops::cuda
