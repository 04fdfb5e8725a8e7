// Host side of the CUDA integer engine (quantized_host.h): steps, codecs and buffers for the
// kernels of quantized.cu, in the CPU engine's order (ops/cpu/quantized_linear.cpp):
//   1. steps: the stored static ones (already on the device), or fitted on x now (dynamic);
//   2. a = integers of the codes (dynamic zero-points subtracted);
//   3. exact block products on cuBLAS (SGEMM below the 2^24 bound, else DGEMM), chunks of blocks
//      batched, each chunk's epilogue summing its blocks into y in order.
#ifdef BITFOLD_HAVE_CUDA
#include "ops/cuda/quantized_host.h"

#include <algorithm>

#include "core/error.h"
#include "ops/cuda/cuda_ops.h"
#include "quant/float_grid.h"

namespace bitfold::ops::cuda {

namespace {

using quant::Granularity;
using quant::QuantParams;

// Accumulator elements of one batched product (T·N per block): 128 MiB of F32.
constexpr int64_t kMaxAccumulators = int64_t(1) << 25;

StepLayout layout_of(Granularity granularity) {
  switch (granularity) {
    case Granularity::Tensor: return StepLayout::One;
    case Granularity::OutputChannel: case Granularity::Token: return StepLayout::Row;
    case Granularity::Group: return StepLayout::RowGroup;
    case Granularity::InputChannel: return StepLayout::Column;
    case Granularity::Head: return StepLayout::ColumnGroup;
  }
  return StepLayout::One;
}

StepIndex index_of(const quant::QuantSpec& spec, int64_t K) {
  StepIndex index;
  index.layout = layout_of(spec.granularity);
  index.group = spec.group_size > 0 ? spec.group_size : 1;
  index.K = K;
  return index;
}

GridCodec codec_of(const quant::Format& format) {
  const quant::FormatTraits traits = quant::format_traits(format);
  GridCodec c;
  c.qmin = traits.qmin;
  c.qmax = traits.qmax;
  if (format.kind == quant::FormatKind::Float) {
    const quant::FloatGrid grid(format);
    c.is_float = true;
    c.mantissa_bits = format.mantissa_bits;
    c.bias = format.exponent_bias;
    c.max_magnitude_code = traits.max_magnitude_code;
    c.sign_mask = 1u << grid.sign_bit();
    c.nan_result = grid.nan_result();
    c.max_value = traits.max_value;
  }
  return c;
}

ScaleRule rule_of(const quant::QuantSpec& spec) {
  const quant::FormatTraits traits = quant::format_traits(spec.format);
  ScaleRule r;
  r.zero_point = traits.zero_point;
  r.pow2 = spec.pow2_scale;
  r.clip = spec.clip;
  r.divisor = traits.scale_divisor;
  r.qmin = traits.qmin;
  r.qmax = traits.qmax;
  return r;
}

// Steps and zero-points on the device, fitted now (dynamic) or uploaded (static).
struct DeviceSteps {
  Tensor steps, zeros;
  const float* step_ptr() const { return steps.f32(); }
  const int32_t* zero_ptr() const { return zeros.defined() ? zeros.data<int32_t>() : nullptr; }
};

// quant::fit_params(spec, x) for the dynamic (row) layouts, on the GPU. `what` prefixes errors.
DeviceSteps fit_on_device(const quant::QuantSpec& spec, const Tensor& x, const std::string& what) {
  const int64_t T = x.dim(0), K = x.dim(1);
  spec.validate(what.empty() ? "quantizer" : what);
  spec.check_divides(K, "cannot fit steps");
  const StepIndex index = index_of(spec, K);
  BITFOLD_CHECK(index.layout == StepLayout::One || index.layout == StepLayout::Row ||
                    index.layout == StepLayout::RowGroup,
                "dynamic {} steps on the GPU", quant::describe(spec));
  const int64_t count = index.layout == StepLayout::One ? 1
                        : index.layout == StepLayout::Row ? T
                                                          : T * (K / index.group);
  DeviceSteps d;
  d.steps = Tensor::empty({std::max<int64_t>(count, 1)}, DType::F32, Device::CUDA);
  const ScaleRule rule = rule_of(spec);
  if (rule.zero_point) d.zeros = Tensor::empty(d.steps.shape(), DType::I32, Device::CUDA);
  int32_t* zeros = d.zeros.defined() ? d.zeros.data<int32_t>() : nullptr;
  const int64_t bad = fit_dynamic_steps(x.f32(), T, K, index, rule, d.steps.f32(), zeros);
  const std::string prefix = what.empty() ? "" : what + ": ";
  if (bad >= 0)
    fail("{}cannot fit {} steps: row {} holds a non-finite value (inf or NaN)", prefix,
         quant::describe(spec), bad);
  if (bad == -2) fail("{}cannot fit {} steps: a step overflows float", prefix, quant::describe(spec));
  return d;
}

template <class T>
Tensor upload(const std::vector<T>& values, DType dtype) {
  Tensor host = Tensor::empty({int64_t(values.size())}, dtype);
  std::copy(values.begin(), values.end(), host.data<T>());
  return host.to(Device::CUDA);
}

}  // namespace

void quantized_linear(const Tensor& x, const quant::QuantizedLinear& q, float* y) {
  const int64_t T = x.dim(0), N = q.out_features(), K = q.in_features();
  if (T == 0 || N == 0) return;
  if (q.weight_only()) {
    const Tensor& bias = q.engine_bias();
    linear(x.f32(), q.dequantized_weight().f32(), bias.defined() ? bias.f32() : nullptr, y, T, N,
           K);
    return;
  }
  const QuantParams& stored = q.input();
  const bool dynamic = stored.spec.dynamic;
  const StepIndex index = index_of(stored.spec, K);

  // 1. Steps.
  DeviceSteps fitted;
  const float* steps = nullptr;
  const int32_t* zeros = nullptr;
  if (dynamic) {
    fitted = fit_on_device(stored.spec, x, q.name());
    steps = fitted.step_ptr();
    zeros = fitted.zero_ptr();
  } else {
    steps = q.input_step_tensor().f32();
    zeros = q.input_zero_point_tensor().defined() ? q.input_zero_point_tensor().data<int32_t>()
                                                  : nullptr;
  }

  // 2. Integers of the codes.
  const bool f64 = q.accumulator() == quant::Accumulator::Float64;
  const DType real = f64 ? DType::F64 : DType::F32;
  Tensor a = Tensor::empty({T, K}, real, Device::CUDA);
  quantize_to_integers(x.f32(), T, K, codec_of(stored.spec.format), index, steps, zeros,
                       q.activation_integer_table().data<double>(), dynamic && zeros != nullptr,
                       a.raw(), f64);

  // 3. Exact products per block, the epilogue in the CPU's order.
  const int64_t B = q.block_size(), G = q.blocks();
  const int64_t chunk = std::clamp<int64_t>(kMaxAccumulators / (T * N), 1, G);
  Tensor acc = Tensor::empty({chunk * T * N}, real, Device::CUDA);
  const float* bias = q.engine_bias().defined() ? q.engine_bias().f32() : nullptr;
  for (int64_t g0 = 0; g0 < G; g0 += chunk) {
    const int64_t count = std::min(chunk, G - g0);
    integer_block_products(a.raw(), q.weight_integers().raw(), acc.raw(), f64, T, N, K, B, g0,
                           count);
    quantized_epilogue(acc.raw(), f64, q.weight_scale_tensor().f32(), dynamic ? steps : nullptr,
                       index.layout, bias, y, T, N, G, g0, count);
  }
}

void fake_quantize_rows(Tensor& x, const QuantParams& p) {
  if (!p.spec.quantized()) return;
  const int64_t T = x.dim(0), K = x.dim(1);
  const StepIndex index = index_of(p.spec, K);
  DeviceSteps d;
  if (p.spec.dynamic) {
    d = fit_on_device(p.spec, x, "");
  } else {
    bool fits = true;
    switch (index.layout) {
      case StepLayout::One: fits = p.scale.size() == 1; break;
      case StepLayout::Row: fits = p.rows == T && int64_t(p.scale.size()) == T; break;
      case StepLayout::RowGroup: fits = p.rows == T && p.cols == K; break;
      case StepLayout::Column: fits = p.cols == K && int64_t(p.scale.size()) == K; break;
      case StepLayout::ColumnGroup: fits = p.cols == K; break;
    }
    if (!fits)
      fail("{} steps fitted for [rows, K] = [{}, {}] do not fit a tensor of [{}, {}]",
           quant::describe(p.spec), p.rows, p.cols, T, K);
    d.steps = upload(p.scale, DType::F32);
    if (!p.zero_point.empty()) d.zeros = upload(p.zero_point, DType::I32);
  }
  GridValues values{};
  if (p.spec.format.kind == quant::FormatKind::Float) {
    const quant::FloatGrid grid(p.spec.format);
    for (int c = 0; c < 256; ++c) values.value[c] = grid.value(uint8_t(c));
  }
  fake_quantize(x.f32(), T, K, codec_of(p.spec.format), index, d.step_ptr(), d.zero_ptr(), values);
}

}  // namespace bitfold::ops::cuda
#endif  // BITFOLD_HAVE_CUDA
