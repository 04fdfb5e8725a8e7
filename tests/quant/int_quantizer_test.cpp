// Integer grids against the float64 brute-force reference, exhaustively: every level, every
// midpoint between adjacent levels (and the floats just below/above it), saturation and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant/int_codec.h"
#include "quant/quantizer.h"
#include "fixtures.h"
#include "reference.h"

namespace bitfold::quant {
namespace {

std::vector<Format> integer_formats() {
  std::vector<Format> formats;
  for (const Format& f : reference::all_formats())
    if (f.kind == FormatKind::Int) formats.push_back(f);
  return formats;
}

// Zero-points to try: 0 for symmetric grids; the ends, an even and an odd code otherwise.
std::vector<int32_t> zero_points(const FormatTraits& t) {
  if (!t.zero_point) return {0};
  return {t.qmin, t.qmin + 1, (t.qmin + t.qmax) / 2, (t.qmin + t.qmax) / 2 + 1, t.qmax};
}

// Quantizes `xs` in one per-tensor call and checks every code (and its dequantized value) against
// the reference.
void check_against_reference(const Format& format, float step, int32_t z,
                             const std::vector<float>& xs, const std::string& what) {
  const FormatTraits t = format_traits(format);
  const QuantParams p = reference::per_tensor_params(format, step, z);
  const Tensor x = Tensor::from_floats(xs, {int64_t(xs.size())});
  const Tensor codes = quantize(x, p);
  const Tensor back = dequantize(codes, p);
  const Tensor fake = fake_quantize(x, p);
  for (size_t i = 0; i < xs.size(); ++i) {
    const int expected = reference::int_code(xs[i], step, z, t.qmin, t.qmax);
    const int got = t.signed_codes ? int(codes.data<int8_t>()[i]) : int(codes.data<uint8_t>()[i]);
    ASSERT_EQ(got, expected) << format_name(format) << " step " << step << " z " << z << " x "
                             << xs[i] << " (" << what << ")";
    const float value = float(double(step) * double(expected - z));  // float64, rounded once
    ASSERT_TRUE(reference::same_bits(back.f32()[i], value)) << format_name(format) << " " << what;
    ASSERT_TRUE(reference::same_bits(fake.f32()[i], value)) << format_name(format) << " " << what;
  }
}

TEST(IntQuantizer, RoundHalfEven) {
  EXPECT_EQ(round_half_even(0.5), 0.0);
  EXPECT_EQ(round_half_even(1.5), 2.0);
  EXPECT_EQ(round_half_even(2.5), 2.0);
  EXPECT_EQ(round_half_even(-0.5), 0.0);
  EXPECT_EQ(round_half_even(-1.5), -2.0);
  EXPECT_EQ(round_half_even(-2.5), -2.0);
  EXPECT_EQ(round_half_even(2.4999999999999996), 2.0);
  EXPECT_EQ(round_half_even(2.5000000000000004), 3.0);
  EXPECT_EQ(round_half_even(-7.0), -7.0);
  EXPECT_EQ(round_half_even(1e15 + 0.5), 1e15);
}

TEST(IntQuantizer, EveryLevelRoundTripsExactly) {
  for (const Format& f : integer_formats()) {
    const FormatTraits t = format_traits(f);
    for (float step : {1.0f, 0.375f, 0.0123f, 3.7e-5f, 1234.5f}) {
      for (int32_t z : zero_points(t)) {
        std::vector<float> xs;
        for (int q = t.qmin; q <= t.qmax; ++q) xs.push_back(float(double(step) * (q - z)));
        check_against_reference(f, step, z, xs, "levels");
        // Every level comes back as its own code.
        const Tensor codes = quantize(Tensor::from_floats(xs, {int64_t(xs.size())}),
                                      reference::per_tensor_params(f, step, z));
        for (int q = t.qmin; q <= t.qmax; ++q) {
          const int got = t.signed_codes ? int(codes.data<int8_t>()[q - t.qmin])
                                         : int(codes.data<uint8_t>()[q - t.qmin]);
          ASSERT_EQ(got, q) << format_name(f) << " step " << step << " z " << z;
        }
      }
    }
  }
}

TEST(IntQuantizer, MidpointsRoundHalfToEvenAndNeighboursGoToNeighbours) {
  for (const Format& f : integer_formats()) {
    const FormatTraits t = format_traits(f);
    for (int32_t z : zero_points(t)) {
      // Power-of-two step: every midpoint is an exact float, so these are true ties.
      const float step = 0.25f;
      std::vector<float> xs;
      for (int q = t.qmin; q < t.qmax; ++q) {
        const float mid = float(step * (q - z + 0.5));
        xs.push_back(mid);
        xs.push_back(std::nextafter(mid, -INFINITY));
        xs.push_back(std::nextafter(mid, INFINITY));
      }
      check_against_reference(f, step, z, xs, "midpoints");
      const Tensor codes =
          quantize(Tensor::from_floats(xs, {int64_t(xs.size())}), reference::per_tensor_params(f, step, z));
      for (int q = t.qmin; q < t.qmax; ++q) {
        const size_t i = size_t(q - t.qmin) * 3;
        auto code = [&](size_t k) {
          return t.signed_codes ? int(codes.data<int8_t>()[k]) : int(codes.data<uint8_t>()[k]);
        };
        const int even = (q - z) % 2 == 0 ? q : q + 1;  // round half to even of x / step
        ASSERT_EQ(code(i), even) << format_name(f) << " tie between " << q << " and " << q + 1;
        ASSERT_EQ(code(i + 1), q) << format_name(f) << " just below the midpoint";
        ASSERT_EQ(code(i + 2), q + 1) << format_name(f) << " just above the midpoint";
      }
      // Non-power-of-two steps: midpoints are not floats; the nearest floats around them.
      for (float odd_step : {0.1f, 0.0371f, 17.3f}) {
        std::vector<float> near;
        for (int q = t.qmin; q < t.qmax; ++q) {
          const float mid = float(double(odd_step) * (q - z + 0.5));
          near.push_back(mid);
          near.push_back(std::nextafter(mid, -INFINITY));
          near.push_back(std::nextafter(mid, INFINITY));
        }
        check_against_reference(f, odd_step, z, near, "midpoints, odd step");
      }
    }
  }
}

TEST(IntQuantizer, SaturatesBeyondTheGridAndSendsNanToQmin) {
  for (const Format& f : integer_formats()) {
    const FormatTraits t = format_traits(f);
    for (int32_t z : zero_points(t)) {
      const float step = 0.5f;
      const float top = step * float(t.qmax - z), bottom = step * float(t.qmin - z);
      const std::vector<float> xs = {top * 1.01f + 1, top + 0.26f, 1e30f, INFINITY,
                                     std::numeric_limits<float>::max(), bottom - 0.26f,
                                     bottom * 1.01f - 1, -1e30f, -INFINITY};
      check_against_reference(f, step, z, xs, "saturation");
      const Tensor codes = quantize(Tensor::from_floats({top + 100, bottom - 100, NAN}, {3}),
                                    reference::per_tensor_params(f, step, z));
      auto code = [&](size_t k) {
        return t.signed_codes ? int(codes.data<int8_t>()[k]) : int(codes.data<uint8_t>()[k]);
      };
      EXPECT_EQ(code(0), t.qmax) << format_name(f);
      EXPECT_EQ(code(1), t.qmin) << format_name(f);
      EXPECT_EQ(code(2), t.qmin) << format_name(f) << " NaN";
    }
  }
}

TEST(IntQuantizer, RandomValuesMatchTheReference) {
  std::mt19937_64 rng(7);
  for (const Format& f : integer_formats()) {
    const FormatTraits t = format_traits(f);
    std::uniform_real_distribution<float> step_dist(1e-3f, 10.0f);
    for (int trial = 0; trial < 3; ++trial) {
      const float step = step_dist(rng);
      for (int32_t z : zero_points(t)) {
        std::uniform_real_distribution<float> x_dist(step * float(t.qmin - z - 3),
                                                     step * float(t.qmax - z + 3));
        std::vector<float> xs(300);
        for (float& x : xs) x = x_dist(rng);
        check_against_reference(f, step, z, xs, "random");
      }
    }
  }
}

TEST(IntQuantizer, DequantizeRejectsCodesOutsideTheGrid) {
  const Format f = parse_format("int4-balanced");  // [-7, 7]: -8 fits int8_t but not the grid
  const QuantParams p = reference::per_tensor_params(f, 1.0f);
  Tensor codes = Tensor::zeros({2, 3}, DType::I8);
  codes.data<int8_t>()[4] = -8;
  try {
    dequantize(codes, p);
    ADD_FAILURE() << "accepted code -8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("code -8 at row 1, column 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bitfold::quant
