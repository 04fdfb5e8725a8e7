#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/dtype.h"

namespace bitfold {
namespace {

// Every half bit pattern round-trips through float, and float->half rounds to nearest-even: the
// half nearest to a float halfway between two neighbours is the one with an even mantissa.
TEST(Dtype, F16RoundTripsEveryBitPattern) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16(f), h) << "pattern " << h;
  }
}

TEST(Dtype, F16RoundsToNearestEvenAgainstDouble) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {  // positive finite halves below the maximum
    const double lo = f16_to_f32(uint16_t(h));
    const double hi = f16_to_f32(uint16_t(h + 1));
    const float mid = float((lo + hi) / 2);  // exact in float: halves have 11 significant bits
    const uint16_t even = (h % 2 == 0) ? uint16_t(h) : uint16_t(h + 1);
    EXPECT_EQ(f32_to_f16(mid), even) << "between patterns " << h << " and " << h + 1;
    EXPECT_EQ(f32_to_f16(std::nextafter(mid, float(lo))), h);
    EXPECT_EQ(f32_to_f16(std::nextafter(mid, float(hi))), h + 1);
  }
}

TEST(Dtype, F16OverflowAndSpecials) {
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1e-9f), 0);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(Dtype, BF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  uint32_t bits = 0x3f808000;  // exactly halfway between 0x3f80 and 0x3f81: stays even
  float f;
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f80);
  bits = 0x3f818000;  // halfway between 0x3f81 and 0x3f82: rounds up to even
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f82);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
}

TEST(Dtype, ParsesSafetensorsNames) {
  DType d;
  ASSERT_TRUE(parse_dtype("BF16", d));
  EXPECT_EQ(d, DType::BF16);
  EXPECT_FALSE(parse_dtype("F8_E4M3", d));
  EXPECT_EQ(dtype_size(DType::I64), 8u);
}

}  // namespace
}  // namespace bitfold
