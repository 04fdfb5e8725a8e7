#pragma once
// Helpers for the kernel tests: random non-zero codes, device buffers, comparisons that report
// the first mismatches.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifdef BITFOLD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include "kernels/layout.h"

namespace bitfold::kernels::testing {

// Uniform codes in [code_min(bits), code_max(bits)] without 0: zeros hide indexing bugs.
inline std::vector<int8_t> random_codes(std::mt19937& rng, int64_t rows, int64_t cols, int64_t ld, int bits) {
  std::vector<int8_t> out(size_t(rows * ld), 0);
  std::uniform_int_distribution<int> dist(code_min(bits), code_max(bits) - 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      int v = dist(rng);
      if (v >= 0) ++v;  // skip zero, keep the range
      if (bits == 1) v = -1;
      out[size_t(r * ld + c)] = int8_t(v);
    }
  return out;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(n);
  for (auto& v : out) v = dist(rng);
  return out;
}

// Exact comparison of int32 matrices [m][n] (got has leading dimension ld).
inline ::testing::AssertionResult equal_i32(const std::vector<int32_t>& want, const std::vector<int32_t>& got,
                                            int64_t m, int64_t n, int64_t ld) {
  int64_t bad = 0;
  std::ostringstream os;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const int32_t w = want[size_t(i * n + j)], g = got[size_t(i * ld + j)];
      if (w != g && bad++ < 6) os << " [" << i << "," << j << "] want " << w << " got " << g << ";";
    }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << m * n << " int32 outputs differ:" << os.str();
}

#ifdef BITFOLD_HAVE_CUDA
#define KT_CUDA(expr)                                                                   \
  do {                                                                                  \
    const cudaError_t kt_status_ = (expr);                                              \
    ASSERT_EQ(kt_status_, cudaSuccess) << #expr << ": " << cudaGetErrorString(kt_status_); \
  } while (0)

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) : count_(count) {
    if (count_ && cudaMalloc(&ptr_, count_ * sizeof(T)) != cudaSuccess) ptr_ = nullptr;
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) { o.ptr_ = nullptr, o.count_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_), std::swap(count_, o.count_);
    return *this;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  void upload(const std::vector<T>& host) {
    if (count_) cudaMemcpy(ptr_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_) cudaMemcpy(host.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost);
    return host;
  }
  void fill_bytes(uint8_t byte) {
    if (count_) cudaMemset(ptr_, byte, count_ * sizeof(T));
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};
#endif

}  // namespace bitfold::kernels::testing
