// Linear layers on OpenBLAS (OpenMP build: it shares bitfold's thread pool, runs multi-threaded
// from serial code and single-threaded inside a parallel region).
#include <cblas.h>

#include <cstring>

#include "ops/cpu/cpu_ops.h"

namespace bitfold::ops::cpu {

void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K) {
  if (T == 0 || N == 0) return;
  // The bias is written first and accumulated into (beta = 1), saving a pass over y.
  float beta = 0.0f;
  if (bias) {
    for (int64_t t = 0; t < T; ++t) std::memcpy(y + t * N, bias, size_t(N) * sizeof(float));
    beta = 1.0f;
  }
  if (T == 1) {
    // One token (decode): a matrix-vector product; OpenBLAS 0.3.21's sgemm does not route M = 1
    // to its gemv kernels itself.
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(N), blasint(K), 1.0f, w, blasint(K), x, 1,
                beta, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), blasint(N), blasint(K), 1.0f, x,
              blasint(K), w, blasint(K), beta, y, blasint(N));
}

}  // namespace bitfold::ops::cpu
