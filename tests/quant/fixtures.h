#pragma once
// Test inputs shared by the quantizer tests: random tensors and hand-made parameters.
#include <random>

#include "core/tensor.h"
#include "quant/quantizer.h"

namespace bitfold::quant::reference {

inline Tensor random_tensor(Shape shape, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = normal(rng);
    if (v == 0.0f) v = scale;  // non-zero inputs
    t.f32()[i] = v;
  }
  return t;
}

// Params of one step for a whole tensor.
inline QuantParams per_tensor_params(const Format& format, float step, int32_t zero_point = 0) {
  QuantParams p;
  p.spec.format = format;
  p.spec.granularity = Granularity::Tensor;
  p.scale = {step};
  if (format_traits(format).zero_point) p.zero_point = {zero_point};
  return p;
}

}  // namespace bitfold::quant::reference
