#include "kernels/fp4_layout.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "quant/float_grid.h"

namespace bitfold::kernels {

namespace {
const quant::FloatGrid& e2m1_grid() {
  static const quant::FloatGrid grid(quant::Format::float_exmy(2, 1));
  return grid;
}
const quant::FloatGrid& e4m3_grid() {
  static const quant::FloatGrid grid(quant::Format::ocp_e4m3fn());
  return grid;
}
}  // namespace

double e2m1_value(uint8_t code) {
  BITFOLD_CHECK(code < 16, "e2m1_value: code out of range");
  return e2m1_grid().value(code);
}
double e4m3_value(uint8_t code) { return e4m3_grid().value(code); }

uint8_t e2m1_to_e4m3(uint8_t code) {
  const double v = e2m1_value(code);
  const uint8_t out = e4m3_grid().encode_unit(v);
  // -0 stays -0 (encode_unit keeps the sign); every E2M1 value is on the E4M3 grid.
  BITFOLD_CHECK(e4m3_grid().value(out) == float(v), "e2m1_to_e4m3: value not exact in E4M3");
  return out;
}

std::vector<uint8_t> pack_fp4(const uint8_t* codes, int64_t ld, int64_t n, int64_t k) {
  const Fp4Layout lay{n, k};
  std::vector<uint8_t> out(size_t(lay.bytes()), 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      const uint8_t code = codes[r * ld + c];
      if (code > 15) fail("pack_fp4: weight [{}, {}] holds {}, not an E2M1 code (0..15)", r, c, int(code));
      out[size_t(r * lay.row_bytes() + c / 2)] |= uint8_t(code << (4 * (c & 1)));
    }
  return out;
}

std::vector<uint8_t> unpack_fp4(const uint8_t* packed, int64_t n, int64_t k) {
  const Fp4Layout lay{n, k};
  std::vector<uint8_t> out(size_t(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      out[size_t(r * k + c)] = uint8_t((packed[r * lay.row_bytes() + c / 2] >> (4 * (c & 1))) & 0xF);
  return out;
}

Fp4Reference fp4_gemm_ref(const uint8_t* x_e4m3, int64_t ldx, int64_t m, const uint8_t* w_packed, int64_t n,
                          int64_t k, float a_scale, const float* w_scale, const float* x_scale, const float* bias,
                          const float* residual) {
  std::array<double, 16> wv{};
  for (int c = 0; c < 16; ++c) wv[size_t(c)] = e2m1_value(uint8_t(c));
  std::array<double, 256> xv{};
  for (int c = 0; c < 256; ++c) xv[size_t(c)] = e4m3_value(uint8_t(c));
  const std::vector<uint8_t> w = unpack_fp4(w_packed, n, k);
  Fp4Reference ref;
  ref.y.resize(size_t(m * n));
  ref.sum_abs.resize(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0, mag = 0;  // exact: at most K products of 6-bit significands
      for (int64_t c = 0; c < k; ++c) {
        const double t = xv[x_e4m3[i * ldx + c]] * wv[w[size_t(j * k + c)]];
        acc += t;
        mag += std::abs(t);
      }
      double s = double(a_scale) * double(w_scale[j]);
      if (x_scale) s *= double(x_scale[i]);
      double y = acc * s;
      if (bias) y += double(bias[j]);
      if (residual) y += double(residual[i * n + j]);
      ref.y[size_t(i * n + j)] = y;
      ref.sum_abs[size_t(i * n + j)] = mag * std::abs(s);
    }
  return ref;
}

double fp4_error_bound(double y_ref, double sum_abs, int64_t k, Fp4Accumulation accumulation, bool fp16_out) {
  constexpr double u = 0x1p-24;
  const double j = double(std::max<int64_t>(k - 1, 0));
  double bound = j * u / (1 - j * u) * sum_abs;
  if (accumulation == Fp4Accumulation::TensorCore) bound += 0x1p-10 * sum_abs;
  bound += 4 * u * (std::abs(y_ref) + sum_abs);
  if (fp16_out) bound += std::max(0x1p-11 * std::abs(y_ref), 0x1p-25);
  return bound;
}

}  // namespace bitfold::kernels
