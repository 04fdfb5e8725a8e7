#pragma once
// Fitting steps to data and applying them: quantize to codes, dequantize, fake-quantize.
//
// Scale rules (clip c from the spec multiplies the range first; the range of one step is the
// min/max of the elements (or channel statistics) that share it):
//   symmetric integers:  Δ = c·absmax / qmax,                      z = 0
//   asymmetric integers: lo = c·min(min, 0), hi = c·max(max, 0)
//                        Δ = (hi − lo) / (qmax − qmin),             z = qmin + round(−lo / Δ)
//   floats:              s = c·absmax / (largest grid value)
//   pow2_scale:          the step is then rounded up to a power of two.
// The asymmetric range is widened to contain 0 so that z is itself a code (it fits the code
// storage, and 0 is exact). Δ is computed in double and stored as float. Guards: an all-zero
// range gives Δ = 1 (any positive step represents 0 exactly; 1 keeps folded weights unscaled); a
// positive step that underflows float becomes FLT_MIN — never 0, never NaN. Non-finite data or
// statistics are an error naming the row/channel.
//
// Codes: int8_t (signed integer grids) or uint8_t (unsigned grids, and float bit patterns), as
// Tensors of DType I8 / U8 and the same shape as the input. fake_quantize(x) is bit-identical to
// dequantize(quantize(x)): both run the same inline codec (int_codec.h, float_grid.h).
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "quant/quant_spec.h"

namespace bitfold::quant {

// Calibration statistics of one activation site: per input channel j, the min and max seen.
struct ChannelStats {
  std::vector<float> min;
  std::vector<float> max;

  int64_t channels() const { return int64_t(max.size()); }
  // Symmetric statistics: min = −absmax, max = absmax.
  static ChannelStats from_absmax(const std::vector<float>& absmax);
};

// Fitted steps and zero-points. Which step covers element (row, col) of a [rows, K] view:
//   Tensor: 0;  OutputChannel / Token: row;  Group: row·(K/g) + col/g;
//   InputChannel: col;  Head: col/g.
struct QuantParams {
  QuantSpec spec;
  int64_t rows = 0;  // rows fitted for (per-row layouts; 0 when fitted from channel statistics)
  int64_t cols = 0;  // K fitted for (0 for per-tensor steps)
  std::vector<float> scale;         // Δ (integers) or the grid scale s (floats)
  std::vector<int32_t> zero_point;  // one per step for asymmetric integer grids, else empty

  int64_t index(int64_t row, int64_t col) const;
  float step(int64_t row, int64_t col) const { return scale[size_t(index(row, col))]; }
  int32_t zero(int64_t row, int64_t col) const {
    return zero_point.empty() ? 0 : zero_point[size_t(index(row, col))];
  }
};

// Steps from the data itself (weights; dynamic activations at run time). Every granularity works;
// per-input-channel and per-head take the column statistics of x.
QuantParams fit_params(const QuantSpec& spec, const Tensor& x);
// Steps from calibration statistics (static activations, KV cache): Tensor, InputChannel, Head.
QuantParams fit_params(const QuantSpec& spec, const ChannelStats& stats);

// x: F32 of any rank, seen as [rows, K]. Returns codes (I8 or U8, the shape of x).
Tensor quantize(const Tensor& x, const QuantParams& params);
// Codes back to F32; throws on a code the format cannot hold (e.g. read from a corrupt file).
Tensor dequantize(const Tensor& codes, const QuantParams& params);
// quantize → dequantize in one pass, bit-identical to dequantize(quantize(x, p), p).
Tensor fake_quantize(const Tensor& x, const QuantParams& params);
// Fits on x (what a dynamic spec does every call) and fake-quantizes; fp16 returns x unchanged.
Tensor fake_quantize(const Tensor& x, const QuantSpec& spec);

// The DType holding one code of a format: I8 for signed integer grids, else U8.
DType code_dtype(const Format& format);

}  // namespace bitfold::quant
