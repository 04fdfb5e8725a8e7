#include "quant/float_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace bitfold::quant {

FloatGrid::FloatGrid(const Format& format) : format_(format), traits_(format_traits(format)) {
  BITFOLD_CHECK(format.kind == FormatKind::Float, "FloatGrid of non-float format {}",
                format_name(format));
  mantissa_bits_ = format.mantissa_bits;
  bias_ = format.exponent_bias;
  sign_shift_ = format.exponent_bits + format.mantissa_bits;
  sign_mask_ = uint8_t(1u << sign_shift_);
  max_magnitude_code_ = traits_.max_magnitude_code;
  code_mask_ = uint8_t((1u << format.bits) - 1);
  max_value_ = traits_.max_value;

  const int magnitude_codes = 1 << sign_shift_;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  value_.fill(nan);  // codes wider than the format: never produced, rejected by valid_code
  for (int c = 0; c < magnitude_codes; ++c) {
    float v;
    if (c <= max_magnitude_code_) {
      v = float(float_magnitude(format, c));  // exact: the grid is checked to fit normal floats
    } else if (format.encoding == FloatEncoding::OcpE5M2 && (c & ((1 << mantissa_bits_) - 1)) == 0) {
      v = std::numeric_limits<float>::infinity();
    } else {
      v = nan;
    }
    value_[size_t(c)] = v;
    value_[size_t(c | magnitude_codes)] = -v;
  }
  nan_code_ = format.encoding == FloatEncoding::AllFinite ? uint8_t(0) : uint8_t(0x7f);
  nan_result_ = format.encoding == FloatEncoding::AllFinite
                    ? uint8_t(magnitude_codes | max_magnitude_code_)
                    : nan_code_;
}

std::vector<double> FloatGrid::sorted_values() const {
  std::vector<double> values;
  for (int c = 0; c <= max_magnitude_code_; ++c) {
    const double v = float_magnitude(format_, c);
    values.push_back(v);
    if (c != 0) values.push_back(-v);
  }
  std::sort(values.begin(), values.end());
  return values;
}

double step_for_real_bias(const Format& format, double real_bias) {
  BITFOLD_CHECK(format.kind == FormatKind::Float, "exponent bias of {}", format_name(format));
  return std::exp2(double(format.exponent_bias) - real_bias);
}

double step_for_max_value(const Format& format, double max_value) {
  BITFOLD_CHECK(format.kind == FormatKind::Float, "max value of {}", format_name(format));
  return max_value / format_traits(format).max_value;
}

double real_bias_for_max_value(const Format& format, double max_value) {
  BITFOLD_CHECK(format.kind == FormatKind::Float, "exponent bias of {}", format_name(format));
  const int top_exponent = format_traits(format).max_magnitude_code >> format.mantissa_bits;
  const double top_significand = float_magnitude(format, format_traits(format).max_magnitude_code) /
                                 std::ldexp(1.0, top_exponent - format.exponent_bias);
  return top_exponent + std::log2(top_significand) - std::log2(max_value);
}

}  // namespace bitfold::quant
