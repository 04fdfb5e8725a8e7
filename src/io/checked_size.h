#pragma once
// Size arithmetic on numbers read from untrusted files: overflow is an answer (false), not UB.
#include <cstdint>
#include <span>

namespace bitfold::io {

// out = a * b; false on overflow.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

// out = product of `factors`; false on overflow.
inline bool checked_product(std::span<const uint64_t> factors, uint64_t& out) {
  uint64_t p = 1;
  for (uint64_t f : factors)
    if (!checked_mul(p, f, p)) return false;
  out = p;
  return true;
}

}  // namespace bitfold::io
