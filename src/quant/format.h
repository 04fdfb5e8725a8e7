#pragma once
// Number formats as data. A Format names one grid of representable values (integer or ExMy
// floating point); everything the quantizers, packers and kernels need to know about it comes from
// format_traits() — one table row per integer grid and per float encoding, never `if (bits == 4)`.
//
// Spellings (parse_format / format_name round-trip; see docs/quant-formats.md):
//   int4               signed two's complement [-8, 7]
//   int4-balanced      signed restricted [-7, 7]               (alias int4-restricted)
//   uint4              unsigned [0, 15] with integer zero-point (alias int4-asym)
//   int2-bitbalanced   ABQ-LLM W2*: signed [-2, 2], 2^b+1 levels, stored in b+1 bits
//   uint2-bitbalanced  ABQ-LLM's asymmetric form: [0, 4] with zero-point, stored in b+1 bits
//   e2m1, fp4-e2m1     generic ExMy, every code finite (LLM-FP4); optional "-bias<k>"
//   fp8-e4m3fn         OCP E4M3FN hardware FP8 (max 448, S.1111.111 = NaN, no inf)
//   fp8-e5m2           OCP E5M2 hardware FP8 (IEEE-like: inf and NaN codes)
//   fp16               no quantization (the layer stays in floating point)
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bitfold::quant {

enum class FormatKind : uint8_t { None, Int, Float };

// The five integer grids (rows of the integer trait table in format.cpp).
enum class IntGrid : uint8_t {
  TwosComplement,       // [-2^(b-1), 2^(b-1)-1], zero-point 0
  Restricted,           // [-(2^(b-1)-1), 2^(b-1)-1], zero-point 0 ("balanced")
  Unsigned,             // [0, 2^b-1], integer zero-point
  BitBalanced,          // [-2^(b-1), 2^(b-1)], zero-point 0, one extra storage bit
  BitBalancedUnsigned,  // [0, 2^b], integer zero-point, one extra storage bit
};

// How a float bit pattern is read (rows of the float trait table in format.cpp). The generic
// encoding and the OCP ones are deliberately distinct formats: an E5M2 grid with every code
// finite (max 114688) is not the hardware E5M2 (max 57344, inf, NaN).
enum class FloatEncoding : uint8_t {
  AllFinite,  // generic ExMy as in LLM-FP4: subnormals, no inf/NaN codes, any bias
  OcpE4M3FN,  // OCP FP8 E4M3FN: bias 7, S.1111.111 is NaN, no inf, max 448
  OcpE5M2,    // OCP FP8 E5M2: bias 15, exponent 11111 is inf (m = 0) or NaN, max 57344
};

// Identity of a format; compare with ==. Build it with the named constructors or parse_format.
struct Format {
  FormatKind kind = FormatKind::None;
  int bits = 16;  // nominal bits b (int2-bitbalanced: 2; e2m1: 4; fp16: 16)
  IntGrid grid = IntGrid::TwosComplement;
  FloatEncoding encoding = FloatEncoding::AllFinite;
  int exponent_bits = 0;
  int mantissa_bits = 0;
  int exponent_bias = 0;  // integer bias of the float grid (real biases are a scale: float_grid.h)

  static Format none();
  static Format integer(IntGrid grid, int bits);  // validates bits for the grid
  // Generic ExMy with the IEEE-style default bias 2^(e-1) - 1.
  static Format float_exmy(int exponent_bits, int mantissa_bits);
  static Format float_exmy(int exponent_bits, int mantissa_bits, int exponent_bias);
  static Format ocp_e4m3fn();
  static Format ocp_e5m2();

  bool operator==(const Format&) const = default;
};

// Everything derived from a Format, computed once (format_traits is cheap but not free: keep the
// result while quantizing).
struct FormatTraits {
  FormatKind kind = FormatKind::None;
  int bits = 16;
  int storage_bits = 16;      // bits of one stored code (bit-balanced: bits + 1)
  bool signed_codes = false;  // codes are stored as int8_t (else uint8_t)
  bool zero_point = false;    // asymmetric: x = step * (q - z) with an integer z per parameter
  int64_t levels = 0;         // distinct representable values (floats: +0 and -0 count once)
  int qmin = 0;  // integers: the code range [qmin, qmax]
  int qmax = 0;
  // Floats: magnitude codes (sign bit clear) 0..max_magnitude_code are the finite ones, ordered
  // by value; the sign is bit (storage_bits - 1).
  int max_magnitude_code = 0;
  // Integers: qmax for symmetric grids, qmax - qmin for asymmetric ones — the number the scale
  // rule divides the range by. Floats: the largest finite grid value (at step 1).
  double scale_divisor = 1;
  double max_value = 0;  // largest finite value on the grid (step 1)
};

FormatTraits format_traits(const Format& format);

// The defining equation of a float grid (step 1), for a magnitude code c = E·2^m + M:
// E = 0: 2^(1-bias)·M/2^m (subnormal); E > 0: 2^(E-bias)·(1 + M/2^m). Exact in double.
// Only meaningful for finite codes (c <= max_magnitude_code).
double float_magnitude(const Format& format, int magnitude_code);

// Rows of the trait tables, exposed for documentation and tests.
struct IntGridRow {
  IntGrid grid;
  std::string_view prefix;  // "int" or "uint"
  std::string_view suffix;  // "", "-balanced", "-bitbalanced"
  bool zero_point;          // asymmetric (unsigned codes, integer zero-point)
  int low_trim;             // qmin = (zero_point ? 0 : -2^(b-1)) + low_trim
  int high_extra;           // qmax = (zero_point ? 2^b : 2^(b-1)) - 1 + high_extra
  int extra_storage_bits;   // storage_bits = b + extra_storage_bits
  int max_bits;             // largest b whose codes still fit 8 storage bits
};
const std::array<IntGridRow, 5>& int_grid_table();

struct FloatEncodingRow {
  FloatEncoding encoding;
  std::string_view name;  // spelling of the fixed formats ("fp8-e4m3fn"); empty for AllFinite
  int exponent_bits;      // fixed field widths, or -1 when any (AllFinite)
  int mantissa_bits;
  int exponent_bias;      // fixed bias, or -1 when configurable
  // Which magnitude codes are not finite numbers.
  bool top_code_is_nan;          // E4M3FN: only S.1111.111 is NaN
  bool top_exponent_is_special;  // E5M2: the whole top exponent is inf (m = 0) or NaN
};
const std::array<FloatEncodingRow, 3>& float_encoding_table();

// "int4", "e2m1", "fp8-e4m3fn" ... Throws bitfold::Error naming the string on anything else:
// unknown spelling, bits outside 2..8, 1 + e + m > 8, a grid that needs more than 8 storage bits.
Format parse_format(std::string_view text);
// The canonical spelling; parse_format(format_name(f)) == f.
std::string format_name(const Format& format);

// A copy of an integer format with b bits (recipes' "bits" override). Throws for float formats.
Format with_bits(const Format& format, int bits);

}  // namespace bitfold::quant
