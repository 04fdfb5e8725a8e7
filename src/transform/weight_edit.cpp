#include "transform/weight_edit.h"

#include <vector>

#include "core/error.h"

namespace bitfold::transform::detail {

namespace {

int64_t row_length(const Tensor& w) { return w.dim(0) == 0 ? 0 : w.numel() / w.dim(0); }

void check_cpu_f32(const Tensor& w) {
  BITFOLD_CHECK(w.defined() && w.dtype() == DType::F32 && w.is_cpu() && w.rank() >= 1,
                "transform: weight {} {} is not an F32 CPU tensor", dtype_name(w.dtype()),
                shape_str(w.shape()));
}

}  // namespace

Tensor scale_columns(const Tensor& w, std::span<const float> factor) {
  check_cpu_f32(w);
  BITFOLD_CHECK(w.rank() == 2 && w.dim(1) == int64_t(factor.size()),
                "transform: {} factors for a weight {}", factor.size(), shape_str(w.shape()));
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  const int64_t N = w.dim(0), K = w.dim(1);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k) out.f32()[i * K + k] = w.f32()[i * K + k] * factor[size_t(k)];
  return out;
}

Tensor divide_rows(const Tensor& w, std::span<const float> divisor) {
  check_cpu_f32(w);
  BITFOLD_CHECK(w.dim(0) == int64_t(divisor.size()), "transform: {} divisors for {} rows",
                divisor.size(), w.dim(0));
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  const int64_t N = w.dim(0), K = row_length(w);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k) out.f32()[i * K + k] = w.f32()[i * K + k] / divisor[size_t(i)];
  return out;
}

Tensor multiply_rows(const Tensor& w, std::span<const float> factor) {
  check_cpu_f32(w);
  BITFOLD_CHECK(w.dim(0) == int64_t(factor.size()), "transform: {} factors for {} rows",
                factor.size(), w.dim(0));
  Tensor out = Tensor::empty(w.shape(), DType::F32);
  const int64_t N = w.dim(0), K = row_length(w);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k) out.f32()[i * K + k] = w.f32()[i * K + k] * factor[size_t(i)];
  return out;
}

Tensor bias_plus_shift(const model::Linear& linear, std::span<const float> z) {
  const Tensor& w = linear.weight;
  check_cpu_f32(w);
  const int64_t N = w.dim(0), K = w.dim(1);
  BITFOLD_CHECK(int64_t(z.size()) == K, "transform: a shift of {} for a weight {}", z.size(),
                shape_str(w.shape()));
  Tensor out = Tensor::empty({N}, DType::F32);
  for (int64_t i = 0; i < N; ++i) {
    double sum = linear.bias.defined() ? double(linear.bias.f32()[i]) : 0.0;
    for (int64_t k = 0; k < K; ++k) sum += double(z[size_t(k)]) * double(w.f32()[i * K + k]);
    out.f32()[i] = float(sum);
  }
  return out;
}

Tensor gather_columns(const Tensor& w, std::span<const int64_t> source) {
  check_cpu_f32(w);
  BITFOLD_CHECK(w.rank() == 2, "transform: gather_columns of {}", shape_str(w.shape()));
  const int64_t N = w.dim(0), K = w.dim(1), K2 = int64_t(source.size());
  Tensor out = Tensor::empty({N, K2}, DType::F32);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K2; ++k) {
      BITFOLD_CHECK(source[size_t(k)] >= 0 && source[size_t(k)] < K, "transform: column {} of {}",
                    source[size_t(k)], K);
      out.f32()[i * K2 + k] = w.f32()[i * K + source[size_t(k)]];
    }
  return out;
}

Tensor gather_rows(const Tensor& w, std::span<const int64_t> source,
                   std::span<const float> divisor) {
  check_cpu_f32(w);
  BITFOLD_CHECK(divisor.empty() || divisor.size() == source.size(),
                "transform: {} divisors for {} rows", divisor.size(), source.size());
  Shape shape = w.shape();
  const int64_t N = w.dim(0), K = row_length(w);
  shape[0] = int64_t(source.size());
  Tensor out = Tensor::empty(shape, DType::F32);
  for (size_t i = 0; i < source.size(); ++i) {
    BITFOLD_CHECK(source[i] >= 0 && source[i] < N, "transform: row {} of {}", source[i], N);
    const float* src = w.f32() + source[i] * K;
    float* dst = out.f32() + int64_t(i) * K;
    for (int64_t k = 0; k < K; ++k) dst[k] = divisor.empty() ? src[k] : src[k] / divisor[i];
  }
  return out;
}

std::span<const float> values(const Tensor& v) {
  check_cpu_f32(v);
  return {v.f32(), size_t(v.numel())};
}

}  // namespace bitfold::transform::detail
