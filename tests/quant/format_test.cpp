#include <gtest/gtest.h>

#include "core/error.h"
#include "quant/format.h"
#include "reference.h"

namespace bitfold::quant {
namespace {

TEST(Format, EveryFormatNameRoundTrips) {
  for (const Format& f : reference::all_formats()) {
    const std::string name = format_name(f);
    EXPECT_EQ(parse_format(name), f) << name;
  }
  EXPECT_EQ(parse_format("fp16"), Format::none());
  EXPECT_EQ(format_name(Format::none()), "fp16");
}

TEST(Format, SpellingsAndAliases) {
  EXPECT_EQ(parse_format("int4"), Format::integer(IntGrid::TwosComplement, 4));
  EXPECT_EQ(parse_format("int4-balanced"), Format::integer(IntGrid::Restricted, 4));
  EXPECT_EQ(parse_format("int4-restricted"), Format::integer(IntGrid::Restricted, 4));
  EXPECT_EQ(parse_format("uint4"), Format::integer(IntGrid::Unsigned, 4));
  EXPECT_EQ(parse_format("int4-asym"), Format::integer(IntGrid::Unsigned, 4));
  EXPECT_EQ(parse_format("int2-bitbalanced"), Format::integer(IntGrid::BitBalanced, 2));
  EXPECT_EQ(parse_format("uint2-bitbalanced"), Format::integer(IntGrid::BitBalancedUnsigned, 2));
  EXPECT_EQ(parse_format("fp4-e2m1"), Format::float_exmy(2, 1));
  EXPECT_EQ(parse_format("e2m1"), Format::float_exmy(2, 1));
  EXPECT_EQ(parse_format("e3m2"), Format::float_exmy(3, 2));
  EXPECT_EQ(parse_format("fp6-e3m2"), Format::float_exmy(3, 2));
  EXPECT_EQ(parse_format("e3m2-bias5"), Format::float_exmy(3, 2, 5));
  EXPECT_EQ(parse_format("e4m3-bias-2"), Format::float_exmy(4, 3, -2));
  EXPECT_EQ(parse_format("e2m1-bias1"), Format::float_exmy(2, 1));  // the default bias
  EXPECT_EQ(parse_format("fp8-e4m3fn"), Format::ocp_e4m3fn());
  EXPECT_EQ(parse_format("fp8-e5m2"), Format::ocp_e5m2());
  // The generic E5M2 and the OCP one are different formats with different names.
  EXPECT_NE(parse_format("e5m2"), parse_format("fp8-e5m2"));
  EXPECT_EQ(format_name(Format::float_exmy(5, 2)), "e5m2");
  EXPECT_EQ(format_name(Format::float_exmy(3, 2, 5)), "e3m2-bias5");
  EXPECT_EQ(format_name(Format::integer(IntGrid::Restricted, 6)), "int6-balanced");
}

void expect_rejected(const std::string& text, const std::string& message) {
  try {
    parse_format(text);
    ADD_FAILURE() << text << " was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
        << text << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(Format, RejectsBadSpellings) {
  expect_rejected("int9", "bits 9 outside 2..8");
  expect_rejected("int1", "bits 1 outside 2..8");
  expect_rejected("uint0", "bits 0 outside 2..8");
  expect_rejected("int8-bitbalanced", "needs 9 storage bits");
  expect_rejected("e5m3", "1 + e + m = 9 bits, more than 8");
  expect_rejected("e7m1", "1 + e + m = 9 bits, more than 8");
  expect_rejected("e0m3", "at least 1 exponent bit");
  expect_rejected("fp6-e2m1", "does not match 1 + e + m = 4");
  expect_rejected("fp8-e4m3", "ambiguous");
  expect_rejected("fp8-e4m3fn-bias3", "fixed exponent bias");
  expect_rejected("e4m3-bias-200", "outside the float range");
  expect_rejected("int4-sym", "unknown number format");
  expect_rejected("bf16", "unknown number format");
  expect_rejected("", "unknown number format");
  expect_rejected("e2m", "unknown number format");
  expect_rejected("int", "unknown number format");
  EXPECT_THROW(with_bits(Format::float_exmy(2, 1), 3), Error);
  EXPECT_EQ(with_bits(Format::integer(IntGrid::Unsigned, 4), 8), Format::integer(IntGrid::Unsigned, 8));
}

TEST(Format, IntegerGridTraits) {
  for (int b = 2; b <= 8; ++b) {
    const int half = 1 << (b - 1);
    FormatTraits t = format_traits(Format::integer(IntGrid::TwosComplement, b));
    EXPECT_EQ(t.qmin, -half);
    EXPECT_EQ(t.qmax, half - 1);
    EXPECT_EQ(t.levels, 1 << b);
    EXPECT_EQ(t.storage_bits, b);
    EXPECT_TRUE(t.signed_codes);
    EXPECT_FALSE(t.zero_point);
    EXPECT_EQ(t.scale_divisor, half - 1);

    t = format_traits(Format::integer(IntGrid::Restricted, b));
    EXPECT_EQ(t.qmin, -(half - 1));
    EXPECT_EQ(t.qmax, half - 1);
    EXPECT_EQ(t.levels, (1 << b) - 1);
    EXPECT_EQ(t.storage_bits, b);

    t = format_traits(Format::integer(IntGrid::Unsigned, b));
    EXPECT_EQ(t.qmin, 0);
    EXPECT_EQ(t.qmax, (1 << b) - 1);
    EXPECT_TRUE(t.zero_point);
    EXPECT_FALSE(t.signed_codes);
    EXPECT_EQ(t.scale_divisor, (1 << b) - 1);  // (max − min) / (levels − 1)
    if (b <= 7) {
      t = format_traits(Format::integer(IntGrid::BitBalanced, b));
      EXPECT_EQ(t.qmin, -half);
      EXPECT_EQ(t.qmax, half);
      EXPECT_EQ(t.levels, (1 << b) + 1);
      EXPECT_EQ(t.storage_bits, b + 1);
      EXPECT_EQ(t.scale_divisor, half);

      t = format_traits(Format::integer(IntGrid::BitBalancedUnsigned, b));
      EXPECT_EQ(t.qmin, 0);
      EXPECT_EQ(t.qmax, 1 << b);
      EXPECT_EQ(t.levels, (1 << b) + 1);
      EXPECT_EQ(t.storage_bits, b + 1);
      EXPECT_EQ(t.scale_divisor, 1 << b);  // ABQ: Δ = (max − min) / 2^b
    }
  }
  // ABQ-LLM's W2*: {−2, −1, 0, 1, 2} in three storage bits.
  const FormatTraits w2 = format_traits(parse_format("int2-bitbalanced"));
  EXPECT_EQ(w2.qmin, -2);
  EXPECT_EQ(w2.qmax, 2);
  EXPECT_EQ(w2.storage_bits, 3);
}

TEST(Format, FloatTraits) {
  FormatTraits t = format_traits(parse_format("e2m1"));
  EXPECT_EQ(t.max_value, 6.0);
  EXPECT_EQ(t.levels, 15);
  EXPECT_EQ(t.storage_bits, 4);
  EXPECT_EQ(t.max_magnitude_code, 7);
  t = format_traits(parse_format("fp8-e4m3fn"));
  EXPECT_EQ(t.max_value, 448.0);
  EXPECT_EQ(t.max_magnitude_code, 0x7e);
  EXPECT_EQ(t.levels, 253);
  t = format_traits(parse_format("fp8-e5m2"));
  EXPECT_EQ(t.max_value, 57344.0);
  EXPECT_EQ(t.max_magnitude_code, 0x7b);
  EXPECT_EQ(t.levels, 247);
  EXPECT_EQ(format_traits(parse_format("e4m3")).max_value, 480.0);
  EXPECT_EQ(format_traits(parse_format("e5m2")).max_value, 114688.0);
  EXPECT_EQ(format_traits(parse_format("e3m0")).max_value, 16.0);   // 2^(7 − 3)
  EXPECT_EQ(format_traits(parse_format("e1m2")).max_value, 3.5);    // 2^1 · 1.75, bias 0
  // LLM-FP4's maxval(β) = (2 − 2^−m) · 2^(2^e − 1 − β) for every generic format.
  for (const Format& f : reference::all_formats()) {
    if (f.kind != FormatKind::Float || f.encoding != FloatEncoding::AllFinite) continue;
    const double expected = (2.0 - std::ldexp(1.0, -f.mantissa_bits)) *
                            std::ldexp(1.0, (1 << f.exponent_bits) - 1 - f.exponent_bias);
    EXPECT_EQ(format_traits(f).max_value, expected) << format_name(f);
    EXPECT_EQ(format_traits(f).levels, (1 << f.bits) - 1) << format_name(f);
  }
}

}  // namespace
}  // namespace bitfold::quant
