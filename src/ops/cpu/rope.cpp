#include "core/parallel.h"
#include "ops/cpu/cpu_ops.h"

namespace bitfold::ops::cpu {

void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t width, int head_dim,
          int start_pos) {
  const int half = head_dim / 2;
  const int64_t heads = width / head_dim;
#pragma omp parallel for schedule(static) if (T * width >= (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    const float* c = cos + (start_pos + t) * half;
    const float* s = sin + (start_pos + t) * half;
    for (int64_t h = 0; h < heads; ++h) {
      float* a = x + t * width + h * head_dim;  // first half
      float* b = a + half;                      // second half
      // [a, b] ← [a, b] ⊙ cos + [-b, a] ⊙ sin   (rotate_half(x) = [-x₂, x₁])
#pragma omp simd
      for (int i = 0; i < half; ++i) {
        const float x1 = a[i], x2 = b[i];
        a[i] = x1 * c[i] - x2 * s[i];
        b[i] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

}  // namespace bitfold::ops::cpu
