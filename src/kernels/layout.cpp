#include "kernels/layout.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/error.h"

namespace bitfold::kernels {

namespace {

void check_bits(int bits, const char* what) {
  if (bits < 1 || bits > 8) fail("{}: bit width {} is outside 1..8", what, bits);
}

int8_t code_at(const int8_t* w, int64_t ld, int64_t n, int64_t k, int64_t row, int64_t col) {
  return (row < n && col < k) ? w[row * ld + col] : int8_t(0);
}

// Byte offset, inside one frag tile, of byte c of word j of lane L in the field of width f.
int64_t frag_field_byte(int bits, int f, int lane, int j, int c) {
  const int64_t base = 256 * int64_t(bits & ~(2 * f - 1));
  if (f >= 2) return base + 512 * (j / 4) + 16 * lane + 4 * (j % 4) + c;
  return base + 8 * lane + 4 * j + c;
}

}  // namespace

std::vector<uint8_t> pack_frag(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits, FragOrder order) {
  check_bits(bits, "pack_frag");
  const FragLayout lay{bits, n, k};
  std::vector<uint8_t> out(size_t(lay.bytes()), 0);
  const int offset = 1 << (bits - 1);
  for (int64_t rt = 0; rt < lay.row_tiles(); ++rt)
    for (int64_t kt = 0; kt < lay.k_tiles(); ++kt) {
      uint8_t* tile = out.data() + (rt * lay.k_tiles() + kt) * lay.tile_bytes();
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int u = 0; u < 16; ++u) {
          const int r = u & 3;
          const int64_t row = 16 * rt + g + 8 * (r & 1);
          for (int c = 0; c < 4; ++c) {
            const int64_t col = 128 * kt + frag_k(order, u, t, c);
            const int v = code_at(w, ldw, n, k, row, col) + offset;  // offset binary
            for (int f = 8; f >= 1; f >>= 1) {
              if (!(bits & f)) continue;
              const int off = bits & ~(2 * f - 1);
              const int part = (v >> off) & ((1 << f) - 1);
              const int j = u * f / 8, shift = f * (u % (8 / f));
              tile[frag_field_byte(bits, f, lane, j, c)] |= uint8_t(part << shift);
            }
          }
        }
      }
    }
  return out;
}

std::vector<int8_t> unpack_frag(const uint8_t* packed, int64_t n, int64_t k, int bits, FragOrder order) {
  check_bits(bits, "unpack_frag");
  const FragLayout lay{bits, n, k};
  std::vector<int8_t> out(size_t(n * k), 0);
  const int offset = 1 << (bits - 1);
  for (int64_t rt = 0; rt < lay.row_tiles(); ++rt)
    for (int64_t kt = 0; kt < lay.k_tiles(); ++kt) {
      const uint8_t* tile = packed + (rt * lay.k_tiles() + kt) * lay.tile_bytes();
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int u = 0; u < 16; ++u) {
          const int r = u & 3;
          const int64_t row = 16 * rt + g + 8 * (r & 1);
          for (int c = 0; c < 4; ++c) {
            const int64_t col = 128 * kt + frag_k(order, u, t, c);
            int v = 0;
            for (int f = 8; f >= 1; f >>= 1) {
              if (!(bits & f)) continue;
              const int off = bits & ~(2 * f - 1);
              const int j = u * f / 8, shift = f * (u % (8 / f));
              const int part = (tile[frag_field_byte(bits, f, lane, j, c)] >> shift) & ((1 << f) - 1);
              v |= part << off;
            }
            if (row < n && col < k) out[size_t(row * k + col)] = int8_t(v - offset);
          }
        }
      }
    }
  return out;
}

namespace {
// Calls fn(field width f, value offset off, byte offset of the field's chunk byte, shift, k) for
// every (field, word, slot, byte) of chunk c of one row: the one definition of the gemv layout
// that the packer and the unpacker share.
template <class Fn>
void for_each_gemv_slot(int bits, int64_t kp, int64_t c, Fn&& fn) {
  const int wide = gemv_widest_field(bits), chunk = gemv_chunk_codes(bits);
  for (int f = 8; f >= 1; f >>= 1) {
    if (!(bits & f)) continue;
    const int off = bits & ~(2 * f - 1), nw = 4 * f / wide;
    const int64_t field = kp * off / 8 + c * 4 * nw;
    for (int j = 0; j < nw; ++j)
      for (int s = 0; s < 8 / f; ++s)
        for (int b = 0; b < 4; ++b)
          fn(f, off, field + 4 * j + b, f * s, chunk * c + gemv_chunk_k(bits, f, j, s, b));
  }
}
}  // namespace

std::vector<uint8_t> pack_gemv(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits) {
  check_bits(bits, "pack_gemv");
  const GemvLayout lay{bits, n, k};
  std::vector<uint8_t> out(size_t(lay.bytes()), 0);
  const int64_t kp = lay.k_padded(), chunks = kp / gemv_chunk_codes(bits);
  for (int64_t row = 0; row < n; ++row) {
    uint8_t* dst = out.data() + row * lay.row_bytes();
    for (int64_t c = 0; c < chunks; ++c)
      for_each_gemv_slot(bits, kp, c, [&](int f, int off, int64_t byte, int shift, int64_t col) {
        const int u = (int(code_at(w, ldw, n, k, row, col)) + gemv_offset(bits)) & 0xFF;
        dst[byte] |= uint8_t(((u >> off) & ((1 << f) - 1)) << shift);
      });
  }
  return out;
}

std::vector<int8_t> unpack_gemv(const uint8_t* packed, int64_t n, int64_t k, int bits) {
  check_bits(bits, "unpack_gemv");
  const GemvLayout lay{bits, n, k};
  std::vector<int8_t> out(size_t(n * k), 0);
  std::vector<int> u(size_t(lay.k_padded()));
  const int64_t kp = lay.k_padded(), chunks = kp / gemv_chunk_codes(bits);
  for (int64_t row = 0; row < n; ++row) {
    const uint8_t* src = packed + row * lay.row_bytes();
    std::fill(u.begin(), u.end(), 0);
    for (int64_t c = 0; c < chunks; ++c)
      for_each_gemv_slot(bits, kp, c, [&](int f, int off, int64_t byte, int shift, int64_t col) {
        u[size_t(col)] |= ((src[byte] >> shift) & ((1 << f) - 1)) << off;
      });
    for (int64_t col = 0; col < k; ++col)
      out[size_t(row * k + col)] = int8_t(uint8_t(u[size_t(col)] - gemv_offset(bits)));
  }
  return out;
}

std::vector<int32_t> gemv_ref_i32(const int8_t* x, int64_t ldx, int64_t m, const uint8_t* packed, int64_t n,
                                  int64_t k, int bits) {
  check_bits(bits, "gemv_ref_i32");
  const GemvLayout lay{bits, n, k};
  const int64_t kp = lay.k_padded();
  const int wide = gemv_widest_field(bits), chunk = gemv_chunk_codes(bits);
  std::vector<int32_t> out(size_t(m * n));
  // Activations zero-padded to kp, as the kernel stages them.
  std::vector<int8_t> xp(size_t(m * kp), 0);
  for (int64_t i = 0; i < m; ++i) std::copy_n(x + i * ldx, k, xp.begin() + i * kp);
  auto word_at = [](const uint8_t* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  };
  for (int64_t i = 0; i < m; ++i) {
    const int8_t* xr = xp.data() + i * kp;
    int64_t sum_x = 0;
    for (int64_t c = 0; c < kp; ++c) sum_x += xr[c];
    for (int64_t row = 0; row < n; ++row) {
      const uint8_t* src = packed + row * lay.row_bytes();
      int64_t acc[17] = {};  // by scale exponent e + 8
      for (int64_t c = 0; c < kp / chunk; ++c)
        for (int f = 8; f >= 1; f >>= 1) {
          if (!(bits & f)) continue;
          const int off = bits & ~(2 * f - 1), nw = 4 * f / wide;
          for (int j = 0; j < nw; ++j) {
            const uint32_t word = word_at(src + kp * off / 8 + c * 4 * nw + 4 * j);
            for (int s = 0; s < 8 / f; ++s) {
              const int shift = f == 1 ? (s & ~1) : f * s;
              const uint32_t w = f == 1 && (s & 1) ? word >> 1 : word;
              const uint32_t raw = bits == 8 ? w : w & (0x01010101u * (((1u << f) - 1u) << shift));
              const int8_t* x4 = xr + chunk * c + 4 * (nw * s + j);
              int64_t dot = 0;  // dp4a: unsigned weight bytes (signed for p = 8), signed activations
              for (int b = 0; b < 4; ++b) {
                const int byte = int((raw >> (8 * b)) & 0xFF);
                dot += int64_t(bits == 8 ? int(int8_t(byte)) : byte) * x4[b];
              }
              acc[off - (bits == 8 ? 0 : shift) + 8] += dot;
            }
          }
        }
      int64_t total = 0;
      for (int e = 0; e < 17; ++e) {
        if (e >= 8) {
          total += acc[e] * (int64_t(1) << (e - 8));
        } else {
          BITFOLD_CHECK(acc[e] % (int64_t(1) << (8 - e)) == 0, "gemv identity: a scale shift would drop bits");
          total += acc[e] / (int64_t(1) << (8 - e));
        }
      }
      total -= int64_t(gemv_offset(bits)) * sum_x;
      BITFOLD_CHECK(total >= INT32_MIN && total <= INT32_MAX, "reference accumulator overflows int32");
      out[size_t(i * n + row)] = int32_t(total);
    }
  }
  return out;
}

std::vector<uint8_t> pack_btc_weight(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits) {
  check_bits(bits, "pack_btc_weight");
  const BtcWeightLayout lay{bits, n, k};
  std::vector<uint8_t> out(size_t(lay.bytes()), 0);
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t rt = 0; rt < lay.row_tiles(); ++rt)
    for (int64_t kt = 0; kt < lay.k_tiles(); ++kt) {
      uint8_t* tile = out.data() + (rt * lay.k_tiles() + kt) * lay.tile_bytes();
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int r = 0; r < 4; ++r) {
          const int64_t row = 16 * rt + g + 8 * (r & 1);
          const int64_t col = 256 * kt + 128 * (r >> 1) + 32 * t;
          for (int j = 0; j < bits; ++j) {
            uint32_t word = 0;
            for (int b = 0; b < 32; ++b) {
              const uint32_t code = uint32_t(int32_t(code_at(w, ldw, n, k, row, col + b))) & mask;
              word |= ((code >> j) & 1u) << b;
            }
            uint8_t* dst = tile + 512 * j + 16 * lane + 4 * r;
            for (int c = 0; c < 4; ++c) dst[c] = uint8_t(word >> (8 * c));
          }
        }
      }
    }
  return out;
}

std::vector<uint32_t> pack_btc_act(const int8_t* x, int64_t ldx, int64_t m, int64_t k, int bits) {
  check_bits(bits, "pack_btc_act");
  const int64_t ldw = btc_act_ld_words(k);
  std::vector<uint32_t> out(size_t(bits * m * ldw), 0);
  const uint32_t mask = (1u << bits) - 1;
  for (int i = 0; i < bits; ++i)
    for (int64_t row = 0; row < m; ++row)
      for (int64_t col = 0; col < k; ++col) {
        const uint32_t code = uint32_t(int32_t(x[row * ldx + col])) & mask;
        if ((code >> i) & 1u) out[size_t((i * m + row) * ldw + col / 32)] |= 1u << (col % 32);
      }
  return out;
}

std::vector<int32_t> gemm_ref_i32(const int8_t* x, int64_t ldx, const int8_t* w, int64_t ldw,
                                  int64_t m, int64_t n, int64_t k) {
  std::vector<int32_t> out(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      const int8_t* xr = x + i * ldx;
      const int8_t* wr = w + j * ldw;
      for (int64_t c = 0; c < k; ++c) acc += int64_t(xr[c]) * int64_t(wr[c]);
      BITFOLD_CHECK(acc >= INT32_MIN && acc <= INT32_MAX, "reference accumulator overflows int32");
      out[size_t(i * n + j)] = int32_t(acc);
    }
  return out;
}

std::vector<int32_t> btc_ref_i32(const uint32_t* x_planes, int64_t m, int q,
                                 const uint8_t* w_packed, int64_t n, int64_t k, int p) {
  const BtcWeightLayout lay{p, n, k};
  const int64_t ldw = btc_act_ld_words(k);
  std::vector<int32_t> out(size_t(m * n), 0);
  // Gather the weight planes back into [p][n][ldw] words from the fragment tiles.
  std::vector<uint32_t> wp(size_t(p * n * ldw), 0);
  for (int64_t rt = 0; rt < lay.row_tiles(); ++rt)
    for (int64_t kt = 0; kt < lay.k_tiles(); ++kt) {
      const uint8_t* tile = w_packed + (rt * lay.k_tiles() + kt) * lay.tile_bytes();
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, t = lane & 3;
        for (int r = 0; r < 4; ++r) {
          const int64_t row = 16 * rt + g + 8 * (r & 1);
          if (row >= n) continue;
          const int64_t word = (256 * kt + 128 * (r >> 1) + 32 * t) / 32;
          for (int j = 0; j < p; ++j) {
            const uint8_t* src = tile + 512 * j + 16 * lane + 4 * r;
            wp[size_t((j * n + row) * ldw + word)] =
                uint32_t(src[0]) | uint32_t(src[1]) << 8 | uint32_t(src[2]) << 16 | uint32_t(src[3]) << 24;
          }
        }
      }
    }
  for (int64_t row = 0; row < m; ++row)
    for (int64_t col = 0; col < n; ++col) {
      int64_t acc = 0;
      for (int i = 0; i < q; ++i)
        for (int j = 0; j < p; ++j) {
          int64_t pop = 0;
          for (int64_t wd = 0; wd < ldw; ++wd)
            pop += std::popcount(x_planes[size_t((i * m + row) * ldw + wd)] &
                                 wp[size_t((j * n + col) * ldw + wd)]);
          const int64_t weight = (int64_t(1) << (i + j)) * (((i == q - 1) != (j == p - 1)) ? -1 : 1);
          acc += weight * pop;
        }
      out[size_t(row * n + col)] = int32_t(acc);
    }
  return out;
}

std::vector<double> epilogue_ref(const std::vector<int32_t>& acc, int64_t m, int64_t n,
                                 const float* w_scale, const float* x_scale, const float* bias,
                                 const float* residual) {
  std::vector<double> out(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double v = double(acc[size_t(i * n + j)]) * double(w_scale[j]);
      if (x_scale) v *= double(x_scale[i]);
      if (bias) v += double(bias[j]);
      if (residual) v += double(residual[i * n + j]);
      out[size_t(i * n + j)] = v;
    }
  return out;
}

namespace {
int8_t round_clamp(float y, int bits) {
  // nearbyint rounds half to even under the default rounding mode, like __float2int_rn.
  const float r = std::nearbyint(y);
  const float lo = float(code_min(bits)), hi = float(code_max(bits));
  return int8_t(r < lo ? lo : (r > hi ? hi : r));
}
}  // namespace

void rmsnorm_quantize_ref(const float* x, int64_t ldx, int64_t m, int64_t d, const float* g,
                          const float* beta, float eps, int bits, int8_t* codes, int64_t ldc,
                          float* pre_round) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    double ss = 0;
    for (int64_t c = 0; c < d; ++c) ss += double(xr[c]) * double(xr[c]);
    const float ms = float(ss / double(d));
    const float inv = 1.0f / std::sqrt(ms + eps);
    for (int64_t c = 0; c < d; ++c) {
      float y = xr[c] * inv;
      y = y * g[c];
      if (beta) y = y + beta[c];
      if (pre_round) pre_round[i * d + c] = y;
      codes[i * ldc + c] = round_clamp(y, bits);
    }
  }
}

void silu_mul_quantize_ref(const float* gate, const float* up, int64_t ld, int64_t m, int64_t d,
                           const float* inv_delta, int bits, int8_t* codes, int64_t ldc,
                           float* pre_round) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < d; ++c) {
      const float gv = gate[i * ld + c];
      const float s = gv / (1.0f + std::exp(-gv));
      float y = s * up[i * ld + c];
      y = y * inv_delta[c];
      if (pre_round) pre_round[i * d + c] = y;
      codes[i * ldc + c] = round_clamp(y, bits);
    }
}

}  // namespace bitfold::kernels
