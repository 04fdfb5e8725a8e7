#pragma once
// A read-only view of a code tensor (I8 or U8, any rank) as a [rows, K] matrix of ints, shared by
// the packers. Packing takes the low `bits` bits of each code: two's complement for signed codes.
#include <cstdint>
#include <string_view>

#include "core/tensor.h"

namespace bitfold::quant {

class CodeMatrix {
 public:
  explicit CodeMatrix(const Tensor& codes);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  bool signed_codes() const { return signed_; }
  int at(int64_t index) const { return signed_ ? int(s_[index]) : int(u_[index]); }

  // Throws bitfold::Error naming the first code (row, column) outside the b-bit range:
  // [−2^(b−1), 2^(b−1)−1] for signed codes, [0, 2^b−1] for unsigned ones. `what` leads the message.
  void check_fits(int bits, std::string_view what) const;

 private:
  const int8_t* s_ = nullptr;
  const uint8_t* u_ = nullptr;
  bool signed_ = false;
  int64_t rows_ = 0, cols_ = 0;
};

// The b-bit range of codes, as above.
inline int code_min(int bits, bool signed_codes) { return signed_codes ? -(1 << (bits - 1)) : 0; }
inline int code_max(int bits, bool signed_codes) {
  return signed_codes ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
}

}  // namespace bitfold::quant
