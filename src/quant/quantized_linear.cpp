#include "quant/quantized_linear.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/code_matrix.h"
#include "quant/float_grid.h"

namespace bitfold::quant {

namespace {

// SGEMM on integer-valued floats is exact while every partial sum stays below 2^24 in magnitude
// (all integers up to 2^24 are floats, and a sum or FMA of exact integers below it is exact);
// DGEMM likewise below 2^53.
constexpr double kFloat32Exact = 16777216.0;           // 2^24
constexpr double kFloat64Exact = 9007199254740992.0;   // 2^53

bool is_static_input(const QuantParams& p) { return p.spec.quantized() && !p.spec.dynamic; }

template <class T>
Tensor vector_tensor(const std::vector<T>& values, DType dtype) {
  Tensor t = Tensor::empty({int64_t(values.size())}, dtype);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

Tensor moved(const Tensor& t, Device device) { return t.defined() ? t.to(device) : Tensor(); }

// Columns of one accumulation: the group of whichever operand is grouped (both: they must agree).
int64_t block_size_of(const QuantParams& input, const QuantParams& weights, int64_t K,
                      const std::string& name) {
  const bool wg = weights.spec.granularity == Granularity::Group;
  const bool ag = input.spec.quantized() && input.spec.granularity == Granularity::Group;
  if (wg && ag && weights.spec.group_size != input.spec.group_size)
    fail("{}: weight groups of {} and activation groups of {} differ; the engine accumulates "
         "one block per group, so they must be equal",
         name, weights.spec.group_size, input.spec.group_size);
  if (wg) return weights.spec.group_size;
  if (ag) return input.spec.group_size;
  return K;
}

}  // namespace

GridIntegers grid_integers(const Format& format) {
  GridIntegers g;
  const FormatTraits traits = format_traits(format);
  if (format.kind == FormatKind::Int) {
    for (int byte = 0; byte < 256; ++byte) {
      const int code = traits.signed_codes ? int(int8_t(uint8_t(byte))) : byte;
      g.of_code[size_t(byte)] = code;
    }
    g.max_abs = std::max(std::abs(traits.qmin), std::abs(traits.qmax));
    return g;
  }
  BITFOLD_CHECK(format.kind == FormatKind::Float, "grid_integers of {}", format_name(format));
  const FloatGrid grid(format);
  g.unit = std::ldexp(1.0, 1 - format.exponent_bias - format.mantissa_bits);
  for (int byte = 0; byte < 256; ++byte) {
    const double v = grid.value(uint8_t(byte));
    // Invalid bit patterns, inf and NaN codes stand for no integer: 0 (quantize never emits them
    // for finite inputs; calibration rejects non-finite activations).
    if (!grid.valid_code(uint8_t(byte)) || !std::isfinite(v)) continue;
    const double integer = v / g.unit;
    BITFOLD_CHECK(integer == std::nearbyint(integer), "{} code {} is not a multiple of its unit",
                  format_name(format), byte);
    g.of_code[size_t(byte)] = integer;
    g.max_abs = std::max(g.max_abs, std::fabs(integer));
  }
  return g;
}

QuantizedLinear::QuantizedLinear(QuantParams input, QuantParams weight_params, Tensor weight_codes,
                                 Tensor bias, std::string name)
    : name_(std::move(name)),
      input_(std::move(input)),
      weight_params_(std::move(weight_params)),
      weight_codes_(std::move(weight_codes)),
      bias_(std::move(bias)) {
  // ---- validation: everything a checkpoint or a method could get wrong ----
  if (!weight_codes_.defined() || weight_codes_.rank() != 2)
    fail("{}: weight codes must be a [N, K] matrix", name_);
  n_ = weight_codes_.dim(0);
  k_ = weight_codes_.dim(1);
  const QuantSpec& ws = weight_params_.spec;
  if (!ws.quantized()) fail("{}: the weight spec is not quantized ({})", name_, describe(ws));
  ws.validate(name_ + ": weights");
  if (ws.dynamic || (ws.granularity != Granularity::Tensor &&
                     ws.granularity != Granularity::OutputChannel &&
                     ws.granularity != Granularity::Group))
    fail("{}: weights need static tensor, channel or group steps, not {}", name_, describe(ws));
  ws.check_divides(k_, name_ + ": weights");
  if (weight_codes_.dtype() != code_dtype(ws.format))
    fail("{}: {} weight codes must be {}, got {}", name_, format_name(ws.format),
         dtype_name(code_dtype(ws.format)), dtype_name(weight_codes_.dtype()));
  const size_t weight_steps = ws.granularity == Granularity::Tensor ? 1
                              : ws.granularity == Granularity::OutputChannel
                                  ? size_t(n_)
                                  : size_t(n_ * (k_ / ws.group_size));
  if (weight_params_.scale.size() != weight_steps)
    fail("{}: {} weights of [{}, {}] need {} steps, got {}", name_, describe(ws), n_, k_,
         weight_steps, weight_params_.scale.size());
  if (ws.granularity == Granularity::OutputChannel) weight_params_.rows = n_;
  if (ws.granularity == Granularity::Group) {
    weight_params_.rows = n_;
    weight_params_.cols = k_;
  }
  const FormatTraits wt = format_traits(ws.format);
  if (wt.zero_point != (weight_params_.zero_point.size() == weight_steps) ||
      (!wt.zero_point && !weight_params_.zero_point.empty()))
    fail("{}: {} weights need {} zero-points, got {}", name_, format_name(ws.format),
         wt.zero_point ? weight_steps : 0, weight_params_.zero_point.size());
  for (size_t s = 0; s < weight_steps; ++s) {
    const float d = weight_params_.scale[s];
    if (!(d > 0) || !std::isfinite(d)) fail("{}: weight step {} is {}, not a positive number", name_, s, d);
    if (wt.zero_point && (weight_params_.zero_point[s] < wt.qmin || weight_params_.zero_point[s] > wt.qmax))
      fail("{}: weight zero-point {} of step {} is outside [{}, {}]", name_,
           weight_params_.zero_point[s], s, wt.qmin, wt.qmax);
  }
  if (bias_.defined() && (bias_.dtype() != DType::F32 || bias_.numel() != n_))
    fail("{}: bias must be F32 with {} entries, got {} {}", name_, n_, dtype_name(bias_.dtype()),
         shape_str(bias_.shape()));

  const QuantSpec& as = input_.spec;
  if (as.quantized()) {
    as.validate(name_ + ": activations");
    as.check_divides(k_, name_ + ": activations");
    if (as.granularity == Granularity::OutputChannel || as.granularity == Granularity::Head)
      fail("{}: activations cannot have {} steps", name_, granularity_name(as.granularity));
    if (as.dynamic) {
      if (!input_.scale.empty()) fail("{}: dynamic activations carry no stored steps", name_);
    } else {
      const size_t steps = as.granularity == Granularity::Tensor ? 1 : size_t(k_);
      if (as.granularity != Granularity::Tensor && as.granularity != Granularity::InputChannel)
        fail("{}: static activations need tensor or input-channel steps, not {}", name_,
             describe(as));
      if (input_.scale.size() != steps)
        fail("{}: {} activations need {} steps, got {}", name_, describe(as), steps,
             input_.scale.size());
      const FormatTraits at = format_traits(as.format);
      if ((at.zero_point ? steps : 0) != input_.zero_point.size())
        fail("{}: {} activations need {} zero-points, got {}", name_, format_name(as.format),
             at.zero_point ? steps : 0, input_.zero_point.size());
      for (size_t s = 0; s < steps; ++s) {
        if (!(input_.scale[s] > 0) || !std::isfinite(input_.scale[s]))
          fail("{}: activation step {} is {}, not a positive number", name_, s, input_.scale[s]);
        if (at.zero_point && (input_.zero_point[s] < at.qmin || input_.zero_point[s] > at.qmax))
          fail("{}: activation zero-point {} of step {} is outside [{}, {}]", name_,
               input_.zero_point[s], s, at.qmin, at.qmax);
      }
      input_.rows = 0;
      input_.cols = as.granularity == Granularity::InputChannel ? k_ : 0;
    }
  }
  // Codes outside the format (a corrupt checkpoint) are refused by dequantize.
  Tensor dequantized;
  try {
    dequantized = dequantize(weight_codes_, weight_params_);
  } catch (const Error& e) {
    fail("{}: weights: {}", name_, e.what());
  }

  block_ = block_size_of(input_, weight_params_, k_, name_);
  const int64_t G = k_ / block_;
  if (is_static_input(input_)) {
    input_step_tensor_ = vector_tensor(input_.scale, DType::F32);
    if (!input_.zero_point.empty())
      input_zero_point_tensor_ = vector_tensor(input_.zero_point, DType::I32);
  }

  if (weight_only()) {
    dequantized_weight_ = dequantized;
    engine_bias_ = bias_;
    return;
  }

  // ---- integer operands and the exactness bound ----
  act_integers_ = grid_integers(as.format);
  const GridIntegers wi = grid_integers(ws.format);
  std::vector<double> w(size_t(n_ * k_));
  std::vector<double> row_block_l1(size_t(n_ * G), 0.0);
  const CodeMatrix codes(weight_codes_);
  parallel_for(n_, [&](int64_t i) {
    for (int64_t j = 0; j < k_; ++j) {
      const int code = codes.at(i * k_ + j);
      const double v = wi.of_code[size_t(uint8_t(code))] - double(weight_params_.zero(i, j));
      w[size_t(i * k_ + j)] = v;
      row_block_l1[size_t(i * G + j / block_)] += std::fabs(v);
    }
  });
  double l1 = 0;
  for (double v : row_block_l1) l1 = std::max(l1, v);
  bound_ = act_integers_.max_abs * l1;
  accumulator_ = bound_ < kFloat32Exact ? Accumulator::Float32 : Accumulator::Float64;
  // Beyond 2^53 even double sums may round (only float × float formats with wide exponents get
  // there); the CPU then computes in double anyway and docs/quantization.md says it is not exact.

  weight_integers_ = Tensor::empty({n_, k_}, accumulator_ == Accumulator::Float32 ? DType::F32
                                                                                  : DType::F64);
  if (accumulator_ == Accumulator::Float32) {
    float* dst = weight_integers_.f32();
    for (size_t e = 0; e < w.size(); ++e) dst[e] = float(w[e]);
  } else {
    std::copy(w.begin(), w.end(), weight_integers_.data<double>());
  }

  // sw = Δw · unit_w · unit_x: the units are powers of two, so this is exact.
  const double unit = wi.unit * act_integers_.unit;
  weight_scales_.resize(size_t(n_ * G));
  for (int64_t i = 0; i < n_; ++i)
    for (int64_t g = 0; g < G; ++g)
      weight_scales_[size_t(i * G + g)] = float(double(weight_params_.step(i, g * block_)) * unit);
  weight_scale_tensor_ = vector_tensor(weight_scales_, DType::F32);
  act_integer_table_ = Tensor::empty({256}, DType::F64);
  std::copy(act_integers_.of_code.begin(), act_integers_.of_code.end(),
            act_integer_table_.data<double>());

  // bias' = b − Σ_g sw · Σ_{j∈g} za_j w_ij: a static zero-point is a constant per output channel.
  const bool static_zero = is_static_input(input_) && !input_.zero_point.empty();
  if (static_zero || bias_.defined()) {
    engine_bias_ = Tensor::empty({n_}, DType::F32);
    for (int64_t i = 0; i < n_; ++i) {
      double b = bias_.defined() ? double(bias_.f32()[i]) : 0.0;
      if (static_zero) {
        for (int64_t g = 0; g < G; ++g) {
          double c = 0;  // an exact integer: |c| ≤ max|za| · Σ|w| < 2^53
          for (int64_t j = g * block_; j < (g + 1) * block_; ++j)
            c += double(input_.zero(0, j)) * w[size_t(i * k_ + j)];
          b -= double(weight_scales_[size_t(i * G + g)]) * c;
        }
      }
      engine_bias_.f32()[i] = float(b);
    }
  }
}

QuantizedLinear QuantizedLinear::to(Device device) const {
  if (device == device_) return *this;
  QuantizedLinear out = *this;  // host parts shared (Tensor storage is reference-counted)
  out.device_ = device;
  for (auto member : {&QuantizedLinear::weight_integers_, &QuantizedLinear::engine_bias_,
                      &QuantizedLinear::dequantized_weight_, &QuantizedLinear::weight_scale_tensor_,
                      &QuantizedLinear::input_step_tensor_,
                      &QuantizedLinear::input_zero_point_tensor_,
                      &QuantizedLinear::act_integer_table_})
    out.*member = moved(this->*member, device);
  return out;
}

Tensor pre_execute_input_steps(const Tensor& weight, const QuantParams& input) {
  BITFOLD_CHECK(weight.rank() == 2 && weight.dtype() == DType::F32, "weight {} {}",
                dtype_name(weight.dtype()), shape_str(weight.shape()));
  if (!is_static_input(input)) return weight;
  const int64_t N = weight.dim(0), K = weight.dim(1);
  const size_t steps = input.spec.granularity == Granularity::Tensor ? 1 : size_t(K);
  BITFOLD_CHECK(input.scale.size() == steps, "{} input steps for K = {}", input.scale.size(), K);
  Tensor out = Tensor::empty({N, K}, DType::F32);
  const float* w = weight.f32();
  float* o = out.f32();
  parallel_for(N, [&](int64_t i) {
    for (int64_t j = 0; j < K; ++j)
      o[i * K + j] = w[i * K + j] * input.scale[steps == 1 ? 0 : size_t(j)];
  });
  return out;
}

QuantizedLinear quantize_linear(const Tensor& weight, const Tensor& bias, const QuantParams& input,
                                const QuantSpec& weight_spec, std::string name) {
  const Tensor folded = pre_execute_input_steps(weight, input);
  QuantParams params;
  try {
    params = fit_params(weight_spec, folded);
  } catch (const Error& e) {
    fail("{}: {}", name, e.what());
  }
  Tensor codes = quantize(folded, params);
  return QuantizedLinear(input, std::move(params), std::move(codes), bias, std::move(name));
}

}  // namespace bitfold::quant
