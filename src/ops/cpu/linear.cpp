// Linear layers on OpenBLAS (OpenMP build: it shares bitfold's thread pool, runs multi-threaded
// from serial code and single-threaded inside a parallel region).
#include <cblas.h>
#include <omp.h>

#include <cstring>

#include "ops/cpu/blas_threads.h"
#include "ops/cpu/cpu_ops.h"

namespace bitfold::ops::cpu {

namespace {

// Below this many multiply-adds a matrix product runs on the calling thread: waking a thread
// team costs more than it saves, and far more when the machine is oversubscribed (a parallel
// region then waits for a descheduled thread).
constexpr int64_t kParallelMacs = 1 << 16;
// The same for a matrix-vector product (decode), which is memory-bound: only a weight matrix of
// several MB gains from a second core's bandwidth (lm_head, 7B-sized layers).
constexpr int64_t kParallelGemvMacs = 1 << 20;

void gemv(const float* x, const float* w, float beta, float* y, int64_t N, int64_t K) {
  cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(N), blasint(K), 1.0f, w, blasint(K), x, 1, beta,
              y, 1);
}

// y = w · x + beta · y with the rows of w split across threads, each block a single-threaded
// sgemv (OpenBLAS runs single-threaded inside a parallel region). OpenBLAS 0.3.21's own threaded
// sgemv is erratic: 768×288 took 3.9 ms with two threads against 12 µs with one.
void parallel_gemv(const float* x, const float* w, float beta, float* y, int64_t N, int64_t K) {
#pragma omp parallel
  {
    const int64_t n = omp_get_num_threads(), i = omp_get_thread_num();
    const int64_t begin = N * i / n / 16 * 16;  // blocks of 16 rows: whole cache lines of y
    const int64_t end = i + 1 == n ? N : N * (i + 1) / n / 16 * 16;
    if (end > begin) gemv(x, w + begin * K, beta, y + begin, end - begin, K);
  }
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
  if (T == 1) {  // one token (decode): a matrix-vector product
    if (N * K < kParallelGemvMacs) {
      SingleThreadedBlas serial;
      gemv(x, w, beta, y, N, K);
    } else {
      parallel_gemv(x, w, beta, y, N, K);
    }
    return;
  }
  const auto gemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(T), blasint(N), blasint(K), 1.0f,
                x, blasint(K), w, blasint(K), beta, y, blasint(N));
  };
  if (T * N * K < kParallelMacs) {
    SingleThreadedBlas serial;
    gemm();
  } else {
    gemm();
  }
}

}  // namespace bitfold::ops::cpu
