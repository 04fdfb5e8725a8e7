// Linear layers on OpenBLAS (OpenMP build: it shares bitfold's thread pool, runs multi-threaded
// from serial code and single-threaded inside a parallel region).
#include <cblas.h>
#include <omp.h>

#include <cstring>

#include "ops/cpu/cpu_ops.h"

namespace bitfold::ops::cpu {

namespace {

// Below this many multiply-adds a product runs on the calling thread: waking OpenBLAS's team
// costs more than it saves (tiny models, decode of small layers), and far more when the machine
// is oversubscribed.
constexpr int64_t kParallelMacs = 1 << 15;

// OpenBLAS's OpenMP build reads its thread count from omp_get_max_threads() at every call.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadedBlas() { omp_set_num_threads(saved_); }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

// y = x · wᵀ + beta · y.
void gemm(const float* x, const float* w, float beta, float* y, int64_t T, int64_t N, int64_t K) {
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

}  // namespace

void linear(const float* x, const float* w, const float* bias, float* y, int64_t T, int64_t N,
            int64_t K) {
  if (T == 0 || N == 0) return;
  // The bias is written first and accumulated into (beta = 1), saving a pass over y.
  float beta = 0.0f;
  if (bias) {
    for (int64_t t = 0; t < T; ++t) std::memcpy(y + t * N, bias, size_t(N) * sizeof(float));
    beta = 1.0f;
  }
  if (T * N * K < kParallelMacs) {
    SingleThreadedBlas serial;
    gemm(x, w, beta, y, T, N, K);
  } else {
    gemm(x, w, beta, y, T, N, K);
  }
}

}  // namespace bitfold::ops::cpu
