#pragma once
// A quantized linear layer Y = X Wᵀ + b as the integer engine runs it (docs/quantization.md §1):
//
//   activation codes x̃ (q-bit integers, or ExMy values at unit scale) × weight codes W̃ (p bits),
//   exact integer accumulation per K-block g (the group, or all of K):
//     acc[t,i,g] = Σ_{j∈g} a[t,j] · w[i,j]
//       a = integer of x̃ (minus the token's zero-point for dynamic asymmetric activations)
//       w = integer of W̃ minus the weight zero-point
//   epilogue, in float, in this order (the CUDA kernels' Epilogue):
//     y[t,i] = Σ_g ((acc[t,i,g] · sw[i,g]) · sx[t,g]) + bias'[i]
//       sw = Δw · unit_w · unit_x   (unit: the value of integer 1 of a float grid; 1 for integers)
//       sx = Δx of the token (dynamic), else 1 (not applied)
//       bias' = b − Σ_g sw[i,g] · Σ_{j∈g} za_j · w[i,j]   (static zero-points become a bias; in
//               double, rounded once)
//
// Static activation steps Δa are never applied at run time: they are pre-executed into the
// weights before weight quantization, W' = W·diag(Δa), and W̃, Δw are the codes and steps of W'.
// The consumer either divides by its own step (Δa stored here, the activation quantizer computes
// round(x/Δa)) or the producer already emitted values on the grid (Δa = 1 stored here: "folded
// upstream"). Both are the same QuantizedLinear with different steps.
//
// Weight-only layers (activations not quantized) run x · Ŵᵀ + b with Ŵ = Δw·(W̃ − zw) in float.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "quant/quantizer.h"

namespace bitfold::quant {

// Precision of the CPU GEMM on integer-valued operands: float when every partial sum is provably
// below 2^24 (so SGEMM is exact whatever its order or FMA use), else double (exact below 2^53).
enum class Accumulator : uint8_t { Float32, Float64 };

// Every finite code of a format as the integer it stands for, in units of the grid's finest
// spacing: integer grids: the code itself (unit 1); float grids: value(code) / unit with
// unit = 2^(1 − bias − m), the subnormal spacing, of which every finite value is a multiple.
struct GridIntegers {
  double unit = 1;
  double max_abs = 0;  // the largest |integer| of any valid code
  std::array<double, 256> of_code{};  // indexed by the code byte (I8 codes cast to uint8_t)
};
GridIntegers grid_integers(const Format& format);

class QuantizedLinear {
 public:
  // input: the activation quantizer: format none (weight-only), dynamic (Token / Tensor / Group;
  //        no steps), or static Tensor / InputChannel steps fitted for K columns (Δa, and za for
  //        asymmetric grids). Static steps must already be pre-executed into the weights.
  // weight_params, weight_codes: steps and codes [N, K] of W' (Tensor, OutputChannel or Group).
  // bias: [N] F32 or undefined. name: for messages ("model.layers.3.mlp.down_proj").
  // Throws bitfold::Error for inconsistent parts (shapes, granularities, codes outside the
  // format, weight and activation groups of different sizes).
  QuantizedLinear(QuantParams input, QuantParams weight_params, Tensor weight_codes, Tensor bias,
                  std::string name);

  const std::string& name() const { return name_; }
  int64_t out_features() const { return n_; }
  int64_t in_features() const { return k_; }
  const QuantParams& input() const { return input_; }
  const QuantParams& weight_params() const { return weight_params_; }
  const Tensor& weight_codes() const { return weight_codes_; }  // I8 / U8 [N, K]
  const Tensor& bias() const { return bias_; }                  // b, before zero-point folding
  bool weight_only() const { return !input_.spec.quantized(); }

  // ---- what the engine runs, derived once ----
  // Columns of one exact accumulation (the weight or activation group size, else K).
  int64_t block_size() const { return block_; }
  int64_t blocks() const { return k_ / block_; }
  // max over rows and blocks of max|a| · Σ_{j∈g} |w[i,j]|: no partial sum can exceed it.
  double accumulation_bound() const { return bound_; }
  Accumulator accumulator() const { return accumulator_; }
  // w = integer of W̃ − zw, [N, K], F32 or F64 by accumulator(); undefined for weight-only.
  const Tensor& weight_integers() const { return weight_integers_; }
  // sw[i, g] = Δw·unit_w·unit_x, [N · blocks()].
  const std::vector<float>& weight_scales() const { return weight_scales_; }
  // bias' (F32 [N]), undefined when there is neither a bias nor a static zero-point.
  const Tensor& engine_bias() const { return engine_bias_; }
  // Ŵ = Δw·(W̃ − zw) F32 [N, K]: the weight-only path's operand (defined only there).
  const Tensor& dequantized_weight() const { return dequantized_weight_; }
  // The integers of the activation format's codes.
  const GridIntegers& activation_integers() const { return act_integers_; }

  // ---- the same operands as tensors on the device the layer runs on ----
  // Where weight_integers(), engine_bias(), dequantized_weight() and the tensors below live.
  // Codes, steps (QuantParams) and bias() always stay on the host: checkpoints and methods read
  // them there.
  Device device() const { return device_; }
  // sw as F32 [N · blocks()]; undefined for weight-only layers.
  const Tensor& weight_scale_tensor() const { return weight_scale_tensor_; }
  // Static activation steps Δa (F32 [1] or [K]) and zero-points (I32, same count; undefined for
  // symmetric grids); undefined for dynamic or fp16 activations.
  const Tensor& input_step_tensor() const { return input_step_tensor_; }
  const Tensor& input_zero_point_tensor() const { return input_zero_point_tensor_; }
  // activation_integers().of_code as F64 [256]; undefined for weight-only layers.
  const Tensor& activation_integer_table() const { return act_integer_table_; }

  // A copy whose engine operands live on `device` (the host parts are shared, not copied); the
  // layer itself when it is there already. What model::to_device moves.
  QuantizedLinear to(Device device) const;

 private:
  std::string name_;
  int64_t n_ = 0, k_ = 0;
  QuantParams input_, weight_params_;
  Tensor weight_codes_, bias_;

  int64_t block_ = 0;
  double bound_ = 0;
  Accumulator accumulator_ = Accumulator::Float32;
  Tensor weight_integers_, engine_bias_, dequantized_weight_;
  std::vector<float> weight_scales_;
  GridIntegers act_integers_;
  Device device_ = Device::CPU;
  Tensor weight_scale_tensor_, input_step_tensor_, input_zero_point_tensor_, act_integer_table_;
};

// W' = W·diag(Δa): static activation steps pre-executed into the weight columns (a copy; W itself
// for weight-only or dynamic inputs). weight [N, K] F32.
Tensor pre_execute_input_steps(const Tensor& weight, const QuantParams& input);

// Round-to-nearest quantization of a float linear: W' = pre_execute_input_steps(W, input), steps
// fitted on W' with weight_spec, codes = quantize(W', steps).
QuantizedLinear quantize_linear(const Tensor& weight, const Tensor& bias, const QuantParams& input,
                                const QuantSpec& weight_spec, std::string name);

}  // namespace bitfold::quant
