#include "quant/code_matrix.h"

#include "core/error.h"

namespace bitfold::quant {

CodeMatrix::CodeMatrix(const Tensor& codes) {
  BITFOLD_CHECK(codes.is_cpu() && (codes.dtype() == DType::I8 || codes.dtype() == DType::U8),
                "codes must be a CPU I8 or U8 tensor, got {}", dtype_name(codes.dtype()));
  signed_ = codes.dtype() == DType::I8;
  if (signed_) s_ = codes.data<int8_t>();
  else u_ = codes.data<uint8_t>();
  cols_ = codes.rank() == 0 ? 1 : codes.dim(-1);
  rows_ = cols_ == 0 ? 0 : codes.numel() / cols_;
}

void CodeMatrix::check_fits(int bits, std::string_view what) const {
  if (bits < 1 || bits > 8) fail("{}: {} bits outside 1..8", what, bits);
  const int lo = code_min(bits, signed_), hi = code_max(bits, signed_);
  const int64_t n = rows_ * cols_;
  for (int64_t i = 0; i < n; ++i) {
    const int c = at(i);
    if (c < lo || c > hi)
      fail("{}: code {} at row {}, column {} does not fit {} {} bits [{}, {}]", what, c, i / cols_,
           i % cols_, bits, signed_ ? "signed" : "unsigned", lo, hi);
  }
}

}  // namespace bitfold::quant
