#pragma once
// e^x written so that loops over it vectorize (no libm call, no branch): std::exp is a scalar
// call that dominates softmax, SiLU and the NLL otherwise.
#include <algorithm>
#include <bit>
#include <cstdint>

// Hot loops are compiled for AVX-512 (x86-64-v4) and AVX2+FMA (x86-64-v3) besides baseline
// x86-64, and the loader picks one for the machine (GNU ifunc): the build stays portable (the same
// binary runs on the GPU host) and the loops still use the machine's full vector width.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BITFOLD_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BITFOLD_VECTOR_CLONES
#endif

namespace bitfold::ops::cpu {

// e^x within 2 ulp for x in [-87, 88]; inputs outside are clamped (e^-87 ≈ 1.6e-38 stands in for
// smaller values, e^88 for larger ones), which is harmless where it is used (softmax after the
// max is subtracted, SiLU, log-sum-exp).
inline float exp_f32(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // x = n·ln2 + r with n = round(x / ln2) (the 1.5·2²³ trick rounds to nearest) and |r| ≤ ln2/2;
  // ln2 is split in two (Cody & Waite) so that n·ln2 is subtracted without losing bits of r.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  // e^r by its minimax polynomial on [-ln2/2, ln2/2] (Cephes expf coefficients).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2ⁿ assembled in the exponent field.
  const int32_t bits = (int32_t(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

}  // namespace bitfold::ops::cpu
