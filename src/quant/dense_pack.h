#pragma once
// Dense b-bit packing of a code matrix [rows, K] (b = 1..8) for storage.
//
// Layout: each row starts on a 32-bit word; words_per_row = ceil(K·b / 32). Code k of a row is
// bits [k·b, k·b + b) of the row's bit stream, least significant bit first, and bit t of the
// stream is bit (t mod 32) of word t/32 — so a code may straddle two words. A code is stored as
// its low b bits (two's complement for signed codes); unpacking sign-extends. Padding bits are 0.
// Example, b = 3, signed row [1, −2, 3, −1] → patterns 001 110 011 111 → one word 0x00000EF1
// (bits 0–2 = 001, 3–5 = 110, 6–8 = 011, 9–11 = 111).
#include <cstdint>

#include "core/tensor.h"

namespace bitfold::quant {

struct DensePacked {
  int bits = 0;
  bool signed_codes = false;
  Shape shape;  // the shape of the code tensor that was packed
  int64_t rows = 0, cols = 0, words_per_row = 0;
  Tensor words;  // I32 [rows, words_per_row], each element a uint32 bit pattern

  const uint32_t* row_words(int64_t row) const {
    return words.data<uint32_t>() + row * words_per_row;
  }
};

int64_t dense_words_per_row(int64_t cols, int bits);

// codes: I8 or U8 of any rank (seen as [rows, K]). Throws if a code does not fit b bits.
DensePacked pack_dense(const Tensor& codes, int bits);
// Back to I8/U8 codes of the packed shape.
Tensor unpack_dense(const DensePacked& packed);

}  // namespace bitfold::quant
