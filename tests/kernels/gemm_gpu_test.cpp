// GPU GEMM routes against the CPU integer reference: int32 bit-exact, dequantized FP32/FP16
// outputs against float64, every output buffer poisoned with NaN first (and its padding columns
// checked to stay poisoned), random non-zero codes, odd shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/kernel_test_util.h"
#include "kernels/layout.h"
#include "kernels/quantize.h"
#include "test_support.h"

#ifdef BITFOLD_HAVE_CUDA
namespace bitfold::kernels {
namespace {

using testing::DeviceBuffer;
using testing::random_codes;
using testing::random_floats;

struct Case {
  int p, q;
  int64_t m, n, k;
  bool x_scale = false, bias = false, residual = false;
};

std::string describe(const Case& c) {
  std::ostringstream os;
  os << "W" << c.p << "A" << c.q << " M=" << c.m << " N=" << c.n << " K=" << c.k << (c.x_scale ? " +xs" : "")
     << (c.bias ? " +bias" : "") << (c.residual ? " +res" : "");
  return os.str();
}

// Host operands of one case and the device buffers every route reads.
struct Problem {
  Case c;
  int64_t ldx;
  std::vector<int8_t> x, w;
  std::vector<int32_t> acc;
  std::vector<float> w_scale, x_scale, bias, residual_f;
  std::vector<uint16_t> residual_h;
  DeviceBuffer<int8_t> dx;
  DeviceBuffer<float> dws, dxs, dbias;
  DeviceBuffer<uint16_t> dres;

  explicit Problem(const Case& cs, uint32_t seed) : c(cs) {
    std::mt19937 rng(seed);
    ldx = round_up(c.k, 16) + 16;  // a padded leading dimension, filled with junk past K
    x = random_codes(rng, c.m, ldx, ldx, c.q);
    w = random_codes(rng, c.n, c.k, c.k, c.p);
    acc = gemm_ref_i32(x.data(), ldx, w.data(), c.k, c.m, c.n, c.k);
    w_scale = random_floats(rng, size_t(c.n), 0.5e-3f, 2e-3f);
    x_scale = random_floats(rng, size_t(c.m), 0.5f, 2.0f);
    bias = random_floats(rng, size_t(c.n), -1, 1);
    residual_f = random_floats(rng, size_t(c.m * c.n), -4, 4);
    residual_h.resize(residual_f.size());
    for (size_t i = 0; i < residual_f.size(); ++i) {
      residual_h[i] = f32_to_f16(residual_f[i]);
      residual_f[i] = f16_to_f32(residual_h[i]);
    }
    dx = DeviceBuffer<int8_t>(x);
    dws = DeviceBuffer<float>(w_scale);
    dxs = DeviceBuffer<float>(x_scale);
    dbias = DeviceBuffer<float>(bias);
    dres = DeviceBuffer<uint16_t>(residual_h);
  }
  Int8Act act() const { return Int8Act{dx.get(), ldx, c.m, c.k}; }
};

// Output buffers with a padded leading dimension; vec selects a 16-byte friendly one.
struct Outputs {
  int64_t m, n, ld;
  DeviceBuffer<int32_t> i32;
  DeviceBuffer<float> f32;
  DeviceBuffer<uint16_t> f16;
  Outputs(int64_t m_, int64_t n_, bool vec) : m(m_), n(n_), ld(vec ? round_up(n_, 8) + 8 : n_ + 3) {
    i32 = DeviceBuffer<int32_t>(size_t(m * ld));
    f32 = DeviceBuffer<float>(size_t(m * ld));
    f16 = DeviceBuffer<uint16_t>(size_t(m * ld));
    i32.fill_bytes(0x7F);  // 0x7F7F7F7F, never a result here
    f32.fill_bytes(0xFF);  // NaN
    f16.fill_bytes(0xFF);  // NaN
  }
};

Epilogue make_epilogue(const Problem& pr, Outputs& out, bool want_i32 = true) {
  Epilogue e;
  e.w_scale = pr.dws.get();
  if (pr.c.x_scale) e.x_scale = pr.dxs.get();
  if (pr.c.bias) e.bias = pr.dbias.get();
  if (pr.c.residual) e.residual = pr.dres.get(), e.ld_residual = pr.c.n;
  e.y_f32 = out.f32.get(), e.ld_f32 = out.ld;
  e.y_f16 = out.f16.get(), e.ld_f16 = out.ld;
  if (want_i32) e.y_i32 = out.i32.get(), e.ld_i32 = out.ld;
  return e;
}

// Checks every output of a finished route.
void check_outputs(const Problem& pr, const Outputs& out, bool check_i32 = true, bool check_f32 = true) {
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << describe(pr.c);
  const auto& c = pr.c;
  if (check_i32) {
    EXPECT_TRUE(testing::equal_i32(pr.acc, out.i32.download(), c.m, c.n, out.ld)) << describe(c);
  }
  const auto ref = epilogue_ref(pr.acc, c.m, c.n, pr.w_scale.data(), c.x_scale ? pr.x_scale.data() : nullptr,
                                c.bias ? pr.bias.data() : nullptr, c.residual ? pr.residual_f.data() : nullptr);
  const auto f32 = out.f32.download();
  const auto f16 = out.f16.download();
  int64_t bad32 = 0, bad16 = 0, pad_written = 0;
  std::ostringstream os;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      const double want = ref[size_t(i * c.n + j)];
      double mag = std::abs(double(pr.acc[size_t(i * c.n + j)]) * pr.w_scale[size_t(j)] *
                            (c.x_scale ? pr.x_scale[size_t(i)] : 1.0));
      if (c.bias) mag += std::abs(pr.bias[size_t(j)]);
      if (c.residual) mag += std::abs(pr.residual_f[size_t(i * c.n + j)]);
      const double got32 = f32[size_t(i * out.ld + j)];
      const double got16 = f16_to_f32(f16[size_t(i * out.ld + j)]);
      if (check_f32 && !(std::abs(got32 - want) <= 2e-6 * mag + 1e-30)) {
        if (bad32++ < 4) os << " f32[" << i << "," << j << "] want " << want << " got " << got32 << ";";
      }
      if (!(std::abs(got16 - want) <= 1e-3 * std::abs(want) + 2e-6 * mag + 1e-7)) {
        if (bad16++ < 4) os << " f16[" << i << "," << j << "] want " << want << " got " << got16 << ";";
      }
    }
    for (int64_t j = c.n; j < out.ld; ++j)
      if ((check_f32 && !std::isnan(f32[size_t(i * out.ld + j)])) || f16[size_t(i * out.ld + j)] != 0xFFFF) ++pad_written;
  }
  EXPECT_EQ(bad32, 0) << describe(c) << os.str();
  EXPECT_EQ(bad16, 0) << describe(c) << os.str();
  EXPECT_EQ(pad_written, 0) << describe(c) << ": wrote past N into the padding";
}

struct FragOperand {
  std::vector<uint8_t> host;
  DeviceBuffer<uint8_t> dev;
  FragOrder order;
  FragWeight view(int p, int64_t n, int64_t k) const { return FragWeight{dev.get(), p, n, k, order}; }
};
FragOperand frag_of(const Problem& pr, FragOrder order) {
  FragOperand f;
  f.order = order;
  f.host = pack_frag(pr.w.data(), pr.c.k, pr.c.n, pr.c.k, pr.c.p, order);
  f.dev = DeviceBuffer<uint8_t>(f.host);
  return f;
}

std::vector<Case> decode_cases() {
  std::vector<Case> cases;
  for (int p : {2, 3, 4, 6, 8})
    for (int64_t m : {1, 3, 8, 9, 17, 32, 33}) {
      const int q = p == 8 ? 8 : (p == 6 ? 6 : (p == 4 ? 4 : 8));
      cases.push_back({p, q, m, 17, 1000, m % 2 == 1, true, m > 8});
      cases.push_back({p, q, m, 257, 300, false, m == 3, true});
    }
  cases.push_back({4, 8, 2, 4096 + 48, 4096, false, false, false});  // a split-K heavy shape
  cases.push_back({2, 8, 1, 20000, 200, true, false, false});        // many row tiles per CTA, K < 8 tiles
  cases.push_back({6, 6, 7, 9000, 1100, false, true, true});
  cases.push_back({8, 8, 1, 3, 17, true, true, true});
  cases.push_back({8, 8, 20, 2000, 9000, false, true, true});
  cases.push_back({3, 8, 12, 700, 6001, true, false, false});
  return cases;
}

class GpuGemm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_device_description();
    ctx_ = std::make_unique<GemmContext>();
  }
  std::unique_ptr<GemmContext> ctx_;
};

TEST_F(GpuGemm, DevicePackersMatchTheCpuPackers) {
  std::mt19937 rng(11);
  for (int bits : {1, 2, 3, 4, 5, 6, 7, 8})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{17, 100}, {40, 384}, {3, 1}}) {
      const auto w = random_codes(rng, n, k, k + 5, bits);
      DeviceBuffer<int8_t> dw(w);
      for (FragOrder order : {FragOrder::Natural, FragOrder::Decode}) {
        DeviceBuffer<uint8_t> out(size_t(FragLayout{bits, n, k}.bytes()));
        out.fill_bytes(0xA5);
        pack_frag_device(dw.get(), k + 5, n, k, bits, out.get(), nullptr, order);
        EXPECT_EQ(out.download(), pack_frag(w.data(), k + 5, n, k, bits, order)) << "frag " << bits << " " << n << "x" << k;
      }
      DeviceBuffer<uint8_t> gout(size_t(GemvLayout{bits, n, k}.bytes()));
      gout.fill_bytes(0xA5);
      pack_gemv_device(dw.get(), k + 5, n, k, bits, gout.get(), nullptr);
      EXPECT_EQ(gout.download(), pack_gemv(w.data(), k + 5, n, k, bits)) << "gemv " << bits << " " << n << "x" << k;
      DeviceBuffer<uint8_t> bout(size_t(BtcWeightLayout{bits, n, k}.bytes()));
      bout.fill_bytes(0xA5);
      pack_btc_weight_device(dw.get(), k + 5, n, k, bits, bout.get(), nullptr);
      EXPECT_EQ(bout.download(), pack_btc_weight(w.data(), k + 5, n, k, bits)) << "btc w " << bits;
      const int64_t ldw = btc_act_ld_words(k);
      DeviceBuffer<uint32_t> planes(size_t(bits * n * ldw));
      planes.fill_bytes(0xA5);
      pack_btc_act_device(dw.get(), k + 5, n, k, bits, planes.get(), ldw, nullptr);
      EXPECT_EQ(planes.download(), pack_btc_act(w.data(), k + 5, n, k, bits)) << "btc x " << bits;
      if (bits == 2 || bits == 3 || bits == 4 || bits == 6 || bits == 8)
        for (FragOrder order : {FragOrder::Natural, FragOrder::Decode}) {
          const auto packed = pack_frag(w.data(), k + 5, n, k, bits, order);
          DeviceBuffer<uint8_t> dp(packed);
          const int64_t ld = round_up(k, 16);
          DeviceBuffer<int8_t> rows(size_t(n * ld));
          rows.fill_bytes(0x55);
          unpack_frag_device(FragWeight{dp.get(), bits, n, k, order}, rows.get(), ld, nullptr);
          const auto got = rows.download();
          int64_t bad = 0;
          for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < ld; ++c)
              bad += got[size_t(r * ld + c)] != (c < k ? w[size_t(r * (k + 5) + c)] : 0);
          EXPECT_EQ(bad, 0) << "unpack " << bits << " " << n << "x" << k;
        }
    }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST_F(GpuGemm, DecodeMatchesReference) {
  uint32_t seed = 100;
  for (const Case& c : decode_cases()) {
    Problem pr(c, seed++);
    auto f = frag_of(pr, FragOrder::Decode);
    for (bool vec : {false, true}) {
      Outputs out(c.m, c.n, vec);
      gemm_decode(*ctx_, f.view(c.p, c.n, c.k), pr.act(), make_epilogue(pr, out), nullptr);
      check_outputs(pr, out);
    }
    // M <= 8 runs the direct kernel by default; the staged one is checked too, twice: its
    // split-K accumulators and tickets must have reset themselves.
    for (DecodeKernel kernel : {DecodeKernel::Direct, DecodeKernel::Staged, DecodeKernel::Staged}) {
      DecodeTuning tu;
      tu.kernel = kernel;
      Outputs again(c.m, c.n, true);
      gemm_decode(*ctx_, f.view(c.p, c.n, c.k), pr.act(), make_epilogue(pr, again), nullptr, tu);
      check_outputs(pr, again);
    }
    if (HasFailure()) return;
  }
}

std::vector<Case> gemv_cases() {
  std::vector<Case> cases;
  for (int p : {2, 3, 4, 6, 8})
    for (int64_t m : {1, 2, 3, 4}) {
      const int q = p == 8 ? 8 : (p == 6 ? 6 : (p == 4 ? 4 : 8));
      cases.push_back({p, q, m, 17, 1000, m % 2 == 1, true, m > 2});
      cases.push_back({p, q, m, 257, 300, false, m == 3, true});
      cases.push_back({p, q, m, 1, 17, true, false, false});
    }
  cases.push_back({4, 4, 1, 4096 + 48, 4096, false, false, false});  // several load batches per warp
  cases.push_back({2, 8, 4, 20001, 200, true, false, false});        // many row groups, odd N
  cases.push_back({6, 6, 3, 9001, 1100, false, true, true});
  cases.push_back({8, 8, 1, 3000, 28672, true, true, false});         // rows shared by warps
  cases.push_back({3, 8, 4, 333, 17915, true, false, false});         // > 48 KB of staged activations
  cases.push_back({4, 4, 2, 70, 65536, false, false, false});         // the largest K
  return cases;
}

TEST_F(GpuGemm, GemvMatchesReference) {
  uint32_t seed = 600;
  for (const Case& c : gemv_cases()) {
    Problem pr(c, seed++);
    DeviceBuffer<uint8_t> w(pack_gemv(pr.w.data(), c.k, c.n, c.k, c.p));
    const GemvWeight view{w.get(), c.p, c.n, c.k};
    for (bool vec : {false, true}) {
      Outputs out(c.m, c.n, vec);
      gemm_gemv(view, pr.act(), make_epilogue(pr, out), nullptr);
      check_outputs(pr, out);
    }
    // A plain launch, and the (default) programmatic dependent launch twice in a row into the
    // same outputs after a kernel that poisons them: each must wait for its predecessor.
    Outputs plain(c.m, c.n, true), a(c.m, c.n, true);
    gemm_gemv(view, pr.act(), make_epilogue(pr, plain), nullptr, GemvOptions{false});
    check_outputs(pr, plain);
    Epilogue poison;
    poison.w_scale = pr.dws.get();
    poison.y_i32 = a.i32.get(), poison.ld_i32 = a.ld;
    gemm_gemv(view, pr.act(), make_epilogue(pr, a), nullptr);
    DeviceBuffer<int32_t> junk(std::vector<int32_t>(size_t(c.m * c.n), 0x7F7F7F7F));
    epilogue_i32(junk.get(), c.n, c.m, c.n, poison, nullptr);  // overwrites y_i32 with junk...
    gemm_gemv(view, pr.act(), make_epilogue(pr, a), nullptr);  // ...which this launch must replace
    check_outputs(pr, a);
    if (HasFailure()) return;
  }
}

// The producer writes the activation codes, the GEMV launched as its programmatic dependent
// reads them: the weights may be prefetched early, the codes only after the producer is done.
TEST_F(GpuGemm, GemvAfterProducerWithPdl) {
  std::mt19937 rng(17);
  const int64_t m = 3, n = 5000, k = 4096;
  const auto xf = testing::random_floats(rng, size_t(m * k), -3, 3);
  const auto g = testing::random_floats(rng, size_t(k), 1, 5);
  DeviceBuffer<float> dxf(xf), dg(g);
  DeviceBuffer<int8_t> codes(size_t(m * k));
  const auto w = testing::random_codes(rng, n, k, k, 4);
  DeviceBuffer<uint8_t> dw(pack_gemv(w.data(), k, n, k, 4));
  const auto scale = testing::random_floats(rng, size_t(n), 1e-3f, 2e-3f);
  DeviceBuffer<float> dscale(scale);
  DeviceBuffer<int32_t> y(size_t(m * n));
  for (int rep = 0; rep < 3; ++rep) {
    codes.fill_bytes(uint8_t(0x11 * (rep + 1)));  // stale codes the GEMV must not see
    y.fill_bytes(0x7F);
    CodesOut co;
    co.bits = 4, co.i8 = codes.get(), co.ld_i8 = k;
    rmsnorm_quantize(dxf.get(), false, k, m, k, dg.get(), nullptr, 1e-5f, co, nullptr);
    Epilogue e;
    e.w_scale = dscale.get(), e.y_i32 = y.get(), e.ld_i32 = n;
    gemm_gemv(GemvWeight{dw.get(), 4, n, k}, Int8Act{codes.get(), k, m, k}, e, nullptr, GemvOptions{true});
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const auto x = codes.download();
    EXPECT_TRUE(testing::equal_i32(gemm_ref_i32(x.data(), k, w.data(), k, m, n, k), y.download(), m, n, n)) << "rep " << rep;
  }
}

TEST_F(GpuGemm, GemvRefusesWhatItCannotRun) {
  Problem pr({4, 4, 5, 16, 128}, 3);
  DeviceBuffer<uint8_t> w(pack_gemv(pr.w.data(), 128, 16, 128, 4));
  Outputs out(5, 16, true);
  EXPECT_THROW(gemm_gemv(GemvWeight{w.get(), 4, 16, 128}, pr.act(), make_epilogue(pr, out), nullptr), Error);  // M = 5
  Int8Act one = pr.act();
  one.m = 1;
  EXPECT_THROW(gemm_gemv(GemvWeight{w.get(), 5, 16, 128}, one, make_epilogue(pr, out), nullptr), Error);  // 5 bits
  EXPECT_THROW(gemm_gemv(GemvWeight{w.get(), 4, 16, 256}, one, make_epilogue(pr, out), nullptr), Error);  // K differs
}

TEST_F(GpuGemm, DecodeSplitTuningGivesTheSameIntegers) {
  Problem pr({4, 4, 5, 100, 2000}, 7);
  auto f = frag_of(pr, FragOrder::Decode);
  for (int per_sm : {1, 2, 8, 64}) {
    Outputs out(pr.c.m, pr.c.n, true);
    DecodeTuning tu;
    tu.ctas_per_sm = per_sm;
    tu.kernel = DecodeKernel::Staged;
    gemm_decode(*ctx_, f.view(4, pr.c.n, pr.c.k), pr.act(), make_epilogue(pr, out), nullptr, tu);
    check_outputs(pr, out);
  }
}

TEST_F(GpuGemm, WgmmaMatchesReference) {
  uint32_t seed = 200;
  for (int p : {2, 3, 4, 6, 8})
    for (int tile : {128, 256})
      for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 17, 100}, {17, 129, 384},
                                    {130, 257, 1000}, {300, 136, 256}}) {
        const Case c{p, p == 2 || p == 3 ? 8 : p, m, n, k, m == 130, m != 1, m == 300};
        Problem pr(c, seed++);
        auto f = frag_of(pr, FragOrder::Natural);
        for (bool vec : {false, true}) {
          Outputs out(c.m, c.n, vec);
          gemm_wgmma(*ctx_, f.view(p, n, k), pr.act(), make_epilogue(pr, out), nullptr, tile);
          check_outputs(pr, out);
        }
        if (HasFailure()) return;
      }
}

TEST_F(GpuGemm, CublasLtRoutesMatchReference) {
  uint32_t seed = 300;
  for (int p : {2, 4, 6, 8})
    for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 17, 128}, {17, 129, 384}, {130, 257, 1008}}) {
      const Case c{p, 8, m, n, k, true, true, m > 1};
      Problem pr(c, seed++);
      for (FragOrder order : {FragOrder::Natural, FragOrder::Decode}) {
        auto f = frag_of(pr, order);
        for (bool vec : {false, true}) {
          Outputs out(c.m, c.n, vec);
          gemm_unpack_lt(*ctx_, f.view(p, n, k), pr.act(), make_epilogue(pr, out), nullptr);
          check_outputs(pr, out);
        }
      }
      if (p == 8) {
        DeviceBuffer<int8_t> rows(pr.w);
        Outputs out(c.m, c.n, true);
        gemm_int8_lt(*ctx_, rows.get(), k, n, pr.act(), make_epilogue(pr, out), nullptr);
        check_outputs(pr, out);
      }
      if (HasFailure()) return;
    }
}

// The own bulk-copy wgmma kernel: K off the 128-wide step (and off 16), N off the 256-wide tile,
// weight rows with junk past K, more tiles than CTAs (persistent loop, stage phases wrapping,
// a short last group of token blocks).
TEST_F(GpuGemm, Int8TmaMatchesReference) {
  uint32_t seed = 350;
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 17, 100}, {130, 257, 1000},
                                {300, 513, 2064}, {64, 256, 128}, {2100, 2104, 300}, {200, 330, 64}, {200, 328, 64}}) {
    const Case c{8, 8, m, n, k, m == 130 || m == 2100, m != 64 && n != 328, m >= 300};
    Problem pr(c, seed++);
    const int64_t ldw = round_up(k, 16) + 32;
    std::vector<int8_t> padded(size_t(n * ldw), int8_t(0x55));
    for (int64_t r = 0; r < n; ++r) std::copy_n(pr.w.begin() + r * k, k, padded.begin() + r * ldw);
    DeviceBuffer<int8_t> rows(padded);
    for (bool vec : {false, true}) {
      Outputs out(c.m, c.n, vec);
      gemm_int8_tma(*ctx_, rows.get(), ldw, n, pr.act(), make_epilogue(pr, out), nullptr);
      check_outputs(pr, out);
      // FP16 alone: the bulk-store epilogue where rows are 16-byte aligned and N is even.
      Outputs out16(c.m, c.n, vec);
      Epilogue e16 = make_epilogue(pr, out16, false);
      e16.y_f32 = nullptr;
      gemm_int8_tma(*ctx_, rows.get(), ldw, n, pr.act(), e16, nullptr);
      check_outputs(pr, out16, false, false);
    }
    if (HasFailure()) return;
  }
  for (int p : {2, 3, 4, 6})
    for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{17, 129, 384}, {260, 300, 1100}}) {
      const Case c{p, 8, m, n, k, true, true, m > 17};
      Problem pr(c, seed++);
      for (FragOrder order : {FragOrder::Natural, FragOrder::Decode}) {
        auto f = frag_of(pr, order);
        Outputs out(c.m, c.n, order == FragOrder::Decode);
        gemm_unpack_tma(*ctx_, f.view(p, n, k), pr.act(), make_epilogue(pr, out), nullptr);
        check_outputs(pr, out);
      }
      if (HasFailure()) return;
    }
}

TEST_F(GpuGemm, Int8TmaRefusesMisalignedRows) {
  Problem pr({8, 8, 4, 16, 64}, 7);
  DeviceBuffer<int8_t> rows(pr.w);
  Outputs out(4, 16, true);
  EXPECT_THROW(gemm_int8_tma(*ctx_, rows.get(), 40, 16, pr.act(), make_epilogue(pr, out), nullptr), Error);
  EXPECT_THROW(gemm_int8_tma(*ctx_, rows.get() + 1, 64, 16, pr.act(), make_epilogue(pr, out), nullptr), Error);
}

TEST_F(GpuGemm, BtcMatchesReference) {
  uint32_t seed = 400;
  const int combos[][2] = {{2, 8}, {3, 8}, {4, 4}, {4, 8}, {6, 6}, {6, 8}};
  for (const auto& pq : combos)
    for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 17, 100}, {3, 33, 513}, {9, 70, 1000},
                                  {17, 16, 256}, {40, 50, 300}}) {
      const Case c{pq[0], pq[1], m, n, k, m == 3, true, m > 8};
      Problem pr(c, seed++);
      const auto wp = pack_btc_weight(pr.w.data(), k, n, k, c.p);
      DeviceBuffer<uint8_t> dw(wp);
      const int64_t ldw = btc_act_ld_words(k) + 4;
      std::vector<uint32_t> xp(size_t(c.q * m * ldw), 0);
      const auto tight = pack_btc_act(pr.x.data(), pr.ldx, m, k, c.q);
      for (int64_t r = 0; r < c.q * m; ++r)
        std::copy_n(tight.begin() + r * btc_act_ld_words(k), btc_act_ld_words(k), xp.begin() + r * ldw);
      DeviceBuffer<uint32_t> dxp(xp);
      for (bool vec : {false, true}) {
        Outputs out(c.m, c.n, vec);
        gemm_btc(*ctx_, BtcWeight{dw.get(), c.p, n, k}, PlaneAct{dxp.get(), ldw, c.q, m, k},
                 make_epilogue(pr, out), nullptr);
        check_outputs(pr, out);
      }
      if (HasFailure()) return;
    }
}

TEST_F(GpuGemm, StandaloneEpilogue) {
  Problem pr({8, 8, 7, 45, 64, true, true, true}, 9);
  DeviceBuffer<int32_t> acc(pr.acc);
  for (bool vec : {false, true}) {
    Outputs out(pr.c.m, pr.c.n, vec);
    epilogue_i32(acc.get(), pr.c.n, pr.c.m, pr.c.n, make_epilogue(pr, out), nullptr);
    check_outputs(pr, out);
  }
}

TEST_F(GpuGemm, DispatcherRunsACorrectRoute) {
  for (const auto& [m, p, q] : {std::tuple<int64_t, int, int>{1, 4, 4}, {64, 4, 4}, {300, 6, 6}, {5, 2, 8}}) {
    Problem pr({p, q, m, 96, 512, false, true, false}, uint32_t(500 + m));
    auto f = frag_of(pr, m <= 32 ? FragOrder::Decode : FragOrder::Natural);
    const auto wp = pack_btc_weight(pr.w.data(), 512, 96, 512, p);
    DeviceBuffer<uint8_t> dw(wp);
    const auto xp = pack_btc_act(pr.x.data(), pr.ldx, m, 512, q);
    DeviceBuffer<uint32_t> dxp(xp);
    DeviceBuffer<uint8_t> gw(pack_gemv(pr.w.data(), 512, 96, 512, p));
    QuantLinear lin;
    lin.p = p, lin.n = 96, lin.k = 512, lin.frag = f.view(p, 96, 512), lin.btc = BtcWeight{dw.get(), p, 96, 512};
    lin.gemv = GemvWeight{gw.get(), p, 96, 512};
    QuantActivations act;
    act.q = q, act.codes = pr.act(), act.planes = PlaneAct{dxp.get(), btc_act_ld_words(512), q, m, 512};
    Outputs out(m, 96, true);
    const Route r = gemm_quantized(*ctx_, lin, act, make_epilogue(pr, out), nullptr);
    check_outputs(pr, out);
    EXPECT_NE(r, Route::Fp16);
  }
}

}  // namespace
}  // namespace bitfold::kernels
#else
TEST(GpuGemm, Skipped) { GTEST_SKIP() << "built without CUDA"; }
#endif
