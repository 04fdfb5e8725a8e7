// Parameter fitting per granularity against hand-computed float64 steps on random non-zero data
// at odd shapes, the guards, and fake-quant == dequantize(quantize) bit for bit.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>

#include "quant/float_grid.h"
#include "quant/quantizer.h"
#include "fixtures.h"
#include "reference.h"

namespace bitfold::quant {
namespace {

QuantSpec make_spec(const std::string& format, Granularity g, int64_t group = 0, bool dynamic = false,
                    double clip = 1.0) {
  QuantSpec s;
  s.format = parse_format(format);
  s.granularity = g;
  s.group_size = group;
  s.dynamic = dynamic;
  s.clip = clip;
  return s;
}

// The scale rule written out in float64 (quantizer.h): returns {step, zero-point}.
std::pair<float, int32_t> reference_step(const QuantSpec& spec, double lo, double hi) {
  const FormatTraits t = format_traits(spec.format);
  double step;
  double low = 0;
  if (t.zero_point) {
    low = spec.clip * std::min(lo, 0.0);
    const double high = spec.clip * std::max(hi, 0.0);
    step = (high - low) / double(t.qmax - t.qmin);
  } else if (spec.format.kind == FormatKind::Int) {
    step = spec.clip * std::max(std::fabs(lo), std::fabs(hi)) / t.qmax;
  } else {
    step = spec.clip * std::max(std::fabs(lo), std::fabs(hi)) / t.max_value;
  }
  if (step == 0) step = 1;
  if (spec.pow2_scale) step = std::exp2(std::ceil(std::log2(step)));
  float s = float(step);
  if (s < FLT_MIN) s = FLT_MIN;
  int32_t z = 0;
  if (t.zero_point) z = int32_t(t.qmin + std::nearbyint(-low / double(s)));
  return {s, z};
}

// Checks every step (and zero-point) of p against reference_step over the elements it covers,
// found by brute force from QuantParams::index.
void check_steps(const QuantParams& p, const Tensor& x) {
  const int64_t K = x.dim(-1), rows = x.numel() / K;
  const size_t n = p.scale.size();
  std::vector<double> lo(n, INFINITY), hi(n, -INFINITY);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k) {
      const size_t i = size_t(p.index(r, k));
      ASSERT_LT(i, n);
      lo[i] = std::min(lo[i], double(x.f32()[r * K + k]));
      hi[i] = std::max(hi[i], double(x.f32()[r * K + k]));
    }
  for (size_t i = 0; i < n; ++i) {
    const auto [step, z] = reference_step(p.spec, lo[i], hi[i]);
    ASSERT_EQ(p.scale[i], step) << describe(p.spec) << " step " << i;
    if (format_traits(p.spec.format).zero_point) {
      ASSERT_EQ(p.zero_point[i], z) << describe(p.spec);
    } else {
      ASSERT_TRUE(p.zero_point.empty());
    }
  }
}

// fake_quantize == dequantize(quantize) bit for bit, and both equal the float64 formula.
void check_fake_quant(const QuantParams& p, const Tensor& x) {
  const Tensor codes = quantize(x, p);
  const Tensor back = dequantize(codes, p);
  const Tensor fake = fake_quantize(x, p);
  ASSERT_EQ(fake.shape(), x.shape());
  const int64_t K = x.dim(-1);
  const FormatTraits t = format_traits(p.spec.format);
  std::optional<FloatGrid> grid;
  if (p.spec.format.kind == FormatKind::Float) grid.emplace(p.spec.format);
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_TRUE(reference::same_bits(fake.f32()[i], back.f32()[i]))
        << describe(p.spec) << " element " << i << ": " << fake.f32()[i] << " vs " << back.f32()[i];
    const float step = p.step(i / K, i % K);
    const int32_t z = p.zero(i / K, i % K);
    double expected;
    if (grid) {
      const int code = reference::float_code(x.f32()[i], step, p.spec.format, t.max_magnitude_code);
      expected = double(step) * grid->value(uint8_t(code));
    } else {
      expected = double(step) * (reference::int_code(x.f32()[i], step, z, t.qmin, t.qmax) - z);
    }
    ASSERT_TRUE(reference::same_bits(fake.f32()[i], float(expected)))
        << describe(p.spec) << " element " << i << " x " << x.f32()[i];
  }
}

TEST(Fit, WeightGranularitiesMatchFloat64) {
  const Tensor w = reference::random_tensor({7, 96}, 1, 0.05f);
  for (const char* format : {"int4", "int4-balanced", "uint4", "int2-bitbalanced",
                             "uint3-bitbalanced", "int8", "uint6", "e2m1", "e3m2", "fp8-e4m3fn"}) {
    for (double clip : {1.0, 0.8}) {
      for (const QuantSpec& spec :
           {make_spec(format, Granularity::Tensor, 0, false, clip),
            make_spec(format, Granularity::OutputChannel, 0, false, clip),
            make_spec(format, Granularity::Group, 32, false, clip),
            make_spec(format, Granularity::Group, 96, false, clip)}) {
        const QuantParams p = fit_params(spec, w);
        const size_t expected_steps = spec.granularity == Granularity::Tensor ? 1
                                      : spec.granularity == Granularity::OutputChannel
                                          ? 7
                                          : size_t(7 * (96 / spec.group_size));
        ASSERT_EQ(p.scale.size(), expected_steps) << describe(spec);
        check_steps(p, w);
        check_fake_quant(p, w);
      }
    }
  }
}

TEST(Fit, GroupsOfEveryKernelSizeAtOddRowCounts) {
  const Tensor w = reference::random_tensor({5, 384}, 2);
  for (int64_t g : {32, 64, 128}) {
    const QuantParams p = fit_params(make_spec("int4", Granularity::Group, g), w);
    EXPECT_EQ(p.scale.size(), size_t(5 * 384 / g));
    EXPECT_EQ(p.index(3, 200), 3 * (384 / g) + 200 / g);
    check_steps(p, w);
    check_fake_quant(p, w);
  }
}

TEST(Fit, GroupNotDividingKIsAClearError) {
  const Tensor w = reference::random_tensor({3, 100}, 3);
  try {
    fit_params(make_spec("int4", Granularity::Group, 64), w);
    ADD_FAILURE() << "group 64 accepted for K = 100";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("group size 64 does not divide K = 100"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(fit_params(make_spec("int4", Granularity::Group, 0), w), Error);
}

TEST(Fit, StaticPerInputChannelFromStatistics) {
  // Calibration statistics of 33 channels with very different ranges, some one-sided.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<float> u(-3, 3);
  ChannelStats stats;
  for (int j = 0; j < 33; ++j) {
    float a = u(rng) * float(1 + j % 5 * 20), b = u(rng);
    if (j % 7 == 3) a = std::fabs(a), b = std::fabs(b) + a;  // all-positive channel
    stats.min.push_back(std::min(a, b));
    stats.max.push_back(std::max(a, b));
  }
  for (const char* format : {"int4", "int6-balanced", "uint4", "uint8", "e2m1", "fp8-e4m3fn"}) {
    for (double clip : {1.0, 0.9}) {
      const QuantSpec spec = make_spec(format, Granularity::InputChannel, 0, false, clip);
      const QuantParams p = fit_params(spec, stats);
      ASSERT_EQ(p.scale.size(), 33u);
      for (int j = 0; j < 33; ++j) {
        const auto [step, z] = reference_step(spec, stats.min[size_t(j)], stats.max[size_t(j)]);
        ASSERT_EQ(p.scale[size_t(j)], step) << format << " channel " << j;
        if (!p.zero_point.empty()) {
          ASSERT_EQ(p.zero_point[size_t(j)], z) << format << " channel " << j;
        }
      }
      // Applied to activations of 9 tokens: element (t, j) uses channel j's step.
      const Tensor x = reference::random_tensor({9, 33}, 5, 2.0f);
      EXPECT_EQ(p.index(8, 17), 17);
      check_fake_quant(p, x);

      // Static per-tensor from the same statistics: the extremes over all channels.
      const QuantParams whole = fit_params(make_spec(format, Granularity::Tensor, 0, false, clip), stats);
      const auto [step, z] =
          reference_step(whole.spec, *std::min_element(stats.min.begin(), stats.min.end()),
                         *std::max_element(stats.max.begin(), stats.max.end()));
      ASSERT_EQ(whole.scale, std::vector<float>{step});
      if (!whole.zero_point.empty()) {
        ASSERT_EQ(whole.zero_point[0], z);
      }
    }
  }
  // from_absmax gives symmetric statistics.
  const ChannelStats sym = ChannelStats::from_absmax({1.0f, 2.5f});
  EXPECT_EQ(sym.min, (std::vector<float>{-1.0f, -2.5f}));
}

TEST(Fit, PerInputChannelFromATensorUsesColumnRanges) {
  const Tensor x = reference::random_tensor({11, 37}, 6);
  for (const char* format : {"int8", "uint4"}) {
    const QuantParams p = fit_params(make_spec(format, Granularity::InputChannel), x);
    ASSERT_EQ(p.scale.size(), 37u);
    check_steps(p, x);
    check_fake_quant(p, x);
  }
}

TEST(Fit, DynamicPerTokenIsOneStepPerRowFromTheData) {
  const Tensor x = reference::random_tensor({2, 3, 45}, 7, 3.0f);  // [batch, tokens, K]: 6 rows
  for (const char* format : {"int4", "uint4", "int8", "e2m1", "e4m3"}) {
    const QuantSpec spec = make_spec(format, Granularity::Token, 0, true);
    const QuantParams p = fit_params(spec, x);
    ASSERT_EQ(p.scale.size(), 6u);
    check_steps(p, x);
    check_fake_quant(p, x);
    // The one-call form fits and fake-quantizes the same way.
    const Tensor once = fake_quantize(x, spec);
    const Tensor twice = fake_quantize(x, p);
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_TRUE(reference::same_bits(once.f32()[i], twice.f32()[i]));
  }
  // Dynamic per-group activations (FlexQ's per-(token, 128-group) scales).
  const Tensor a = reference::random_tensor({3, 256}, 8);
  const QuantParams g = fit_params(make_spec("int6", Granularity::Group, 128, true), a);
  ASSERT_EQ(g.scale.size(), 6u);
  check_steps(g, a);
  check_fake_quant(g, a);
}

TEST(Fit, StaticPerHeadForTheKvCache) {
  // 3 KV heads of head_dim 10: statistics of 30 channels, one step per head.
  ChannelStats stats;
  for (int j = 0; j < 30; ++j) {
    stats.min.push_back(-0.1f * float(j + 1));
    stats.max.push_back(0.05f * float((j * 7) % 30 + 1));
  }
  for (const char* format : {"int8", "uint4", "fp8-e4m3fn"}) {
    const QuantSpec spec = make_spec(format, Granularity::Head, 10);
    const QuantParams p = fit_params(spec, stats);
    ASSERT_EQ(p.scale.size(), 3u);
    for (int h = 0; h < 3; ++h) {
      double lo = INFINITY, hi = -INFINITY;
      for (int j = h * 10; j < h * 10 + 10; ++j) {
        lo = std::min(lo, double(stats.min[size_t(j)]));
        hi = std::max(hi, double(stats.max[size_t(j)]));
      }
      const auto [step, z] = reference_step(spec, lo, hi);
      ASSERT_EQ(p.scale[size_t(h)], step);
      if (!p.zero_point.empty()) {
        ASSERT_EQ(p.zero_point[size_t(h)], z);
      }
    }
    check_fake_quant(p, reference::random_tensor({4, 30}, 9, 1.5f));
  }
  ChannelStats odd = stats;
  odd.min.resize(25);
  odd.max.resize(25);
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::Head, 10), odd), Error);
}

TEST(Fit, GuardsAllZeroAndTinyRanges) {
  // Row 0 all zero, row 1 subnormal-sized, row 2 a constant positive value, row 3 ordinary.
  Tensor w = Tensor::zeros({4, 8}, DType::F32);
  for (int k = 0; k < 8; ++k) {
    w.f32()[8 + k] = k % 2 ? 1e-42f : -1e-43f;
    w.f32()[16 + k] = 5.0f;
    w.f32()[24 + k] = float(k) - 3.5f;
  }
  for (const char* format : {"int4", "uint4", "int2-bitbalanced", "e2m1", "fp8-e5m2"}) {
    const QuantParams p = fit_params(make_spec(format, Granularity::OutputChannel), w);
    for (float s : p.scale) {
      EXPECT_TRUE(std::isfinite(s) && s > 0) << format << " step " << s;
      EXPECT_GE(s, FLT_MIN) << format;
    }
    EXPECT_EQ(p.scale[0], 1.0f) << format << ": all-zero rows get step 1";
    check_steps(p, w);
    const Tensor fake = fake_quantize(w, p);
    for (int k = 0; k < 8; ++k) {
      EXPECT_EQ(fake.f32()[k], 0.0f);
      EXPECT_TRUE(std::isfinite(fake.f32()[8 + k]));
    }
    check_fake_quant(p, w);
  }
  // Asymmetric: the range is widened to contain 0, so a constant row is exact at code qmax
  // with z = 0.
  const QuantParams a = fit_params(make_spec("uint4", Granularity::OutputChannel), w);
  EXPECT_EQ(a.zero_point[2], 0);
  EXPECT_EQ(fake_quantize(w, a).f32()[16], 5.0f);
  // Statistics of an all-zero channel.
  const QuantParams s = fit_params(make_spec("int8", Granularity::InputChannel), ChannelStats{{0, -1}, {0, 1}});
  EXPECT_EQ(s.scale[0], 1.0f);
}

TEST(Fit, ClipAndPowerOfTwoSteps) {
  const Tensor w = reference::random_tensor({6, 50}, 10);
  QuantSpec spec = make_spec("int4", Granularity::OutputChannel, 0, false, 0.7);
  const QuantParams clipped = fit_params(spec, w);
  check_steps(clipped, w);
  check_fake_quant(clipped, w);  // values beyond the clipped range saturate
  spec.pow2_scale = true;
  for (const char* format : {"int4", "e2m1", "uint4"}) {
    spec.format = parse_format(format);
    const QuantParams p = fit_params(spec, w);
    for (size_t i = 0; i < p.scale.size(); ++i) {
      int exponent;
      EXPECT_EQ(std::frexp(p.scale[i], &exponent), 0.5f) << format << ": a power of two";
    }
    check_steps(p, w);
    check_fake_quant(p, w);
  }
}

TEST(Fit, RejectsNonFiniteDataAndBadStatistics) {
  Tensor w = reference::random_tensor({4, 16}, 12);
  w.f32()[2 * 16 + 5] = NAN;
  try {
    fit_params(make_spec("int4", Granularity::OutputChannel), w);
    ADD_FAILURE() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 2 holds a non-finite value"), std::string::npos) << e.what();
  }
  w.f32()[2 * 16 + 5] = INFINITY;
  EXPECT_THROW(fit_params(make_spec("int4", Granularity::Tensor), w), Error);
  try {
    fit_params(make_spec("int4", Granularity::InputChannel), w);
    ADD_FAILURE() << "inf accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("column 5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::InputChannel), ChannelStats{{0, NAN}, {1, 1}}), Error);
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::InputChannel), ChannelStats{{2}, {1}}), Error);
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::InputChannel), ChannelStats{{0, 0}, {1}}), Error);
  // Per-token and per-output-channel steps do not come from channel statistics.
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::Token, 0, true), ChannelStats{{0}, {1}}), Error);
  EXPECT_THROW(fit_params(make_spec("int8", Granularity::OutputChannel), ChannelStats{{0}, {1}}), Error);
}

TEST(Fit, SpecValidation) {
  EXPECT_THROW(make_spec("int4", Granularity::Token).validate("x"), Error);  // static per-token
  EXPECT_THROW(make_spec("int4", Granularity::InputChannel, 0, true).validate("x"), Error);
  EXPECT_THROW(make_spec("int4", Granularity::OutputChannel, 32).validate("x"), Error);
  EXPECT_THROW(make_spec("int4", Granularity::Tensor, 0, false, 0.0).validate("x"), Error);
  EXPECT_THROW(make_spec("int4", Granularity::Tensor, 0, false, 1.5).validate("x"), Error);
  EXPECT_NO_THROW(make_spec("int4", Granularity::Tensor, 0, true).validate("x"));
  EXPECT_NO_THROW(make_spec("fp16", Granularity::Token).validate("x"));  // not quantized
}

TEST(Fit, ParamsMustFitTheTensor) {
  const Tensor w = reference::random_tensor({4, 16}, 13);
  const QuantParams p = fit_params(make_spec("int4", Granularity::OutputChannel), w);
  EXPECT_THROW(quantize(reference::random_tensor({5, 16}, 14), p), Error);
  const QuantParams c = fit_params(make_spec("int4", Granularity::InputChannel), w);
  EXPECT_THROW(fake_quantize(reference::random_tensor({4, 17}, 15), c), Error);
  EXPECT_NO_THROW(fake_quantize(reference::random_tensor({9, 16}, 16), c));
}

TEST(Fit, FakeQuantEqualsDequantOfQuantForEveryFormatAndGranularity) {
  const Tensor w = reference::random_tensor({13, 64}, 17, 0.7f);
  for (const Format& f : reference::all_formats()) {
    for (const QuantSpec& base :
         {make_spec("int4", Granularity::Tensor), make_spec("int4", Granularity::OutputChannel),
          make_spec("int4", Granularity::Group, 32), make_spec("int4", Granularity::InputChannel),
          make_spec("int4", Granularity::Token, 0, true), make_spec("int4", Granularity::Head, 16),
          make_spec("int4", Granularity::OutputChannel, 0, false, 0.6)}) {
      QuantSpec spec = base;
      spec.format = f;
      const QuantParams p = fit_params(spec, w);
      const Tensor fake = fake_quantize(w, p);
      const Tensor back = dequantize(quantize(w, p), p);
      for (int64_t i = 0; i < w.numel(); ++i)
        ASSERT_TRUE(reference::same_bits(fake.f32()[i], back.f32()[i])) << describe(spec) << " " << i;
    }
  }
}

TEST(Fit, Fp16SpecIsThePassThrough) {
  const Tensor x = reference::random_tensor({3, 5}, 18);
  const Tensor y = fake_quantize(x, make_spec("fp16", Granularity::Tensor));
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y.f32()[i], x.f32()[i]);
  EXPECT_TRUE(fit_params(make_spec("fp16", Granularity::Tensor), x).scale.empty());
}

}  // namespace
}  // namespace bitfold::quant
