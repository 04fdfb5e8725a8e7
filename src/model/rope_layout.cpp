#include "model/rope_layout.h"

#include <cstring>

#include "core/error.h"

namespace bitfold::model {

namespace {

// to_rotate_half: destination row (head, i) takes source row (head, 2i) or (head, 2i+1).
Tensor permute_rows(const Tensor& w, int n_heads, bool to_rotate_half) {
  BITFOLD_CHECK(w.rank() == 2 && w.dtype() == DType::F32 && w.is_cpu() && n_heads > 0 &&
                    w.dim(0) % n_heads == 0 && (w.dim(0) / n_heads) % 2 == 0,
                "cannot permute RoPE rows of {} with {} heads", shape_str(w.shape()), n_heads);
  const int64_t head_dim = w.dim(0) / n_heads, half = head_dim / 2, cols = w.dim(1);
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  const float* src = w.f32();
  float* dst = out.f32();
  for (int64_t h = 0; h < n_heads; ++h) {
    const int64_t base = h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t parity = 0; parity < 2; ++parity) {
        const int64_t interleaved = base + 2 * i + parity;
        const int64_t halves = base + parity * half + i;
        const int64_t from = to_rotate_half ? interleaved : halves;
        const int64_t to = to_rotate_half ? halves : interleaved;
        std::memcpy(dst + to * cols, src + from * cols, size_t(cols) * sizeof(float));
      }
    }
  }
  return out;
}

}  // namespace

Tensor interleaved_to_rotate_half(const Tensor& w, int n_heads) {
  return permute_rows(w, n_heads, true);
}

Tensor rotate_half_to_interleaved(const Tensor& w, int n_heads) {
  return permute_rows(w, n_heads, false);
}

}  // namespace bitfold::model
