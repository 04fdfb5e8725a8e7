// GPU FP4 routes (E2M1 weights x E4M3 / E2M1 activations) against the float64 reference within
// fp4_error_bound: random non-zero codes, odd N, K not a multiple of the kernels' tiles, outputs
// NaN-poisoned with their padding columns checked untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/fp4_layout.h"
#include "kernels/gemm.h"
#include "kernels/kernel_test_util.h"

#ifdef BITFOLD_HAVE_CUDA
namespace bitfold::kernels {
namespace {

using testing::DeviceBuffer;

struct Fp4Case {
  int64_t m, n, k;
  bool a4 = false;  // activations on the E2M1 grid (W4A4 FP), else any E4M3 value (W4A8 FP)
  bool x_scale = false, bias = false, residual = false;
};

std::string describe(const Fp4Case& c) {
  std::ostringstream os;
  os << (c.a4 ? "W4A4-FP" : "W4A8-FP") << " M=" << c.m << " N=" << c.n << " K=" << c.k << (c.x_scale ? " +xs" : "")
     << (c.bias ? " +bias" : "") << (c.residual ? " +res" : "");
  return os.str();
}

struct Fp4Problem {
  Fp4Case c;
  int64_t ldx;
  float a_scale = 0.0625f;
  std::vector<uint8_t> x, packed;
  std::vector<float> w_scale, x_scale, bias, residual_f;
  std::vector<uint16_t> residual_h;
  Fp4Reference ref;
  DeviceBuffer<uint8_t> dx, dw;
  DeviceBuffer<float> dws, dxs, dbias;
  DeviceBuffer<uint16_t> dres;

  Fp4Problem(const Fp4Case& cs, uint32_t seed) : c(cs) {
    std::mt19937 rng(seed);
    ldx = round_up(c.k, 16) + 16;  // junk past K, never read
    x.resize(size_t(c.m * ldx));
    std::uniform_int_distribution<int> e4m3(1, 126), e2m1(1, 7);
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < ldx; ++j) {
        const uint8_t sign = (rng() & 1) ? 0x80 : 0;
        x[size_t(i * ldx + j)] = c.a4 ? uint8_t(e2m1_to_e4m3(uint8_t(e2m1(rng))) | sign) : uint8_t(e4m3(rng) | sign);
      }
    std::vector<uint8_t> codes(size_t(c.n * c.k));
    std::uniform_int_distribution<int> wc(1, 14);
    for (auto& v : codes) {
      const int t = wc(rng);
      v = uint8_t(t >= 8 ? t + 1 : t);  // no ±0
    }
    packed = pack_fp4(codes.data(), c.k, c.n, c.k);
    w_scale = testing::random_floats(rng, size_t(c.n), 0.5e-3f, 2e-3f);
    x_scale = testing::random_floats(rng, size_t(c.m), 0.5f, 2.0f);
    bias = testing::random_floats(rng, size_t(c.n), -1, 1);
    residual_f = testing::random_floats(rng, size_t(c.m * c.n), -4, 4);
    residual_h.resize(residual_f.size());
    for (size_t i = 0; i < residual_f.size(); ++i) {
      residual_h[i] = f32_to_f16(residual_f[i]);
      residual_f[i] = f16_to_f32(residual_h[i]);
    }
    ref = fp4_gemm_ref(x.data(), ldx, c.m, packed.data(), c.n, c.k, a_scale, w_scale.data(),
                       c.x_scale ? x_scale.data() : nullptr, c.bias ? bias.data() : nullptr,
                       c.residual ? residual_f.data() : nullptr);
    dx = DeviceBuffer<uint8_t>(x);
    dw = DeviceBuffer<uint8_t>(packed);
    dws = DeviceBuffer<float>(w_scale);
    dxs = DeviceBuffer<float>(x_scale);
    dbias = DeviceBuffer<float>(bias);
    dres = DeviceBuffer<uint16_t>(residual_h);
  }
  Fp4Weight weight() const { return Fp4Weight{dw.get(), c.n, c.k}; }
  // W4A4-FP problems say that their activations are E2M1 values (the GEMV's integer path).
  Fp8Act act() const { return Fp8Act{dx.get(), ldx, c.m, c.k, a_scale, c.a4}; }
};

struct Fp4Outputs {
  int64_t m, n, ld;
  DeviceBuffer<float> f32;
  DeviceBuffer<uint16_t> f16;
  Fp4Outputs(int64_t m_, int64_t n_) : m(m_), n(n_), ld(n_ + 3) {
    f32 = DeviceBuffer<float>(size_t(m * ld));
    f16 = DeviceBuffer<uint16_t>(size_t(m * ld));
    f32.fill_bytes(0xFF);  // NaN
    f16.fill_bytes(0xFF);  // NaN
  }
};

Epilogue make_epilogue(const Fp4Problem& pr, Fp4Outputs& out) {
  Epilogue e;
  e.w_scale = pr.dws.get();
  if (pr.c.x_scale) e.x_scale = pr.dxs.get();
  if (pr.c.bias) e.bias = pr.dbias.get();
  if (pr.c.residual) e.residual = pr.dres.get(), e.ld_residual = pr.c.n;
  e.y_f32 = out.f32.get(), e.ld_f32 = out.ld;
  e.y_f16 = out.f16.get(), e.ld_f16 = out.ld;
  return e;
}

void check_fp4_outputs(const Fp4Problem& pr, const Fp4Outputs& out, Fp4Accumulation acc, const std::string& route) {
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << route << " " << describe(pr.c);
  const auto& c = pr.c;
  const auto f32 = out.f32.download();
  const auto f16 = out.f16.download();
  int64_t bad32 = 0, bad16 = 0, pad_written = 0;
  double worst = 0;  // largest |error| / bound of the FP32 output, for the log
  std::ostringstream os;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      const double want = pr.ref.y[size_t(i * c.n + j)], mag = pr.ref.sum_abs[size_t(i * c.n + j)];
      const double got32 = f32[size_t(i * out.ld + j)];
      const double got16 = f16_to_f32(f16[size_t(i * out.ld + j)]);
      const double b32 = fp4_error_bound(want, mag, c.k, acc, false), b16 = fp4_error_bound(want, mag, c.k, acc, true);
      worst = std::max(worst, std::abs(got32 - want) / b32);
      if (!(std::abs(got32 - want) <= b32) && bad32++ < 4)
        os << " f32[" << i << "," << j << "] want " << want << " got " << got32 << " bound " << b32 << ";";
      if (!(std::abs(got16 - want) <= b16) && bad16++ < 4)
        os << " f16[" << i << "," << j << "] want " << want << " got " << got16 << " bound " << b16 << ";";
    }
    for (int64_t j = c.n; j < out.ld; ++j)
      if (!std::isnan(f32[size_t(i * out.ld + j)]) || f16[size_t(i * out.ld + j)] != 0xFFFF) ++pad_written;
  }
  EXPECT_EQ(bad32, 0) << route << " " << describe(c) << os.str();
  EXPECT_EQ(bad16, 0) << route << " " << describe(c) << os.str();
  EXPECT_EQ(pad_written, 0) << route << " " << describe(c) << ": wrote past N into the padding";
  std::printf("  %s %s: max |err| / bound (FP32 out) %.3g\n", route.c_str(), describe(c).c_str(), worst);
}

class GpuFp4 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_device_description();
    ctx_ = std::make_unique<GemmContext>();
  }
  std::unique_ptr<GemmContext> ctx_;
};

TEST_F(GpuFp4, UnpackToE4M3MatchesTheCpuMap) {
  std::mt19937 rng(3);
  for (auto [n, k, ldw] : {std::tuple<int64_t, int64_t, int64_t>{5, 37, 44}, {3, 64, 64}, {17, 100, 112}}) {
    std::vector<uint8_t> codes(size_t(n * k));
    for (auto& v : codes) v = uint8_t(rng() % 16);  // every code, ±0 included
    const auto packed = pack_fp4(codes.data(), k, n, k);
    DeviceBuffer<uint8_t> dw(packed), out(size_t(n * ldw));
    out.fill_bytes(0xAB);
    unpack_fp4_device(Fp4Weight{dw.get(), n, k}, out.get(), ldw, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto got = out.download();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < ldw; ++c)
        ASSERT_EQ(got[size_t(r * ldw + c)], c < k ? e2m1_to_e4m3(codes[size_t(r * k + c)]) : 0)
            << "row " << r << " col " << c << " n " << n << " k " << k;
  }
}

TEST_F(GpuFp4, GemvMatchesReference) {
  std::vector<Fp4Case> cases;
  for (int64_t m : {1, 2, 3, 4, 5, 8})
    for (bool a4 : {false, true}) {
      cases.push_back({m, 37, 100, a4, m % 2 == 1, true, m > 4});
      cases.push_back({m, 129, 1056, a4, false, m == 3, true});
    }
  cases.push_back({1, 19, 9000, false, true, false, false});   // two activation chunks at M = 1
  cases.push_back({4, 33, 2080, true, false, true, false});    // two chunks at M = 4 (2048 codes each)
  cases.push_back({8, 70, 1100, false, true, true, true});     // two chunks at M = 8 (1024 codes each)
  cases.push_back({2, 5000, 64, false, false, false, false});  // many row groups per block
  uint32_t seed = 100;
  for (const auto& c : cases)
    for (bool pdl : {true, false}) {
      Fp4Problem pr(c, seed++);
      Fp4Outputs out(c.m, c.n);
      gemm_fp4_gemv(pr.weight(), pr.act(), make_epilogue(pr, out), nullptr, GemvOptions{pdl});
      check_fp4_outputs(pr, out, Fp4Accumulation::Fp32, pdl ? "fp4-gemv" : "fp4-gemv-nopdl");
    }
}

// The integer path (E2M1 activations) sums exact integers: with no epilogue extras, the FP32
// output differs from the float64 reference only by the two FP32 roundings of the scaling (and
// the int -> float conversion, exact below 2^24).
TEST_F(GpuFp4, GemvE2M1PathIsExactUpToTheScaling) {
  uint32_t seed = 400;
  for (const Fp4Case& c : {Fp4Case{1, 131, 4000, true}, Fp4Case{3, 65, 1056, true}, Fp4Case{8, 40, 9000, true},
                           Fp4Case{2, 300, 33, true}}) {
    Fp4Problem pr(c, seed++);
    Fp4Outputs out(c.m, c.n);
    gemm_fp4_gemv(pr.weight(), pr.act(), make_epilogue(pr, out), nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto f32 = out.f32.download();
    int64_t bad = 0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        const double want = pr.ref.y[size_t(i * c.n + j)], got = f32[size_t(i * out.ld + j)];
        if (!(std::abs(got - want) <= 2.5e-7 * std::abs(want))) ++bad;
      }
    EXPECT_EQ(bad, 0) << describe(c);
  }
}

TEST_F(GpuFp4, CublasLtRouteMatchesReference) {
  std::vector<Fp4Case> cases;
  for (int64_t m : {1, 7, 64, 130})
    for (bool a4 : {false, true}) cases.push_back({m, 37, 336, a4, m == 7, m != 64, m >= 64});
  cases.push_back({300, 129, 96, false, true, true, true});
  cases.push_back({33, 513, 2064, true, false, false, false});  // K past the single-product bound: coverage
  uint32_t seed = 200;
  for (const auto& c : cases) {
    Fp4Problem pr(c, seed++);
    Fp4Outputs out(c.m, c.n);
    gemm_fp4_lt(*ctx_, pr.weight(), pr.act(), make_epilogue(pr, out), nullptr);
    check_fp4_outputs(pr, out, Fp4Accumulation::TensorCore, "fp4-lt");
  }
}

// The bulk-copy wgmma kernel on E4M3 operands: any K (no multiple of 16 needed), odd N, FP32 + FP16
// outputs (int32 chunks of floats) and FP16 alone (the bulk store, N % 8 == 0).
TEST_F(GpuFp4, TmaRouteMatchesReference) {
  std::vector<Fp4Case> cases;
  for (int64_t m : {1, 64, 130})
    for (bool a4 : {false, true}) cases.push_back({m, 37, 336, a4, m == 64, m != 64, m >= 64});
  cases.push_back({300, 129, 100, false, true, true, true});
  cases.push_back({260, 264, 96, true, true, true, false});
  cases.push_back({33, 513, 2064, true, false, false, false});  // K past the single-product bound: coverage
  uint32_t seed = 260;
  for (const auto& c : cases) {
    Fp4Problem pr(c, seed++);
    Fp4Outputs out(c.m, c.n);
    gemm_fp4_tma(*ctx_, pr.weight(), pr.act(), make_epilogue(pr, out), nullptr);
    check_fp4_outputs(pr, out, Fp4Accumulation::TensorCore, "fp4-tma");
    if (c.n % 8 == 0) {  // FP16 alone, 16-byte rows: the bulk-store epilogue
      Fp4Outputs out16(c.m, c.n);
      const int64_t ld = round_up(c.n, 8);
      DeviceBuffer<uint16_t> y16(size_t(c.m * ld));
      y16.fill_bytes(0xFF);
      Epilogue e = make_epilogue(pr, out16);
      e.y_f32 = nullptr, e.y_f16 = y16.get(), e.ld_f16 = ld;
      gemm_fp4_tma(*ctx_, pr.weight(), pr.act(), e, nullptr);
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      // Same kernel, same sums: the FP16 values agree with the run that wrote both outputs up to one
      // FP16 ulp (its epilogue multiplies and adds in another order).
      const auto both = out.f16.download(), alone = y16.download();
      int64_t diff = 0;
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = 0; j < c.n; ++j)
          diff += std::abs(int(both[size_t(i * out.ld + j)]) - int(alone[size_t(i * ld + j)])) > 1;
      EXPECT_EQ(diff, 0) << "fp4-tma FP16 alone vs with FP32, " << describe(c);
    }
  }
}

TEST_F(GpuFp4, RoutesRefuseWhatTheyCannotRun) {
  Fp4Problem pr({9, 16, 64}, 7);
  Fp4Outputs out(9, 16);
  Epilogue e = make_epilogue(pr, out);
  EXPECT_THROW(gemm_fp4_gemv(pr.weight(), pr.act(), e, nullptr), Error);  // M = 9
  Fp4Problem odd({2, 16, 40}, 8);
  Fp4Outputs out2(2, 16);
  EXPECT_THROW(gemm_fp4_lt(*ctx_, odd.weight(), odd.act(), make_epilogue(odd, out2), nullptr), Error);  // K % 16
  DeviceBuffer<int32_t> i32(size_t(2 * 16));
  Epilogue with_i32 = make_epilogue(odd, out2);
  with_i32.y_i32 = i32.get(), with_i32.ld_i32 = 16;
  EXPECT_THROW(gemm_fp4_gemv(odd.weight(), odd.act(), with_i32, nullptr), Error);
  Fp8Act bad_k = odd.act();
  bad_k.k = 48;
  EXPECT_THROW(gemm_fp4_gemv(odd.weight(), bad_k, make_epilogue(odd, out2), nullptr), Error);
}

TEST_F(GpuFp4, DispatcherRunsACorrectRoute) {
  for (int64_t m : {1, 6, 40}) {
    Fp4Problem pr({m, 45, 160, m == 6}, uint32_t(300 + m));
    Fp4Outputs out(m, 45);
    QuantLinear w;
    w.p = kE2M1, w.n = 45, w.k = 160;
    w.fp4 = pr.weight();
    QuantActivations x;
    x.q = m == 6 ? kE2M1 : kE4M3;
    x.fp8 = pr.act();
    const Route r = gemm_quantized(*ctx_, w, x, make_epilogue(pr, out), nullptr);
    ASSERT_TRUE(r == Route::Fp4Gemv || r == Route::Fp4Lt) << route_name(r);
    check_fp4_outputs(pr, out, r == Route::Fp4Gemv ? Fp4Accumulation::Fp32 : Fp4Accumulation::TensorCore,
                      std::string(route_name(r)));
  }
}

}  // namespace
}  // namespace bitfold::kernels
#else
TEST(GpuFp4, Skipped) { GTEST_SKIP() << "built without CUDA"; }
#endif
