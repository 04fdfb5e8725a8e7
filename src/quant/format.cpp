#include "quant/format.h"

#include <charconv>
#include <cmath>

#include "core/error.h"

namespace bitfold::quant {

namespace {

// One row per integer grid; qmin/qmax/storage follow from the row and b (see IntGridRow).
// Bit-balanced grids have 2^b + 1 levels, so they need b + 1 storage bits: at most b = 7 to keep
// codes in one int8_t/uint8_t.
constexpr std::array<IntGridRow, 5> kIntGrids = {{
    {IntGrid::TwosComplement, "int", "", false, 0, 0, 0, 8},
    {IntGrid::Restricted, "int", "-balanced", false, 1, 0, 0, 8},
    {IntGrid::Unsigned, "uint", "", true, 0, 0, 0, 8},
    {IntGrid::BitBalanced, "int", "-bitbalanced", false, 0, 1, 1, 7},
    {IntGrid::BitBalancedUnsigned, "uint", "-bitbalanced", true, 0, 1, 1, 7},
}};

constexpr std::array<FloatEncodingRow, 3> kFloatEncodings = {{
    {FloatEncoding::AllFinite, "", -1, -1, -1, false, false},
    {FloatEncoding::OcpE4M3FN, "fp8-e4m3fn", 4, 3, 7, true, false},
    {FloatEncoding::OcpE5M2, "fp8-e5m2", 5, 2, 15, false, true},
}};

const IntGridRow& int_row(IntGrid grid) {
  for (const IntGridRow& row : kIntGrids)
    if (row.grid == grid) return row;
  BITFOLD_CHECK(false, "integer grid {} has no table row", int(grid));
}

const FloatEncodingRow& float_row(FloatEncoding encoding) {
  for (const FloatEncodingRow& row : kFloatEncodings)
    if (row.encoding == encoding) return row;
  BITFOLD_CHECK(false, "float encoding {} has no table row", int(encoding));
}

int default_bias(int exponent_bits) { return (1 << (exponent_bits - 1)) - 1; }

// The OCP formats: every field fixed by the table row.
Format ocp(FloatEncoding encoding) {
  const FloatEncodingRow& row = float_row(encoding);
  Format f;
  f.kind = FormatKind::Float;
  f.encoding = encoding;
  f.exponent_bits = row.exponent_bits;
  f.mantissa_bits = row.mantissa_bits;
  f.exponent_bias = row.exponent_bias;
  f.bits = 1 + row.exponent_bits + row.mantissa_bits;
  return f;
}

// Largest finite magnitude code of a float format (codes above it are inf/NaN).
int max_magnitude_code(const Format& f) {
  const FloatEncodingRow& row = float_row(f.encoding);
  const int all = (1 << (f.exponent_bits + f.mantissa_bits)) - 1;
  if (row.top_code_is_nan) return all - 1;
  if (row.top_exponent_is_special) return all - (1 << f.mantissa_bits);
  return all;
}

// Reads a non-negative decimal number filling all of `text`.
bool read_int(std::string_view text, int& out) {
  if (text.empty() || text.size() > 4) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool consume(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return false;
  text.remove_prefix(prefix.size());
  return true;
}

// Splits "4-balanced" into the leading digits and the rest.
std::string_view leading_digits(std::string_view& text) {
  size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  const std::string_view digits = text.substr(0, n);
  text.remove_prefix(n);
  return digits;
}

constexpr std::string_view kSpellings =
    "int<b>, int<b>-balanced, uint<b> (int<b>-asym), int<b>-bitbalanced, uint<b>-bitbalanced, "
    "e<x>m<y>, fp<n>-e<x>m<y>, e<x>m<y>-bias<k>, fp8-e4m3fn, fp8-e5m2, fp16";

[[noreturn]] void unknown_format(std::string_view text) {
  fail("unknown number format '{}' (known spellings: {})", text, kSpellings);
}

void check_int_bits(std::string_view text, const IntGridRow& row, int bits) {
  if (bits < 2 || bits > 8) fail("number format '{}': bits {} outside 2..8", text, bits);
  if (bits > row.max_bits)
    fail("number format '{}': a {}-bit grid with 2^b+1 levels needs {} storage bits; at most {} "
         "bits fit the 8-bit code storage",
         text, bits, bits + row.extra_storage_bits, row.max_bits);
}

// The grid's values must be normal floats (so that step * value is an ordinary float product).
void check_float_fields(std::string_view text, int e, int m, int bias) {
  if (e < 1) fail("number format '{}': a float format needs at least 1 exponent bit", text);
  if (1 + e + m > 8)
    fail("number format '{}': 1 + e + m = {} bits, more than 8", text, 1 + e + m);
  const double top = std::ldexp(2.0 - std::ldexp(1.0, -m), (1 << e) - 1 - bias);
  const double smallest = std::ldexp(1.0, 1 - bias - m);
  if (!(top < 0x1p127) || smallest < 0x1p-126)
    fail("number format '{}': exponent bias {} puts the grid outside the float range", text, bias);
}

Format parse_float_fields(std::string_view full, std::string_view text, int total_bits) {
  // text is "e<x>m<y>[-bias<k>]"
  if (!consume(text, "e")) unknown_format(full);
  int e = 0, m = 0;
  const std::string_view e_digits = leading_digits(text);
  if (!read_int(e_digits, e) || !consume(text, "m")) unknown_format(full);
  const std::string_view m_digits = leading_digits(text);
  if (!read_int(m_digits, m)) unknown_format(full);
  int bias = e >= 1 ? default_bias(e) : 0;
  if (consume(text, "-bias")) {
    const bool negative = consume(text, "-");
    if (!read_int(text, bias)) unknown_format(full);
    if (negative) bias = -bias;
    text = {};
  }
  if (!text.empty()) unknown_format(full);
  if (total_bits >= 0 && total_bits != 1 + e + m)
    fail("number format '{}': fp{} does not match 1 + e + m = {} bits", full, total_bits, 1 + e + m);
  check_float_fields(full, e, m, bias);
  return Format::float_exmy(e, m, bias);
}

}  // namespace

const std::array<IntGridRow, 5>& int_grid_table() { return kIntGrids; }
const std::array<FloatEncodingRow, 3>& float_encoding_table() { return kFloatEncodings; }

Format Format::none() { return Format{}; }

Format Format::integer(IntGrid grid, int bits) {
  Format f;
  f.kind = FormatKind::Int;
  f.grid = grid;
  f.bits = bits;
  check_int_bits(format_name(f), int_row(grid), bits);
  return f;
}

Format Format::float_exmy(int exponent_bits, int mantissa_bits) {
  return float_exmy(exponent_bits, mantissa_bits, exponent_bits >= 1 ? default_bias(exponent_bits) : 0);
}

Format Format::float_exmy(int exponent_bits, int mantissa_bits, int exponent_bias) {
  Format f;
  f.kind = FormatKind::Float;
  f.encoding = FloatEncoding::AllFinite;
  f.exponent_bits = exponent_bits;
  f.mantissa_bits = mantissa_bits;
  f.exponent_bias = exponent_bias;
  f.bits = 1 + exponent_bits + mantissa_bits;
  check_float_fields(format_name(f), exponent_bits, mantissa_bits, exponent_bias);
  return f;
}

Format Format::ocp_e4m3fn() { return ocp(FloatEncoding::OcpE4M3FN); }
Format Format::ocp_e5m2() { return ocp(FloatEncoding::OcpE5M2); }

double float_magnitude(const Format& f, int code) {
  const int m = f.mantissa_bits;
  const int exponent = code >> m;
  const int mantissa = code & ((1 << m) - 1);
  const double fraction = std::ldexp(double(mantissa), -m);
  if (exponent == 0) return std::ldexp(fraction, 1 - f.exponent_bias);
  return std::ldexp(1.0 + fraction, exponent - f.exponent_bias);
}

FormatTraits format_traits(const Format& f) {
  FormatTraits t;
  t.kind = f.kind;
  t.bits = f.bits;
  switch (f.kind) {
    case FormatKind::None:
      t.storage_bits = 16;
      return t;
    case FormatKind::Int: {
      const IntGridRow& row = int_row(f.grid);
      const int b = f.bits;
      t.storage_bits = b + row.extra_storage_bits;
      t.signed_codes = !row.zero_point;
      t.zero_point = row.zero_point;
      t.qmin = (row.zero_point ? 0 : -(1 << (b - 1))) + row.low_trim;
      t.qmax = (row.zero_point ? (1 << b) : (1 << (b - 1))) - 1 + row.high_extra;
      t.levels = int64_t(t.qmax) - t.qmin + 1;
      t.scale_divisor = row.zero_point ? double(t.qmax - t.qmin) : double(t.qmax);
      t.max_value = t.qmax;
      return t;
    }
    case FormatKind::Float: {
      t.storage_bits = f.bits;
      t.signed_codes = false;  // bit patterns, stored as uint8_t
      t.max_magnitude_code = max_magnitude_code(f);
      t.levels = 2 * (int64_t(t.max_magnitude_code) + 1) - 1;
      t.max_value = float_magnitude(f, t.max_magnitude_code);
      t.scale_divisor = t.max_value;
      return t;
    }
  }
  BITFOLD_CHECK(false, "format kind {} not handled", int(f.kind));
}

Format parse_format(std::string_view text) {
  if (text == "fp16") return Format::none();
  for (const FloatEncodingRow& row : kFloatEncodings)
    if (!row.name.empty() && text == row.name) return ocp(row.encoding);
  if (text == "fp8-e4m3")
    fail("number format 'fp8-e4m3' is ambiguous: say fp8-e4m3fn (OCP hardware FP8, max 448) or "
         "e4m3 (generic, every code finite, max 480)");
  if (text.starts_with("fp8-e4m3fn-") || text.starts_with("fp8-e5m2-"))
    fail("number format '{}': the OCP FP8 formats have a fixed exponent bias", text);

  std::string_view rest = text;
  if (consume(rest, "fp")) {  // fp<n>-e<x>m<y>
    int total = 0;
    const std::string_view digits = leading_digits(rest);
    if (!read_int(digits, total) || !consume(rest, "-")) unknown_format(text);
    return parse_float_fields(text, rest, total);
  }
  if (rest.starts_with("e")) return parse_float_fields(text, rest, -1);

  bool unsigned_prefix = consume(rest, "uint");
  if (!unsigned_prefix && !consume(rest, "int")) unknown_format(text);
  int bits = 0;
  const std::string_view digits = leading_digits(rest);
  if (!read_int(digits, bits)) unknown_format(text);
  std::string_view suffix = rest;
  if (!unsigned_prefix && (suffix == "-asym" || suffix == "-asym-bitbalanced")) {
    unsigned_prefix = true;
    suffix = suffix == "-asym" ? "" : "-bitbalanced";
  }
  if (!unsigned_prefix && suffix == "-restricted") suffix = "-balanced";
  for (const IntGridRow& row : kIntGrids) {
    if (row.prefix != (unsigned_prefix ? "uint" : "int") || row.suffix != suffix) continue;
    check_int_bits(text, row, bits);
    Format f;
    f.kind = FormatKind::Int;
    f.grid = row.grid;
    f.bits = bits;
    return f;
  }
  unknown_format(text);
}

std::string format_name(const Format& f) {
  switch (f.kind) {
    case FormatKind::None:
      return "fp16";
    case FormatKind::Int: {
      const IntGridRow& row = int_row(f.grid);
      return fmt::format("{}{}{}", row.prefix, f.bits, row.suffix);
    }
    case FormatKind::Float: {
      const FloatEncodingRow& row = float_row(f.encoding);
      if (!row.name.empty()) return std::string(row.name);
      std::string name = fmt::format("e{}m{}", f.exponent_bits, f.mantissa_bits);
      if (f.exponent_bits < 1 || f.exponent_bias != default_bias(f.exponent_bits))
        name += fmt::format("-bias{}", f.exponent_bias);
      return name;
    }
  }
  BITFOLD_CHECK(false, "format kind {} not handled", int(f.kind));
}

Format with_bits(const Format& format, int bits) {
  if (format.kind != FormatKind::Int)
    fail("a bits override needs an integer format, not '{}': give a format string instead",
         format_name(format));
  return Format::integer(format.grid, bits);
}

}  // namespace bitfold::quant
