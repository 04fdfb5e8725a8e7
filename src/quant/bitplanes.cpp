#include "quant/bitplanes.h"

#include <bit>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/code_matrix.h"

namespace bitfold::quant {

int64_t BitPlanes::plane_weight(int plane) const {
  const int64_t weight = int64_t(1) << plane;
  return signed_codes && plane == bits - 1 ? -weight : weight;
}

BitPlanes pack_bitplanes(const Tensor& codes, int bits) {
  const CodeMatrix m(codes);
  m.check_fits(bits, "bit-plane packing");
  BitPlanes p;
  p.bits = bits;
  p.signed_codes = m.signed_codes();
  p.shape = codes.shape();
  p.rows = m.rows();
  p.cols = m.cols();
  p.words_per_row = (m.cols() + 31) / 32;
  p.words = Tensor::zeros({bits, p.rows, p.words_per_row}, DType::I32);
  uint32_t* words = p.words.data<uint32_t>();
  const int64_t plane_stride = p.rows * p.words_per_row;
  parallel_for(p.rows, [&](int64_t r) {
    uint32_t* row = words + r * p.words_per_row;
    for (int64_t k = 0; k < p.cols; ++k) {
      const uint32_t pattern = uint32_t(m.at(r * p.cols + k));  // two's complement low bits
      for (int i = 0; i < bits; ++i)
        row[i * plane_stride + k / 32] |= ((pattern >> i) & 1u) << (k % 32);
    }
  });
  return p;
}

Tensor unpack_bitplanes(const BitPlanes& p) {
  BITFOLD_CHECK(p.bits >= 1 && p.bits <= 8 && p.words_per_row == (p.cols + 31) / 32,
                "malformed BitPlanes ({} bits, {} columns, {} words per row)", p.bits, p.cols,
                p.words_per_row);
  Tensor codes = Tensor::empty(p.shape, p.signed_codes ? DType::I8 : DType::U8);
  int8_t* s = p.signed_codes ? codes.data<int8_t>() : nullptr;
  uint8_t* u = p.signed_codes ? nullptr : codes.data<uint8_t>();
  parallel_for(p.rows, [&](int64_t r) {
    for (int64_t k = 0; k < p.cols; ++k) {
      int64_t code = 0;
      for (int i = 0; i < p.bits; ++i)
        code += p.plane_weight(i) * ((p.plane_row(i, r)[k / 32] >> (k % 32)) & 1u);
      if (s) s[r * p.cols + k] = int8_t(code);
      else u[r * p.cols + k] = uint8_t(code);
    }
  });
  return codes;
}

int64_t bitplane_dot(const BitPlanes& x, int64_t x_row, const BitPlanes& w, int64_t w_row) {
  BITFOLD_CHECK(x.cols == w.cols, "bit-plane dot of K = {} with K = {}", x.cols, w.cols);
  BITFOLD_CHECK(x_row >= 0 && x_row < x.rows && w_row >= 0 && w_row < w.rows,
                "bit-plane dot of rows {} / {} of [{}] / [{}] rows", x_row, w_row, x.rows, w.rows);
  int64_t sum = 0;
  for (int i = 0; i < x.bits; ++i) {
    const uint32_t* xi = x.plane_row(i, x_row);
    for (int j = 0; j < w.bits; ++j) {
      const uint32_t* wj = w.plane_row(j, w_row);
      int64_t ones = 0;
      for (int64_t t = 0; t < x.words_per_row; ++t) ones += std::popcount(xi[t] & wj[t]);
      sum += x.plane_weight(i) * w.plane_weight(j) * ones;
    }
  }
  return sum;
}

}  // namespace bitfold::quant
