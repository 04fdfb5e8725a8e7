#include "quant/dense_pack.h"

#include "core/error.h"
#include "core/parallel.h"
#include "quant/code_matrix.h"

namespace bitfold::quant {

int64_t dense_words_per_row(int64_t cols, int bits) { return (cols * bits + 31) / 32; }

DensePacked pack_dense(const Tensor& codes, int bits) {
  const CodeMatrix m(codes);
  m.check_fits(bits, "dense packing");
  DensePacked p;
  p.bits = bits;
  p.signed_codes = m.signed_codes();
  p.shape = codes.shape();
  p.rows = m.rows();
  p.cols = m.cols();
  p.words_per_row = dense_words_per_row(m.cols(), bits);
  p.words = Tensor::zeros({p.rows, p.words_per_row}, DType::I32);
  uint32_t* words = p.words.data<uint32_t>();
  const uint32_t mask = (1u << bits) - 1;
  parallel_for(p.rows, [&](int64_t r) {
    uint32_t* row = words + r * p.words_per_row;
    for (int64_t k = 0; k < p.cols; ++k) {
      const uint32_t v = uint32_t(m.at(r * p.cols + k)) & mask;
      const int64_t t = k * bits;
      const int offset = int(t % 32);
      row[t / 32] |= v << offset;
      if (offset + bits > 32) row[t / 32 + 1] |= v >> (32 - offset);
    }
  });
  return p;
}

Tensor unpack_dense(const DensePacked& p) {
  BITFOLD_CHECK(p.bits >= 1 && p.bits <= 8 && p.words_per_row == dense_words_per_row(p.cols, p.bits),
                "malformed DensePacked ({} bits, {} columns, {} words per row)", p.bits, p.cols,
                p.words_per_row);
  Tensor codes = Tensor::empty(p.shape, p.signed_codes ? DType::I8 : DType::U8);
  int8_t* s = p.signed_codes ? codes.data<int8_t>() : nullptr;
  uint8_t* u = p.signed_codes ? nullptr : codes.data<uint8_t>();
  const uint32_t mask = (1u << p.bits) - 1;
  const uint32_t sign = 1u << (p.bits - 1);
  parallel_for(p.rows, [&](int64_t r) {
    const uint32_t* row = p.row_words(r);
    for (int64_t k = 0; k < p.cols; ++k) {
      const int64_t t = k * p.bits;
      const int offset = int(t % 32);
      uint64_t window = row[t / 32];
      if (offset + p.bits > 32) window |= uint64_t(row[t / 32 + 1]) << 32;
      const uint32_t v = uint32_t(window >> offset) & mask;
      const int64_t i = r * p.cols + k;
      if (s) s[i] = int8_t((v & sign) ? int(v) - (1 << p.bits) : int(v));
      else u[i] = uint8_t(v);
    }
  });
  return codes;
}

}  // namespace bitfold::quant
