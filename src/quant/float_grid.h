#pragma once
// A float format's grid: every code's value, and round-to-nearest onto it.
//
// Codes are bit patterns in the low 1+e+m bits of a uint8_t: sign at bit e+m, then e exponent
// bits, then m mantissa bits. With the sign bit clear, codes 0..max_magnitude_code are the
// finite values in increasing order, so rounding is done on these "magnitude codes":
//   - round to the nearest value; on a tie take the even magnitude code (last bit 0) — the even
//     mantissa when m >= 1 (IEEE), the even exponent when m = 0;
//   - beyond the largest finite value, saturate to ±max (inf inputs too);
//   - the sign of x is kept, also for results that round to zero (-0 is a code);
//   - NaN: the OCP formats return their NaN code (0x7F); all-finite formats have none and return
//     -max, the lowest value of the grid (as the integer formats send NaN to qmin).
// A quantization step s scales the grid: x̂ = s · value(code), code = encode(x / s).
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/format.h"

namespace bitfold::quant {

class FloatGrid {
 public:
  explicit FloatGrid(const Format& format);

  const Format& format() const { return format_; }
  const FormatTraits& traits() const { return traits_; }
  int sign_bit() const { return sign_shift_; }
  uint8_t nan_code() const { return nan_code_; }  // OCP only; AllFinite has none (returns -max)
  uint8_t nan_result() const { return nan_result_; }  // what encode returns for NaN

  // Value of a code at step 1: ±finite values, ±inf / NaN for the OCP special codes.
  float value(uint8_t code) const { return value_[code]; }
  // The code of x at step `step` (x / step computed in double; see int_codec.h for why).
  uint8_t encode(float x, float step) const {
    const double v = double(x) / double(step);
    return encode_unit(v);
  }
  float decode(uint8_t code, float step) const { return step * value_[code]; }

  // True when `code` is a valid bit pattern of this format (fits its bits).
  bool valid_code(uint8_t code) const { return code <= code_mask_; }

  // The code of v on the step-1 grid. Branch-free apart from NaN (rare, so well predicted):
  // random data would mispredict a subnormal/saturation branch on every other element.
  uint8_t encode_unit(double v) const {
    if (v != v) return nan_result_;
    const uint8_t sign = std::signbit(v) ? sign_mask_ : uint8_t(0);
    double a = std::fabs(v);
    a = a < max_value_ ? a : max_value_;  // saturate (inf too)
    uint64_t bits;
    std::memcpy(&bits, &a, 8);
    // Exponent field of a; subnormals (and 0) share the step of exponent field 1.
    int exponent_field = int(bits >> 52) - 1023 + bias_;
    exponent_field = exponent_field > 1 ? exponent_field : 1;
    // Position of a in units of its binade's step 2^(E - bias - m); exact (a power-of-two scale).
    // Magnitude codes are linear in it: code = (E - 1)·2^m + t for t in [2^m, 2^(m+1)] (normal)
    // or [0, 2^m] (subnormal).
    const double t = a * pow2(mantissa_bits_ + bias_ - exponent_field);
    const int whole = int(t);  // t < 2^(m+1): truncation is floor
    const double fraction = t - whole;
    int code = ((exponent_field - 1) << mantissa_bits_) + whole;
    code += int(fraction > 0.5) | (int(fraction == 0.5) & code);  // ties to the even code
    code = code < max_magnitude_code_ ? code : max_magnitude_code_;
    return uint8_t(sign | code);
  }

  // Every finite value of the format, sorted, -0 and +0 once (as 0): traits().levels entries.
  std::vector<double> sorted_values() const;

 private:
  static double pow2(int k) {  // 2^k for |k| < 1022, built directly (no libm call)
    const uint64_t bits = uint64_t(k + 1023) << 52;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }

  Format format_;
  FormatTraits traits_;
  std::array<float, 256> value_{};
  int mantissa_bits_ = 0;
  int bias_ = 0;
  int sign_shift_ = 0;
  uint8_t sign_mask_ = 0;
  int max_magnitude_code_ = 0;
  uint8_t code_mask_ = 0;
  uint8_t nan_code_ = 0;
  uint8_t nan_result_ = 0;
  double max_value_ = 0;
};

// LLM-FP4's real-valued exponent bias β (methods-reference §4.1) is a scale on the grid of the
// format's integer bias b0: value_β(code) = 2^(b0 − β) · value_b0(code). These convert between
// the three ways to state it; a step s from here goes into QuantParams::scale.
double step_for_real_bias(const Format& format, double real_bias);       // 2^(b0 − β)
double step_for_max_value(const Format& format, double max_value);       // max_value / grid max
double real_bias_for_max_value(const Format& format, double max_value);  // β(maxval) of §4.1

}  // namespace bitfold::quant
