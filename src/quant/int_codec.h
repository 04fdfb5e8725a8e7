#pragma once
// The integer quantizer of one parameter (step Δ, zero-point z):
//   q = clamp(round_half_even(x / Δ) + z, qmin, qmax),   x̂ = Δ · (q − z).
// Inline so that the per-element loops in quantizer.cpp (and CPU reference kernels) compile to
// straight-line code with no calls.
//
// Why x / Δ is divided in double: both operands are floats, so the double quotient is close enough
// to the exact one that it lands on the same side of every half-integer (and on it exactly when
// the exact quotient is a tie) — the rounding decision is the exact one, which is what the float64
// reference tests check. A float quotient (or x · (1/Δ) in float) can move a value across a tie.
#include <cstdint>

#include "quant/format.h"

namespace bitfold::quant {

// Round half to even for |v| < 2^51: adding 1.5·2^52 pushes the fraction bits out of the
// double's mantissa, and the FPU's default rounding (to nearest, ties to even) does the rest.
// Needs strict IEEE double arithmetic (no -ffast-math), which bitfold builds with.
inline double round_half_even(double v) {
  constexpr double kShift = 6755399441055744.0;  // 1.5 · 2^52
  return (v + kShift) - kShift;
}

struct IntCodec {
  int qmin = 0;
  int qmax = 0;

  explicit IntCodec(const FormatTraits& traits) : qmin(traits.qmin), qmax(traits.qmax) {}

  // NaN maps to qmin (the lowest value of the grid): the clamp below sends it there.
  int encode(float x, float step, int32_t zero_point) const {
    const double lo = double(qmin) - zero_point;
    const double hi = double(qmax) - zero_point;
    double v = double(x) / double(step);
    // Clamping to integer bounds before rounding equals clamping after (rounding is monotone and
    // fixes integers), and keeps v small for round_half_even.
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return int(round_half_even(v)) + zero_point;
  }

  // The float product of step and a small integer is rounded once, so it equals the float64
  // reference Δ·(q − z) rounded to float.
  static float decode(int code, float step, int32_t zero_point) {
    return step * float(code - zero_point);
  }

  bool valid(int code) const { return code >= qmin && code <= qmax; }
};

}  // namespace bitfold::quant
