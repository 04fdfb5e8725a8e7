// The FP4 (E2M1) weight layout, the E2M1 -> E4M3 map, the float64 reference and its error bound,
// and the dispatcher's FP4 routes (CPU only).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/fp4_layout.h"

namespace bitfold::kernels {
namespace {

// The defining equation of E2M1 written out independently of quant::FloatGrid: sign bit 3,
// exponent bits 2..1 (bias 1), mantissa bit 0; exponent 0 is subnormal (0.5 m).
double e2m1_by_definition(int code) {
  const int e = (code >> 1) & 3, m = code & 1;
  const double mag = e == 0 ? 0.5 * m : std::ldexp(1.0 + 0.5 * m, e - 1);
  return (code & 8) ? -mag : mag;
}

std::vector<uint8_t> random_e2m1(std::mt19937& rng, int64_t n, int64_t k, int64_t ld) {
  std::vector<uint8_t> out(size_t(n * ld), 0);
  std::uniform_int_distribution<int> dist(1, 14);  // non-zero codes: 1..7, 9..15
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      int v = dist(rng);
      if (v >= 8) ++v;
      out[size_t(r * ld + c)] = uint8_t(v);
    }
  return out;
}

TEST(Fp4Layout, E2M1ValuesFollowTheDefinition) {
  for (int c = 0; c < 16; ++c) EXPECT_EQ(e2m1_value(uint8_t(c)), e2m1_by_definition(c)) << "code " << c;
  EXPECT_THROW(e2m1_value(16), Error);
}

TEST(Fp4Layout, E2M1MapsExactlyOntoE4M3) {
  for (int c = 0; c < 16; ++c) {
    const uint8_t b = e2m1_to_e4m3(uint8_t(c));
    EXPECT_EQ(e4m3_value(b), e2m1_by_definition(c)) << "code " << c;
    EXPECT_EQ(b >> 7, c >> 3) << "sign of code " << c;  // -0 stays -0
  }
}

TEST(Fp4Layout, PackRoundTripsAtOddShapes) {
  std::mt19937 rng(11);
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1, 1}, {3, 37}, {5, 64}, {7, 95}, {2, 1000}}) {
    const int64_t ld = k + 3;
    const auto codes = random_e2m1(rng, n, k, ld);
    const auto packed = pack_fp4(codes.data(), ld, n, k);
    const Fp4Layout lay{n, k};
    ASSERT_EQ(int64_t(packed.size()), lay.bytes());
    EXPECT_EQ(lay.row_bytes() % 16, 0);
    const auto back = unpack_fp4(packed.data(), n, k);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) ASSERT_EQ(back[size_t(r * k + c)], codes[size_t(r * ld + c)]) << r << "," << c;
    // The documented byte position: code k of row r in byte k / 2, low nibble for even k; padding 0.
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < lay.k_padded(); ++c) {
        const int nib = (packed[size_t(r * lay.row_bytes() + c / 2)] >> (4 * (c & 1))) & 0xF;
        ASSERT_EQ(nib, c < k ? codes[size_t(r * ld + c)] : 0) << r << "," << c;
      }
  }
}

TEST(Fp4Layout, PackRejectsANonCode) {
  std::vector<uint8_t> codes{1, 2, 16, 3};
  EXPECT_THROW(pack_fp4(codes.data(), 4, 1, 4), Error);
}

TEST(Fp4Layout, ReferenceEqualsTheDefinitionOnRandomInputs) {
  std::mt19937 rng(12);
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 3, 37}, {3, 5, 64}, {2, 9, 129}}) {
    const auto w = random_e2m1(rng, n, k, k);
    std::vector<uint8_t> x(size_t(m * k));
    std::uniform_int_distribution<int> dist(1, 126);  // E4M3 codes without ±0 and NaN (0x7F)
    for (auto& b : x) b = uint8_t(dist(rng) | (rng() & 1 ? 0x80 : 0));
    std::vector<float> ws(static_cast<size_t>(n)), xs(static_cast<size_t>(m)), bias(static_cast<size_t>(n)),
        res(size_t(m * n));
    for (auto& v : ws) v = float(0.25 + 0.01 * double(rng() % 100));
    for (auto& v : xs) v = float(0.5 + 0.01 * double(rng() % 100));
    for (auto& v : bias) v = float(-1 + 0.02 * double(rng() % 100));
    for (auto& v : res) v = float(-2 + 0.04 * double(rng() % 100));
    const float a_scale = 0.375f;
    const auto packed = pack_fp4(w.data(), k, n, k);
    const auto ref = fp4_gemm_ref(x.data(), k, m, packed.data(), n, k, a_scale, ws.data(), xs.data(), bias.data(), res.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0, mag = 0;
        for (int64_t c = 0; c < k; ++c) {
          const double t = e4m3_value(x[size_t(i * k + c)]) * e2m1_by_definition(w[size_t(j * k + c)]);
          acc += t, mag += std::abs(t);
        }
        const double s = double(a_scale) * ws[size_t(j)] * xs[size_t(i)];
        const double want = acc * s + bias[size_t(j)] + res[size_t(i * n + j)];
        EXPECT_NEAR(ref.y[size_t(i * n + j)], want, 1e-12 * (std::abs(want) + mag * s));
        EXPECT_NEAR(ref.sum_abs[size_t(i * n + j)], mag * s, 1e-12 * mag * s);
        EXPECT_GT(ref.sum_abs[size_t(i * n + j)], 0);
      }
  }
}

TEST(Fp4Layout, ErrorBoundGrowsWithKAndStillSeesOneWrongProduct) {
  const double sum_abs = 1000;
  EXPECT_LT(fp4_error_bound(0, sum_abs, 64, Fp4Accumulation::Fp32, false),
            fp4_error_bound(0, sum_abs, 4096, Fp4Accumulation::Fp32, false));
  EXPECT_LT(fp4_error_bound(0, sum_abs, 4096, Fp4Accumulation::Fp32, false),
            fp4_error_bound(0, sum_abs, 4096, Fp4Accumulation::TensorCore, false));
  EXPECT_GT(fp4_error_bound(1, sum_abs, 64, Fp4Accumulation::Fp32, true),
            fp4_error_bound(1, sum_abs, 64, Fp4Accumulation::Fp32, false));
  // With K products of similar size, one product gone wrong (|t| ~ sum/K) must stay visible at
  // the K the GPU tests check closely (the worst-case bound grows with K: beyond ~2000 FP32 terms,
  // or ~500 on the tensor cores, it no longer sees a single product).
  for (int64_t k : {100, 336, 1056})
    EXPECT_LT(fp4_error_bound(0, sum_abs, k, Fp4Accumulation::Fp32, false), 0.1 * sum_abs / double(k)) << k;
  for (int64_t k : {96, 336})
    EXPECT_LT(fp4_error_bound(0, sum_abs, k, Fp4Accumulation::TensorCore, false), 0.5 * sum_abs / double(k)) << k;
}

TEST(Fp4Dispatch, RoutesMatchTheOperands) {
  const RouteMask fp4 = route_bit(Route::Fp4Gemv) | route_bit(Route::Fp4Lt);
  const RouteMask all = ~RouteMask(0);
  for (int q : {kE4M3, kE2M1})
    for (int64_t m : {1, 4, 8, 9, 64, 4096}) {
      const Route r = choose_route(m, 4096, 4096, kE2M1, q, fp4);
      EXPECT_TRUE(r == Route::Fp4Lt || (r == Route::Fp4Gemv && m <= 8)) << route_name(r) << " m " << m;
      EXPECT_EQ(choose_route(m, 4096, 4096, kE2M1, q, route_bit(Route::Fp4Lt)), Route::Fp4Lt);
      const Route any = choose_route(m, 4096, 4096, kE2M1, q, all);
      EXPECT_TRUE(any == Route::Fp4Gemv || any == Route::Fp4Lt || any == Route::Fp4Tma || any == Route::Fp16)
          << route_name(any);
      if (m >= 4096) {
        EXPECT_EQ(any, Route::Fp4Tma) << "the fused FP8 kernel is measured fastest at large M";
      }
    }
  EXPECT_THROW(choose_route(1, 4096, 4096, kE2M1, kE4M3, route_bit(Route::Gemv) | route_bit(Route::Decode)), Error);
  EXPECT_THROW(choose_route(9, 4096, 4096, kE2M1, kE4M3, route_bit(Route::Fp4Gemv)), Error);
  EXPECT_THROW(choose_route(1, 4096, 4096, 4, 4, fp4), Error);
}

}  // namespace
}  // namespace bitfold::kernels
