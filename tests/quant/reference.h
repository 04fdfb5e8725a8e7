#pragma once
// Float64 references for the quantizer tests, written independently of src/quant: brute-force
// nearest-level search (no division, no rounding tricks) and the grids from their definitions.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "quant/format.h"

namespace bitfold::quant::reference {

// The integer code of x on the grid step·(q − z), q in [qmin, qmax]: the nearest level, ties to
// the level whose q − z is even (round half to even of x/step), saturating at the ends. Distances
// are exact in double near the decision (levels and x are short floats of similar magnitude).
inline int int_code(double x, double step, int z, int qmin, int qmax) {
  if (std::isnan(x)) return qmin;
  // Far outside the grid all distances round alike: saturate first.
  if (x >= step * double(qmax - z)) return qmax;
  if (x <= step * double(qmin - z)) return qmin;
  int best = qmin;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int q = qmin; q <= qmax; ++q) {
    const double d = std::fabs(x - step * double(q - z));
    const bool tie = d == best_distance;
    if (d < best_distance || (tie && (q - z) % 2 == 0)) {
      best = q;
      best_distance = d;
    }
  }
  return best;
}

// Magnitude of float code c = E·2^m + M from the ExMy definition.
inline double float_value(int e, int m, int bias, int c) {
  (void)e;
  const int E = c >> m, M = c & ((1 << m) - 1);
  if (E == 0) return std::pow(2.0, 1 - bias) * (double(M) / std::pow(2.0, m));
  return std::pow(2.0, E - bias) * (1.0 + double(M) / std::pow(2.0, m));
}

// The float code of x at step s: nearest magnitude code among 0..max_code (values s·v_c), ties to
// the even code, saturating; the sign bit (bit e + m) copies the sign of x.
inline int float_code(double x, double s, const Format& f, int max_code) {
  const int sign = std::signbit(x) ? 1 << (f.exponent_bits + f.mantissa_bits) : 0;
  const double a = std::fabs(x);
  const double top = s * float_value(f.exponent_bits, f.mantissa_bits, f.exponent_bias, max_code);
  if (a >= top) return sign | max_code;
  int best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (int c = 0; c <= max_code; ++c) {
    const double d = std::fabs(a - s * float_value(f.exponent_bits, f.mantissa_bits, f.exponent_bias, c));
    if (d < best_distance || (d == best_distance && c % 2 == 0)) {
      best = c;
      best_distance = d;
    }
  }
  return sign | best;
}

// Every format of <= 8 bits the tests sweep: all integer grids and bits, every generic ExMy, a
// few non-default biases, and the two OCP FP8 formats.
inline std::vector<Format> all_formats() {
  std::vector<Format> formats;
  for (const IntGridRow& row : int_grid_table())
    for (int b = 2; b <= row.max_bits; ++b) formats.push_back(Format::integer(row.grid, b));
  for (int e = 1; e <= 7; ++e)
    for (int m = 0; 1 + e + m <= 8; ++m) formats.push_back(Format::float_exmy(e, m));
  formats.push_back(Format::float_exmy(2, 1, 3));
  formats.push_back(Format::float_exmy(3, 2, 0));
  formats.push_back(Format::float_exmy(4, 3, -2));
  formats.push_back(Format::ocp_e4m3fn());
  formats.push_back(Format::ocp_e5m2());
  return formats;
}

inline bool same_bits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}

}  // namespace bitfold::quant::reference
