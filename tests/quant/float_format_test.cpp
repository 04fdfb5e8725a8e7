// Float grids against their definitions and a float64 brute-force reference, exhaustively for
// every ExMy of <= 8 bits and the two OCP FP8 formats.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "quant/float_grid.h"
#include "quant/quantizer.h"
#include "fixtures.h"
#include "reference.h"

namespace bitfold::quant {
namespace {

std::vector<Format> float_formats() {
  std::vector<Format> formats;
  for (const Format& f : reference::all_formats())
    if (f.kind == FormatKind::Float) formats.push_back(f);
  return formats;
}

int magnitude_codes(const Format& f) { return 1 << (f.exponent_bits + f.mantissa_bits); }

TEST(FloatFormat, E2M1IsTheFamiliarFp4Grid) {
  const FloatGrid grid(parse_format("fp4-e2m1"));
  const std::vector<double> expected = {-6, -4, -3, -2, -1.5, -1, -0.5, 0,
                                        0.5, 1, 1.5, 2, 3, 4, 6};
  EXPECT_EQ(grid.sorted_values(), expected);
  // Bit patterns: sign at bit 3, exponent bits 2..1, mantissa bit 0.
  EXPECT_EQ(grid.value(0b0001), 0.5f);  // subnormal
  EXPECT_EQ(grid.value(0b0010), 1.0f);
  EXPECT_EQ(grid.value(0b0111), 6.0f);
  EXPECT_EQ(grid.value(0b1101), -3.0f);
  EXPECT_TRUE(std::signbit(grid.value(0b1000)));  // -0
}

TEST(FloatFormat, EveryCodeHasTheValueOfItsDefinition) {
  for (const Format& f : float_formats()) {
    const FloatGrid grid(f);
    const FormatTraits t = format_traits(f);
    std::set<double> finite;
    for (int c = 0; c < magnitude_codes(f); ++c) {
      for (int sign : {0, 1}) {
        const uint8_t code = uint8_t(c | (sign << (f.exponent_bits + f.mantissa_bits)));
        const float v = grid.value(code);
        if (c <= t.max_magnitude_code) {
          const double expected =
              (sign ? -1 : 1) * reference::float_value(f.exponent_bits, f.mantissa_bits, f.exponent_bias, c);
          ASSERT_EQ(double(v), expected) << format_name(f) << " code " << int(code);
          finite.insert(expected);
        } else {
          ASSERT_FALSE(std::isfinite(v)) << format_name(f) << " code " << int(code);
        }
      }
    }
    EXPECT_EQ(int64_t(finite.size()), t.levels) << format_name(f);
    EXPECT_EQ(grid.sorted_values(), std::vector<double>(finite.begin(), finite.end())) << format_name(f);
    // Magnitude codes are ordered by value.
    for (int c = 0; c < t.max_magnitude_code; ++c)
      ASSERT_LT(grid.value(uint8_t(c)), grid.value(uint8_t(c + 1))) << format_name(f);
    if (f.encoding == FloatEncoding::AllFinite) {
      EXPECT_EQ(t.max_magnitude_code, magnitude_codes(f) - 1) << "all codes finite";
    }
  }
}

TEST(FloatFormat, OcpSpecialCodes) {
  const FloatGrid e4m3(Format::ocp_e4m3fn());
  EXPECT_TRUE(std::isnan(e4m3.value(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3.value(0xff)));
  EXPECT_EQ(e4m3.value(0x7e), 448.0f);
  EXPECT_EQ(e4m3.value(0x78), 256.0f);      // S.1111.000 is a number in E4M3FN, not inf
  EXPECT_EQ(e4m3.value(0x38), 1.0f);
  EXPECT_EQ(e4m3.value(0x01), 0x1p-9f);     // smallest subnormal
  EXPECT_EQ(e4m3.value(0x08), 0x1p-6f);     // smallest normal
  for (int c = 0; c < 256; ++c)
    EXPECT_FALSE(std::isinf(e4m3.value(uint8_t(c)))) << "E4M3FN has no inf, code " << c;

  const FloatGrid e5m2(Format::ocp_e5m2());
  EXPECT_EQ(e5m2.value(0x7c), INFINITY);
  EXPECT_EQ(e5m2.value(0xfc), -INFINITY);
  for (int c : {0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}) EXPECT_TRUE(std::isnan(e5m2.value(uint8_t(c))));
  EXPECT_EQ(e5m2.value(0x7b), 57344.0f);
  EXPECT_EQ(e5m2.value(0x3c), 1.0f);
  EXPECT_EQ(e5m2.value(0x01), 0x1p-16f);

  // Known conversions (satfinite): saturate to ±max, NaN to the NaN code.
  EXPECT_EQ(e4m3.encode(448.0f, 1), 0x7e);
  EXPECT_EQ(e4m3.encode(464.0f, 1), 0x7e);
  EXPECT_EQ(e4m3.encode(1e9f, 1), 0x7e);
  EXPECT_EQ(e4m3.encode(-INFINITY, 1), 0xfe);
  EXPECT_EQ(e4m3.encode(NAN, 1), 0x7f);
  EXPECT_EQ(e4m3.encode(1.0f, 1), 0x38);
  EXPECT_EQ(e4m3.encode(0x1p-10f, 1), 0x00);       // half the smallest subnormal: tie to even 0
  EXPECT_EQ(e4m3.encode(0x1.8p-9f, 1), 0x02);      // 1.5 subnormal steps: tie to even 2
  EXPECT_EQ(e5m2.encode(57344.0f, 1), 0x7b);
  EXPECT_EQ(e5m2.encode(61440.0f, 1), 0x7b);        // would be inf in IEEE rounding; saturates
  EXPECT_EQ(e5m2.encode(INFINITY, 1), 0x7b);
  EXPECT_EQ(e5m2.encode(NAN, 1), 0x7f);
}

TEST(FloatFormat, EveryFiniteValueRoundTripsExactly) {
  for (const Format& f : float_formats()) {
    const FloatGrid grid(f);
    const FormatTraits t = format_traits(f);
    for (int sign : {0, 1}) {
      for (int c = 0; c <= t.max_magnitude_code; ++c) {
        const uint8_t code = uint8_t(c | (sign << grid.sign_bit()));
        ASSERT_EQ(grid.encode(grid.value(code), 1.0f), code) << format_name(f);
        // At a non-trivial step too, through the tensor API.
        const float step = 0.3f;
        const float x = grid.decode(code, step);
        const QuantParams p = reference::per_tensor_params(f, step);
        const Tensor codes = quantize(Tensor::from_floats({x}, {1}), p);
        ASSERT_EQ(codes.data<uint8_t>()[0], code) << format_name(f);
        ASSERT_TRUE(reference::same_bits(dequantize(codes, p).f32()[0], x));
      }
    }
  }
}

TEST(FloatFormat, MidpointsTieToTheEvenCodeAndNeighboursGoToNeighbours) {
  for (const Format& f : float_formats()) {
    const FloatGrid grid(f);
    const FormatTraits t = format_traits(f);
    for (int sign : {1, -1}) {
      for (int c = 0; c < t.max_magnitude_code; ++c) {
        const double lo = grid.value(uint8_t(c)), hi = grid.value(uint8_t(c + 1));
        const float mid = float(sign * (lo + hi) / 2);  // exact: m + 2 significant bits
        ASSERT_EQ(double(mid), sign * (lo + hi) / 2);
        const int s = sign < 0 ? 1 << grid.sign_bit() : 0;
        const int even = c % 2 == 0 ? c : c + 1;
        ASSERT_EQ(grid.encode(mid, 1.0f), s | even) << format_name(f) << " between codes " << c;
        const float inner = std::nextafter(mid, 0.0f), outer = std::nextafter(mid, sign * INFINITY);
        ASSERT_EQ(grid.encode(inner, 1.0f), s | c) << format_name(f) << " below midpoint " << c;
        ASSERT_EQ(grid.encode(outer, 1.0f), s | (c + 1)) << format_name(f) << " above midpoint " << c;
      }
    }
  }
}

TEST(FloatFormat, TiesWithoutMantissaBitsGoToTheEvenExponent) {
  // E3M0, bias 3: codes 2, 3, 4 are 0.5, 1, 2. The tie 0.75 goes down to code 2, the tie 1.5 up
  // to code 4: the even code, whichever side it is on.
  const FloatGrid grid(parse_format("e3m0"));
  EXPECT_EQ(grid.value(2), 0.5f);
  EXPECT_EQ(grid.value(3), 1.0f);
  EXPECT_EQ(grid.value(4), 2.0f);
  EXPECT_EQ(grid.encode(0.75f, 1), 2);
  EXPECT_EQ(grid.encode(1.5f, 1), 4);
  EXPECT_EQ(grid.encode(0.125f, 1), 0);  // between 0 and the smallest value 0.25
}

TEST(FloatFormat, SaturatesToMaxAndMapsNan) {
  for (const Format& f : float_formats()) {
    const FloatGrid grid(f);
    const FormatTraits t = format_traits(f);
    const float max = float(t.max_value);
    const int s = 1 << grid.sign_bit();
    for (float x : {max, std::nextafter(max, INFINITY), max * 1.2f, max * 4, INFINITY,
                    std::numeric_limits<float>::max()}) {
      ASSERT_EQ(grid.encode(x, 1), t.max_magnitude_code) << format_name(f) << " x " << x;
      ASSERT_EQ(grid.encode(-x, 1), s | t.max_magnitude_code) << format_name(f) << " x " << -x;
    }
    const int nan_code = f.encoding == FloatEncoding::AllFinite ? (s | t.max_magnitude_code) : 0x7f;
    EXPECT_EQ(grid.encode(NAN, 1), nan_code) << format_name(f);
    EXPECT_EQ(grid.encode(0.0f, 1), 0);
    EXPECT_EQ(grid.encode(-0.0f, 1), s) << "the sign of zero is kept";
    EXPECT_EQ(grid.encode(-1e-30f, 1), s) << "tiny negatives round to -0";
  }
}

TEST(FloatFormat, RandomValuesAtRandomStepsMatchTheReference) {
  std::mt19937_64 rng(11);
  for (const Format& f : float_formats()) {
    const FloatGrid grid(f);
    const FormatTraits t = format_traits(f);
    std::uniform_real_distribution<double> log_step(-6, 6);
    for (int trial = 0; trial < 4; ++trial) {
      const float step = float(std::exp2(log_step(rng)));
      std::vector<float> xs;
      std::uniform_real_distribution<double> u(-1.1, 1.1);
      for (int i = 0; i < 200; ++i) {
        // Spread over the binades: a random sign·2^(uniform)·max.
        const double r = u(rng);
        xs.push_back(float(std::copysign(std::exp2(-12 * std::fabs(r) + 0.2), r) * t.max_value * step));
      }
      const QuantParams p = reference::per_tensor_params(f, step);
      const Tensor x = Tensor::from_floats(xs, {int64_t(xs.size())});
      const Tensor codes = quantize(x, p);
      const Tensor fake = fake_quantize(x, p);
      for (size_t i = 0; i < xs.size(); ++i) {
        const int expected = reference::float_code(xs[i], step, f, t.max_magnitude_code);
        ASSERT_EQ(codes.data<uint8_t>()[i], expected) << format_name(f) << " x " << xs[i] << " step " << step;
        const float value = float(double(step) * double(grid.value(uint8_t(expected))));
        ASSERT_TRUE(reference::same_bits(fake.f32()[i], value)) << format_name(f);
      }
    }
  }
}

TEST(FloatFormat, RealBiasMaxValueAndStepAgree) {
  // LLM-FP4: β(maxval) = 2^e − 1 + log2(2 − 2^−m) − log2(maxval); the default bias gives the
  // grid's own maximum.
  for (const Format& f : float_formats()) {
    const double max = format_traits(f).max_value;
    EXPECT_NEAR(real_bias_for_max_value(f, max), f.exponent_bias, 1e-12) << format_name(f);
    EXPECT_EQ(step_for_max_value(f, max), 1.0);
    for (double target : {0.37, 5.0, 1000.0}) {
      const double beta = real_bias_for_max_value(f, target);
      EXPECT_NEAR(step_for_real_bias(f, beta), step_for_max_value(f, target),
                  1e-12 * step_for_max_value(f, target)) << format_name(f);
      EXPECT_NEAR(step_for_max_value(f, target) * max, target, 1e-12 * target);
    }
  }
  const Format e2m1 = parse_format("e2m1");
  EXPECT_NEAR(real_bias_for_max_value(e2m1, 6.0), 1.0, 1e-12);
  EXPECT_NEAR(real_bias_for_max_value(e2m1, 12.0), 0.0, 1e-12);
  EXPECT_EQ(step_for_real_bias(e2m1, -1.0), 4.0);  // 2^(1 − (−1))
  // A larger integer bias is the same grid scaled by a power of two.
  const FloatGrid b1(parse_format("e2m1")), b3(parse_format("e2m1-bias3"));
  for (int c = 0; c < 16; ++c) EXPECT_EQ(b1.value(uint8_t(c)), 4 * b3.value(uint8_t(c)));
}

TEST(FloatFormat, DequantizeRejectsCodesWiderThanTheFormat) {
  const QuantParams p = reference::per_tensor_params(parse_format("e2m1"), 1.0f);
  Tensor codes = Tensor::zeros({4}, DType::U8);
  codes.data<uint8_t>()[2] = 0x10;
  EXPECT_THROW(dequantize(codes, p), Error);
}

}  // namespace
}  // namespace bitfold::quant
