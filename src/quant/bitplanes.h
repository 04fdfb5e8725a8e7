#pragma once
// Bit-plane layout of a code matrix [rows, K] for the BTC (binary tensor core) GEMMs of ABQ-LLM
// and FlexQ: a b-bit code is the weighted sum of b binary planes, and a p-bit × q-bit dot
// product is p·q AND+popcount products.
//
// Layout (plane-major): words [bits][rows][words_per_row], words_per_row = ceil(K/32).
// Bit i of code (r, k) — of its b-bit two's-complement pattern for signed codes, of its binary
// value for unsigned ones — is bit (k mod 32) of word [i][r][k/32] (least significant bit first;
// element k = 0 is bit 0 of word 0). Padding bits (k >= K) are 0, so they add nothing to a
// popcount. Plane i weighs 2^i, except the top plane of signed codes, which weighs −2^(b−1):
//   code = Σ_i weight_i · bit_i.
// Example, b = 3, signed row [1, −2, 3, −1] (patterns 001 110 011 111):
//   plane 0 = 0b1101 = 0xD, plane 1 = 0b1110 = 0xE, plane 2 (weight −4) = 0b1010 = 0xA.
// (ABQ-LLM's published kernel orders bits MSB-first within a word; for AND+popcount only the
// agreement between the two operands matters. bitfold's kernels follow this layout.)
#include <cstdint>

#include "core/tensor.h"

namespace bitfold::quant {

struct BitPlanes {
  int bits = 0;
  bool signed_codes = false;
  Shape shape;  // the shape of the code tensor that was packed
  int64_t rows = 0, cols = 0, words_per_row = 0;
  Tensor words;  // I32 [bits, rows, words_per_row], each element a uint32 bit pattern

  const uint32_t* plane_row(int plane, int64_t row) const {
    return words.data<uint32_t>() + (int64_t(plane) * rows + row) * words_per_row;
  }
  // 2^plane, or −2^(bits−1) for the top plane of signed codes.
  int64_t plane_weight(int plane) const;
};

// codes: I8 or U8 of any rank (seen as [rows, K]). Throws if a code does not fit b bits.
BitPlanes pack_bitplanes(const Tensor& codes, int bits);
// Back to I8/U8 codes of the packed shape, by Σ_i weight_i · bit_i.
Tensor unpack_bitplanes(const BitPlanes& planes);

// Σ_k x[x_row, k] · w[w_row, k] computed as Σ_i Σ_j weight_i·weight_j·popcount(x_i AND w_j):
// the BTC identity, as a CPU reference for the kernels. x and w must have the same K.
int64_t bitplane_dot(const BitPlanes& x, int64_t x_row, const BitPlanes& w, int64_t w_row);

}  // namespace bitfold::quant
