#pragma once
// GemmContext::Impl, shared by the .cu files of this folder (not a public header).
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/gemm.h"

namespace bitfold::kernels {

struct GemmContext::Impl {
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  size_t lt_workspace_bytes = 0;

  // Split-K accumulators of the decode kernels: int32 [kMaxSplitM][split_n], zero between calls;
  // one ticket counter per (token block, row block).
  static constexpr int kMaxSplitM = 32;
  int32_t* split_acc = nullptr;
  int64_t split_n = 0;
  unsigned* split_counters = nullptr;
  int64_t split_counter_count = 0;
  void ensure_split(int64_t n, int64_t counters);

  // Unpack pre-pass scratch (int8 rows) and int32 GEMM output of the cuBLASLt routes.
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  void* scratch_i32 = nullptr;
  size_t scratch_i32_bytes = 0;
  // gemm_fp4_lt: the E4M3 copy of the weights and the FP32 GEMM output.
  void* scratch_fp8 = nullptr;
  size_t scratch_fp8_bytes = 0;
  void* scratch_f32 = nullptr;
  size_t scratch_f32_bytes = 0;
  void* ensure(void*& buf, size_t& have, size_t need);
  // The unpack pre-pass of the large-M routes: frag weights -> int8 rows [n][ldw] in `scratch`
  // (ldw = K rounded up to 16, columns past K zeroed); returns the rows.
  const int8_t* unpack_to_rows(const FragWeight& w, int64_t ldw, Stream stream);

  struct LtPlan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // key: kind (0 int8, 1 fp8 -> fp16, 2 fp8 -> fp32), m, n, k, lda, ldb
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t>, LtPlan> plans;

  Impl();
  ~Impl();
};

}  // namespace bitfold::kernels
