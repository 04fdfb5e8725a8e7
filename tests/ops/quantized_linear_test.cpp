// ops::quantized_linear (the CPU integer engine) against a float64 reference written here: codes
// by brute-force nearest-level search (tests/quant/reference.h), integer products summed in
// int64 / double, the epilogue in double. Every weight × activation granularity pair, asymmetric
// grids on both sides, float (ExMy) grids, odd shapes; the exactness rule (SGEMM only below 2^24)
// on a constructed worst case; and the two ways a static step can be placed (consumer divides /
// producer folded) giving the same layer.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "file_fixtures.h"
#include "ops/ops.h"
#include "quant/float_grid.h"
#include "quant/quantized_linear.h"
#include "../quant/fixtures.h"
#include "../quant/reference.h"

namespace bitfold::ops {
namespace {

using quant::Format;
using quant::Granularity;
using quant::QuantizedLinear;
using quant::QuantParams;
using quant::QuantSpec;

QuantSpec spec(const std::string& format, Granularity g, bool dynamic = false, int64_t group = 0) {
  QuantSpec s;
  s.format = quant::parse_format(format);
  s.granularity = g;
  s.dynamic = dynamic;
  s.group_size = group;
  return s;
}

// The integer a code stands for, from the format's definition (not from grid_integers).
double code_integer(const Format& f, int code, double* unit) {
  if (f.kind == quant::FormatKind::Int) {
    *unit = 1;
    return code;
  }
  *unit = std::ldexp(1.0, 1 - f.exponent_bias - f.mantissa_bits);
  const int sign_bit = f.exponent_bits + f.mantissa_bits;
  const int magnitude = code & ((1 << sign_bit) - 1);
  const double v = quant::reference::float_value(f.exponent_bits, f.mantissa_bits, f.exponent_bias,
                                                 magnitude);
  return ((code >> sign_bit) & 1 ? -v : v) / *unit;
}

// Code of x at (step, zero) by brute force.
int ref_code(const Format& f, double x, double step, int zero) {
  const quant::FormatTraits t = quant::format_traits(f);
  if (f.kind == quant::FormatKind::Int) return quant::reference::int_code(x, step, zero, t.qmin, t.qmax);
  return quant::reference::float_code(x, step, f, t.max_magnitude_code);
}

struct Reference {
  std::vector<double> y;      // [T, N]
  std::vector<double> scale;  // Σ_g |acc·sw·sx| + |bias| per output: the size of the epilogue terms
};

// y[t,i] = Σ_g acc[t,i,g]·sw[i,g]·sx[t,g] + b[i] − Σ_j za_j·w[i,j]·sw[i,g], in double.
Reference reference(const Tensor& x, const Tensor& w_fp, const Tensor& bias, const QuantParams& in,
                    const QuantSpec& wspec) {
  const int64_t T = x.dim(0), K = x.dim(1), N = w_fp.dim(0);
  const bool act = in.spec.quantized();
  // W' = W·diag(Δa) in float, as the library pre-executes it (one float product per entry).
  Tensor wp = Tensor::empty({N, K}, DType::F32);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < K; ++j) {
      float s = 1.0f;
      if (act && !in.spec.dynamic) s = in.scale[in.scale.size() == 1 ? 0 : size_t(j)];
      wp.f32()[i * K + j] = w_fp.f32()[i * K + j] * s;
    }
  const QuantParams wq = quant::fit_params(wspec, wp);  // steps: tested in tests/quant
  const QuantParams xq = act && in.spec.dynamic ? quant::fit_params(in.spec, x) : in;
  double wunit = 1, xunit = 1;
  Reference r;
  r.y.assign(size_t(T * N), 0.0);
  r.scale.assign(size_t(T * N), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < N; ++i) {
      double y = bias.defined() ? bias.f32()[i] : 0.0;
      double size = std::fabs(y);
      if (!act) {  // weight-only: x · Ŵᵀ
        for (int64_t j = 0; j < K; ++j) {
          const int c = ref_code(wspec.format, wp.f32()[i * K + j], wq.step(i, j), wq.zero(i, j));
          const double wv = (code_integer(wspec.format, c, &wunit) - wq.zero(i, j)) * wunit;
          y += double(x.f32()[t * K + j]) * wv * wq.step(i, j);
          size += std::fabs(double(x.f32()[t * K + j]) * wv * wq.step(i, j));
        }
      } else {
        // One accumulation per step of either operand that changes along K.
        for (int64_t j0 = 0; j0 < K;) {
          int64_t j1 = j0 + 1;
          while (j1 < K && wq.index(i, j1) == wq.index(i, j0) &&
                 (!xq.spec.dynamic || xq.index(t, j1) == xq.index(t, j0)))
            ++j1;
          double acc = 0, zcorr = 0;
          for (int64_t j = j0; j < j1; ++j) {
            const double xs = xq.step(t, j);
            const int xc = ref_code(xq.spec.format, x.f32()[t * K + j], xs, xq.zero(t, j));
            double a = code_integer(xq.spec.format, xc, &xunit);
            if (xq.spec.dynamic) a -= xq.zero(t, j);
            const int wc = ref_code(wspec.format, wp.f32()[i * K + j], wq.step(i, j), wq.zero(i, j));
            const double wv = code_integer(wspec.format, wc, &wunit) - wq.zero(i, j);
            acc += a * wv;
            if (!xq.spec.dynamic) zcorr += double(xq.zero(t, j)) * wv;
          }
          const double sw = double(wq.step(i, j0)) * wunit * xunit;
          const double sx = xq.spec.dynamic ? double(xq.step(t, j0)) : 1.0;
          y += acc * sw * sx - zcorr * sw;
          size += std::fabs(acc * sw * sx) + std::fabs(zcorr * sw);
          j0 = j1;
        }
      }
      r.y[size_t(t * N + i)] = y;
      r.scale[size_t(t * N + i)] = size;
    }
  return r;
}

struct Case {
  const char* name;
  std::string wformat;
  Granularity wgran;
  int64_t wgroup;
  std::string aformat;  // "fp16": weight-only
  Granularity agran;
  bool adynamic;
  int64_t agroup;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class QuantizedLinearCase : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizedLinearCase, MatchesTheFloat64ReferenceAtOddShapes) {
  const Case& c = GetParam();
  struct Shape3 { int64_t T, N, K; };
  for (const Shape3 s : {Shape3{1, 5, 24}, Shape3{3, 9, 48}, Shape3{7, 13, 72}}) {
    SCOPED_TRACE(::testing::Message() << "T " << s.T << " N " << s.N << " K " << s.K);
    const uint64_t seed = uint64_t(s.T * 1000 + s.N * 10 + s.K);
    Tensor x = quant::reference::random_tensor({s.T, s.K}, seed, 1.0f);
    // An outlier channel, so per-channel steps differ.
    for (int64_t t = 0; t < s.T; ++t) x.f32()[t * s.K + 1] *= 9.0f;
    const Tensor w = quant::reference::random_tensor({s.N, s.K}, seed + 1, 0.2f);
    const Tensor b = quant::reference::random_tensor({s.N}, seed + 2, 0.5f);

    QuantParams in;
    in.spec = c.aformat == "fp16" ? QuantSpec{} : spec(c.aformat, c.agran, c.adynamic, c.agroup);
    if (in.spec.quantized() && !in.spec.dynamic) {
      // Static steps from "calibration": the column ranges of a wider sample.
      Tensor calib = quant::reference::random_tensor({64, s.K}, seed + 3, 1.0f);
      for (int64_t t = 0; t < 64; ++t) calib.f32()[t * s.K + 1] *= 9.0f;
      in = quant::fit_params(in.spec, calib);
    }
    const QuantSpec ws = spec(c.wformat, c.wgran, false, c.wgroup);
    const QuantizedLinear q = quant::quantize_linear(w, b, in, ws, "test.linear");
    Tensor y = Tensor::empty({s.T, s.N}, DType::F32);
    quantized_linear(x, q, y);

    const Reference r = reference(x, w, b, in, ws);
    double err = 0, ref = 0;
    for (int64_t e = 0; e < s.T * s.N; ++e) {
      // The epilogue rounds each term to float a few times: a few ulps of the terms' size.
      EXPECT_NEAR(y.f32()[e], r.y[size_t(e)], 4e-7 * r.scale[size_t(e)] + 1e-30) << "output " << e;
      // And the layer approximates the float one (quantization error only).
      double fp = b.f32()[e % s.N];
      for (int64_t j = 0; j < s.K; ++j)
        fp += double(x.f32()[(e / s.N) * s.K + j]) * w.f32()[(e % s.N) * s.K + j];
      err += (y.f32()[e] - fp) * (y.f32()[e] - fp);
      ref += fp * fp;
    }
    // 2-bit weights of W·diag(Δa) with a 9× outlier column lose most small columns (the problem
    // MergeQuant's reconstruction addresses): a looser sanity bound there.
    const double bound = ws.format.bits <= 2 ? 0.5 : 0.15;
    EXPECT_LT(err / ref, bound) << "relative MSE against the float layer";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, QuantizedLinearCase,
    ::testing::Values(
        Case{"W4A16_channel", "int4", Granularity::OutputChannel, 0, "fp16", Granularity::Tensor, false, 0},
        Case{"W4A16_group8", "uint4", Granularity::Group, 8, "fp16", Granularity::Tensor, false, 0},
        Case{"W8A8_static_tensor", "int8", Granularity::OutputChannel, 0, "int8", Granularity::Tensor, false, 0},
        Case{"W8A8_static_channel", "int8", Granularity::OutputChannel, 0, "int8", Granularity::InputChannel, false, 0},
        Case{"W4A4_static_channel_asym", "int4", Granularity::OutputChannel, 0, "uint4", Granularity::InputChannel, false, 0},
        Case{"W4A8_static_asym_tensor_wgroup", "uint4", Granularity::Group, 12, "uint8", Granularity::Tensor, false, 0},
        Case{"W6A6_dynamic_token", "int6", Granularity::OutputChannel, 0, "int6", Granularity::Token, true, 0},
        Case{"W4A4_dynamic_token_asym", "uint4", Granularity::OutputChannel, 0, "uint4", Granularity::Token, true, 0},
        Case{"W8A8_dynamic_tensor", "int8-balanced", Granularity::Tensor, 0, "int8", Granularity::Tensor, true, 0},
        Case{"W6A6_dynamic_group", "int6", Granularity::Group, 8, "int6", Granularity::Group, true, 8},
        Case{"W4A6_channel_dynamic_group", "int4", Granularity::OutputChannel, 0, "int6", Granularity::Group, true, 12},
        Case{"W2starA8", "int2-bitbalanced", Granularity::OutputChannel, 0, "int8", Granularity::InputChannel, false, 0},
        Case{"FP4_E2M1", "e2m1", Granularity::OutputChannel, 0, "e2m1", Granularity::InputChannel, false, 0},
        Case{"W4_FP8_act", "int4", Granularity::OutputChannel, 0, "fp8-e4m3fn", Granularity::Token, true, 0}),
    [](const ::testing::TestParamInfo<Case>& p) { return std::string(p.param.name); });

// Integer-valued codes with step 1: the output is the exact integer accumulator itself.
QuantizedLinear integer_layer(const std::vector<int8_t>& w, int64_t N, int64_t K) {
  QuantParams in;
  in.spec = spec("int8", Granularity::Tensor);
  in.scale = {1.0f};
  QuantParams wp;
  wp.spec = spec("int8", Granularity::OutputChannel);
  wp.scale.assign(size_t(N), 1.0f);
  wp.rows = N;
  Tensor codes = Tensor::empty({N, K}, DType::I8);
  std::copy(w.begin(), w.end(), codes.data<int8_t>());
  return QuantizedLinear(in, wp, codes, Tensor(), "worst.case");
}

TEST(QuantizedLinearExactness, Float64WhenSgemmWouldRound) {
  // x̃ = 127 everywhere; w = 127 for 1100 columns, then −126 for 948: the exact sum is
  // 127·(1100·127 − 948·126) = 2572004, but a float accumulation passes 2^24 on the way up and
  // then adds odd products at a spacing of 2.
  const int64_t K = 2048, up = 1100;
  std::vector<int8_t> w(static_cast<size_t>(K));
  for (int64_t j = 0; j < K; ++j) w[size_t(j)] = j < up ? int8_t(127) : int8_t(-126);
  const QuantizedLinear q = integer_layer(w, 1, K);
  EXPECT_EQ(q.accumulator(), quant::Accumulator::Float64);
  EXPECT_GE(q.accumulation_bound(), 16777216.0);

  int64_t exact = 0;
  float sequential = 0;  // what an SGEMM inner loop does
  for (int64_t j = 0; j < K; ++j) {
    exact += 127 * int64_t(w[size_t(j)]);
    sequential += 127.0f * float(w[size_t(j)]);
  }
  ASSERT_EQ(exact, 2572004);
  ASSERT_NE(double(sequential), double(exact)) << "the case must be one where float32 rounds";

  for (int64_t T : {1, 3}) {
    Tensor x = Tensor::empty({T, K}, DType::F32);
    for (int64_t e = 0; e < T * K; ++e) x.f32()[e] = 127.0f;
    Tensor y = Tensor::empty({T, 1}, DType::F32);
    quantized_linear(x, q, y);
    for (int64_t t = 0; t < T; ++t) EXPECT_EQ(double(y.f32()[t]), double(exact)) << "T " << T;
  }
}

TEST(QuantizedLinearExactness, Float32BelowTheBoundAndExactThere) {
  // The same pattern on K = 1024: bound 128·Σ|w| < 2^24, so SGEMM runs and is exact.
  const int64_t K = 1024, N = 3;
  std::vector<int8_t> w(static_cast<size_t>(N * K));
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(-128, 127);
  for (auto& v : w) v = int8_t(code(rng));
  const QuantizedLinear q = integer_layer(w, N, K);
  EXPECT_EQ(q.accumulator(), quant::Accumulator::Float32);
  EXPECT_LT(q.accumulation_bound(), 16777216.0);
  const int64_t T = 5;
  Tensor x = Tensor::empty({T, K}, DType::F32);
  std::vector<int> xc(static_cast<size_t>(T * K));
  for (int64_t e = 0; e < T * K; ++e) {
    xc[size_t(e)] = code(rng);
    x.f32()[e] = float(xc[size_t(e)]);
  }
  Tensor y = Tensor::empty({T, N}, DType::F32);
  quantized_linear(x, q, y);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < N; ++i) {
      int64_t exact = 0;
      for (int64_t j = 0; j < K; ++j) exact += int64_t(xc[size_t(t * K + j)]) * w[size_t(i * K + j)];
      EXPECT_EQ(double(y.f32()[t * N + i]), double(exact));
    }
}

TEST(QuantizedLinearExactness, BoundUsesRowL1NormsPerGroup) {
  // int4 × int4: max|a| = 8; a row of K = 16 codes of magnitude 7 → bound 8·112 = 896, and with
  // groups of 4 the bound is per group: 8·28 = 224.
  QuantParams in;
  in.spec = spec("int4", Granularity::Tensor);
  in.scale = {0.5f};
  QuantParams wp;
  wp.spec = spec("int4", Granularity::Group, false, 4);
  wp.scale.assign(4, 0.25f);
  Tensor codes = Tensor::empty({1, 16}, DType::I8);
  for (int j = 0; j < 16; ++j) codes.data<int8_t>()[j] = j % 2 ? int8_t(7) : int8_t(-7);
  const QuantizedLinear grouped(in, wp, codes, Tensor(), "g");
  EXPECT_EQ(grouped.accumulation_bound(), 224.0);
  EXPECT_EQ(grouped.blocks(), 4);
  wp.spec = spec("int4", Granularity::OutputChannel);
  wp.scale = {0.25f};
  const QuantizedLinear whole(in, wp, codes, Tensor(), "c");
  EXPECT_EQ(whole.accumulation_bound(), 896.0);
  EXPECT_EQ(whole.blocks(), 1);
}

TEST(QuantizedLinearSteps, ConsumerDividesOrProducerFoldedGiveTheSameLayer) {
  // Static per-channel steps Δa, power-of-two so that the producer's x/Δa is exact in float:
  // (a) the consumer divides by Δa; (b) the producer emitted x/Δa and the consumer's step is 1,
  // with W·diag(Δa) folded into the weights by the method. Same codes, same output bits.
  const int64_t T = 4, K = 16, N = 6;
  const Tensor x = quant::reference::random_tensor({T, K}, 11, 2.0f);
  const Tensor w = quant::reference::random_tensor({N, K}, 12, 0.3f);
  QuantParams divides;
  divides.spec = spec("int4", Granularity::InputChannel);
  divides.cols = K;
  for (int64_t j = 0; j < K; ++j) divides.scale.push_back(std::ldexp(1.0f, int(j % 5) - 3));
  const QuantSpec ws = spec("int4", Granularity::OutputChannel);
  const QuantizedLinear a = quant::quantize_linear(w, Tensor(), divides, ws, "a");

  QuantParams unit = divides;
  std::fill(unit.scale.begin(), unit.scale.end(), 1.0f);
  const Tensor w_folded = quant::pre_execute_input_steps(w, divides);  // what the method folds
  const QuantizedLinear b = quant::quantize_linear(w_folded, Tensor(), unit, ws, "b");
  Tensor x_grid = x.clone();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < K; ++j) x_grid.f32()[t * K + j] /= divides.scale[size_t(j)];

  Tensor ya = Tensor::empty({T, N}, DType::F32), yb = Tensor::empty({T, N}, DType::F32);
  quantized_linear(x, a, ya);
  quantized_linear(x_grid, b, yb);
  for (int64_t e = 0; e < T * N; ++e) EXPECT_EQ(ya.f32()[e], yb.f32()[e]) << e;
  for (int64_t e = 0; e < N * K; ++e)
    EXPECT_EQ(a.weight_codes().data<int8_t>()[e], b.weight_codes().data<int8_t>()[e]);
}

TEST(QuantizedLinearSteps, StaticZeroPointBecomesAnExactBias) {
  // y = Σ (x̃ − za)·w·Δw: with static za the engine computes Σ x̃·w·Δw + bias', bias' =
  // b − Δw·Σ za·w. A one-sided channel range (all positive) makes za non-zero.
  const int64_t T = 3, K = 8, N = 2;
  Tensor x = quant::reference::random_tensor({T, K}, 21, 1.0f);
  for (int64_t e = 0; e < T * K; ++e) x.f32()[e] = std::fabs(x.f32()[e]) + 0.5f;
  const Tensor w = quant::reference::random_tensor({N, K}, 22, 0.3f);
  QuantParams in = quant::fit_params(spec("uint8", Granularity::InputChannel), x);
  in.zero_point.assign(size_t(K), 0);
  for (int64_t j = 0; j < K; ++j) in.zero_point[size_t(j)] = int32_t(10 + j);  // deliberately off
  const QuantizedLinear q = quant::quantize_linear(w, Tensor(), in, spec("int8", Granularity::OutputChannel), "z");
  ASSERT_TRUE(q.engine_bias().defined());
  const Tensor& codes = q.weight_codes();
  for (int64_t i = 0; i < N; ++i) {
    double c = 0;
    for (int64_t j = 0; j < K; ++j) c += double(in.zero_point[size_t(j)]) * codes.data<int8_t>()[i * K + j];
    EXPECT_EQ(q.engine_bias().f32()[i], float(-double(q.weight_scales()[size_t(i)]) * c));
  }
}

TEST(QuantizedLinearErrors, InconsistentPartsAreOneLineErrors) {
  const Tensor w = quant::reference::random_tensor({4, 8}, 31, 0.3f);
  QuantParams in = quant::fit_params(spec("int8", Granularity::InputChannel), w);
  const QuantizedLinear good = quant::quantize_linear(w, Tensor(), in, spec("int4", Granularity::OutputChannel), "good");
  using testing::expect_error;
  expect_error([&] {
    QuantParams bad = in;
    bad.scale.pop_back();
    QuantizedLinear(bad, good.weight_params(), good.weight_codes(), Tensor(), "l0");
  }, {"l0", "activations need 8 steps, got 7"});
  expect_error([&] {
    QuantParams wp = good.weight_params();
    wp.scale.push_back(1.0f);
    QuantizedLinear(in, wp, good.weight_codes(), Tensor(), "l1");
  }, {"l1", "need 4 steps, got 5"});
  expect_error([&] {
    Tensor codes = good.weight_codes().clone();
    codes.data<int8_t>()[3] = 9;  // outside int4
    QuantizedLinear(in, good.weight_params(), codes, Tensor(), "l2");
  }, {"l2", "code 9", "not a valid int4 code"});
  expect_error([&] {
    QuantParams dyn;
    dyn.spec = spec("int8", Granularity::Group, true, 4);
    QuantParams wp = quant::fit_params(spec("int4", Granularity::Group, false, 2), w);
    QuantizedLinear(dyn, wp, quant::quantize(w, wp), Tensor(), "l3");
  }, {"l3", "weight groups of 2 and activation groups of 4 differ"});
  expect_error([&] {
    QuantizedLinear(in, good.weight_params(), good.weight_codes(),
                    Tensor::zeros({5}, DType::F32), "l4");
  }, {"l4", "bias must be F32 with 4 entries"});
}

}  // namespace
}  // namespace bitfold::ops
