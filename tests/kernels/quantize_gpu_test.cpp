// Fused producers against the CPU references: codes bit-exact, except that a value within
// 1e-5 (relative) of a rounding boundary may land on either side (the sum of squares is summed
// in another order; SiLU's expf differs from glibc's by an ulp). Such near-ties are counted and
// must be rare; any other difference fails.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/dtype.h"
#include "kernels/kernel_test_util.h"
#include "kernels/layout.h"
#include "kernels/quantize.h"
#include "test_support.h"

#ifdef BITFOLD_HAVE_CUDA
namespace bitfold::kernels {
namespace {

using testing::DeviceBuffer;
using testing::random_floats;

// Compares GPU int8 codes with the CPU ones; returns the number of tolerated near-ties.
int64_t compare_codes(const std::vector<int8_t>& want, const std::vector<int8_t>& got, const std::vector<float>& pre,
                      int64_t m, int64_t d, int64_t ld, const std::string& what) {
  int64_t ties = 0, bad = 0;
  std::ostringstream os;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < d; ++c) {
      const int w = want[size_t(i * d + c)], g = got[size_t(i * ld + c)];
      if (w == g) continue;
      const float y = pre[size_t(i * d + c)];
      const float frac = std::abs(y - std::floor(y) - 0.5f);
      if (std::abs(w - g) == 1 && frac <= 1e-5f * std::max(1.0f, std::abs(y))) {
        ++ties;
      } else if (bad++ < 5) {
        os << " [" << i << "," << c << "] want " << w << " got " << g << " (y = " << y << ");";
      }
    }
  EXPECT_EQ(bad, 0) << what << os.str();
  return ties;
}

void check_nibbles_and_planes(const std::vector<int8_t>& got_i8, int64_t ld_i8, const std::vector<uint8_t>& i4,
                              int64_t ld_i4, const std::vector<uint32_t>& planes, int64_t ldw, int64_t m, int64_t d,
                              int bits, const std::string& what) {
  // Nibbles and planes come from the same codes as the int8 output: compare them to it.
  std::vector<int8_t> codes(size_t(m * d));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < d; ++c) codes[size_t(i * d + c)] = got_i8[size_t(i * ld_i8 + c)];
  if (!i4.empty()) {
    int64_t bad = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < d; ++c) {
        const int nib = (i4[size_t(i * ld_i4 + c / 2)] >> (4 * (c % 2))) & 0xF;
        bad += nib != (codes[size_t(i * d + c)] & 0xF);
      }
    EXPECT_EQ(bad, 0) << what << ": nibbles";
  }
  if (!planes.empty()) {
    const auto want = pack_btc_act(codes.data(), d, m, d, bits);
    std::vector<uint32_t> tight(want.size());
    const int64_t tw = btc_act_ld_words(d);
    for (int64_t r = 0; r < bits * m; ++r)
      for (int64_t wd = 0; wd < tw; ++wd) tight[size_t(r * tw + wd)] = planes[size_t(r * ldw + wd)];
    EXPECT_EQ(tight, want) << what << ": planes";
    for (int64_t r = 0; r < bits * m; ++r)
      for (int64_t wd = tw; wd < ldw; ++wd) EXPECT_EQ(planes[size_t(r * ldw + wd)], 0u) << what << ": plane padding";
  }
}

class GpuQuantize : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_device_description();
  }
};

TEST_F(GpuQuantize, RmsnormQuantizeMatchesReference) {
  std::mt19937 rng(21);
  int64_t ties = 0, total = 0;
  for (int bits : {2, 3, 4, 6, 8})
    for (bool f16 : {false, true})
      for (bool with_beta : {false, true})
        for (auto [m, d] : {std::pair<int64_t, int64_t>{1, 4096}, {3, 1000}, {17, 258}, {5, 5120}}) {
          auto x = random_floats(rng, size_t(m * d), -4, 4);
          std::vector<uint16_t> xh(x.size());
          for (size_t i = 0; i < x.size(); ++i) xh[i] = f32_to_f16(x[i]), x[i] = f16_to_f32(xh[i]);
          // g = gamma / delta: steps chosen so that the codes use the whole q-bit range.
          const float range = float(1 << (bits - 1));
          auto g = random_floats(rng, size_t(d), 0.2f * range, 0.6f * range);
          auto beta = random_floats(rng, size_t(d), -1, 1);
          std::vector<int8_t> want(size_t(m * d));
          std::vector<float> pre(size_t(m * d));
          rmsnorm_quantize_ref(x.data(), d, m, d, g.data(), with_beta ? beta.data() : nullptr, 1e-5f, bits, want.data(),
                               d, pre.data());
          DeviceBuffer<float> dx(x), dg(g), db(beta);
          DeviceBuffer<uint16_t> dxh(xh);
          const int64_t ld8 = d + 7, ld4 = d / 2 + 5, ldw = btc_act_ld_words(d) + 8;
          DeviceBuffer<int8_t> i8(size_t(m * ld8));
          DeviceBuffer<uint8_t> i4(size_t(m * ld4));
          DeviceBuffer<uint32_t> planes(size_t(bits * m * ldw));
          i8.fill_bytes(0x7F), i4.fill_bytes(0xEE), planes.fill_bytes(0xEE);
          CodesOut out;
          out.bits = bits, out.i8 = i8.get(), out.ld_i8 = ld8;
          if (bits <= 4) out.i4 = i4.get(), out.ld_i4 = ld4;
          out.planes = planes.get(), out.ld_words = ldw;
          rmsnorm_quantize(f16 ? static_cast<const void*>(dxh.get()) : dx.get(), f16, d, m, d, dg.get(),
                           with_beta ? db.get() : nullptr, 1e-5f, out, nullptr);
          ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
          const std::string what = "rmsnorm q=" + std::to_string(bits) + " m=" + std::to_string(m) + " d=" +
                                   std::to_string(d) + (f16 ? " f16" : " f32");
          const auto got = i8.download();
          ties += compare_codes(want, got, pre, m, d, ld8, what);
          total += m * d;
          check_nibbles_and_planes(got, ld8, bits <= 4 ? i4.download() : std::vector<uint8_t>{}, ld4,
                                   planes.download(), ldw, m, d, bits, what);
          if (HasFailure()) return;
        }
  EXPECT_LE(ties, total / 100000 + 2) << "near-tie rounding differences: " << ties << " of " << total;
}

TEST_F(GpuQuantize, SiluMulQuantizeMatchesReference) {
  std::mt19937 rng(22);
  int64_t ties = 0, total = 0;
  for (int bits : {4, 6, 8})
    for (bool f16 : {false, true})
      for (auto [m, d] : {std::pair<int64_t, int64_t>{1, 11008}, {9, 1000}}) {
        auto gate = random_floats(rng, size_t(m * d), -6, 6);
        auto up = random_floats(rng, size_t(m * d), -3, 3);
        std::vector<uint16_t> gh(gate.size()), uh(up.size());
        for (size_t i = 0; i < gate.size(); ++i) {
          gh[i] = f32_to_f16(gate[i]), gate[i] = f16_to_f32(gh[i]);
          uh[i] = f32_to_f16(up[i]), up[i] = f16_to_f32(uh[i]);
        }
        const float range = float(1 << (bits - 1));
        auto inv = random_floats(rng, size_t(d), 0.05f * range, 0.2f * range);
        std::vector<int8_t> want(size_t(m * d));
        std::vector<float> pre(size_t(m * d));
        silu_mul_quantize_ref(gate.data(), up.data(), d, m, d, inv.data(), bits, want.data(), d, pre.data());
        DeviceBuffer<float> dg(gate), du(up), dinv(inv);
        DeviceBuffer<uint16_t> dgh(gh), duh(uh);
        DeviceBuffer<int8_t> i8(size_t(m * d));
        i8.fill_bytes(0x7F);
        CodesOut out;
        out.bits = bits, out.i8 = i8.get(), out.ld_i8 = d;
        silu_mul_quantize(f16 ? static_cast<const void*>(dgh.get()) : dg.get(),
                          f16 ? static_cast<const void*>(duh.get()) : du.get(), f16, d, m, d, dinv.get(), out, nullptr);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        ties += compare_codes(want, i8.download(), pre, m, d, d,
                              "silu q=" + std::to_string(bits) + (f16 ? " f16" : " f32"));
        total += m * d;
        if (HasFailure()) return;
      }
  EXPECT_LE(ties, total / 10000 + 2) << "near-tie rounding differences: " << ties << " of " << total;
}

}  // namespace
}  // namespace bitfold::kernels
#else
TEST(GpuQuantize, Skipped) { GTEST_SKIP() << "built without CUDA"; }
#endif
