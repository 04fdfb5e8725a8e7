#pragma once
// Weight and activation layouts consumed by the CUDA GEMMs, their CPU packers, and the CPU
// integer references the tests compare against. Pure C++: builds and runs without CUDA.
//
// Codes are signed two's-complement integers of b bits, full grid [-2^(b-1), 2^(b-1)-1]; the
// restricted / balanced grid [-(2^(b-1)-1), 2^(b-1)-1] is a subset, so it needs nothing special.
// ABQ-LLM's bit-balanced grid with 2^b + 1 levels (W2* = {-2..2}) needs b + 1 bits: run it as
// a (b+1)-bit format (W2* -> W3). Activations are always handed over as int8 holding a q-bit
// code (route a) or as q bit-planes (route b, BTC).
#include <cstdint>
#include <string>
#include <vector>

namespace bitfold::kernels {

constexpr int code_min(int bits) { return -(1 << (bits - 1)); }
constexpr int code_max(int bits) { return (1 << (bits - 1)) - 1; }
constexpr int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
constexpr int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// ---------------------------------------------------------------------------------------------
// "frag" layout: p-bit weights (p = 1..8) packed so that one warp's 16-byte loads are contiguous
// and each lane's bytes unpack straight into its int8 mma A-fragment registers
// (mma.sync m16n8k32 .s8 row-major A, and the identical register-A layout of wgmma m64nNk32).
//
// The weight W[N][K] is cut into tiles of 16 rows x 128 k ("row tile" rt, "k tile" kt), stored
// tile after tile: offset(rt, kt) = (rt * k_tiles + kt) * 256 * p bytes.
// Inside a tile, lane L (g = L / 4, t = L % 4) owns 16 "units" of 4 consecutive-k codes:
//   unit u = 4 s + r, k32-step s = 0..3, register r = 0..3:
//   row = 16 rt + g + 8 (r & 1),  k = 128 kt + 32 s + 4 t + 16 (r >> 1) + c, byte c = 0..3.
// A code is stored offset-binary, v = w + 2^(p-1) in [0, 2^p), split into power-of-two "fields"
// following the binary digits of p, widest first (6 = 4 + 2, 3 = 2 + 1, 7 = 4 + 2 + 1): the
// widest field holds the low bits. The field of width f holds value bits [off, off + f) where
// off = p & ~(2f - 1); it occupies 256 f bytes of the tile starting at byte 256 * off.
// Within the field, lane L's 2f words are: f >= 2: word j at byte 512 (j / 4) + 16 L + 4 (j % 4)
// (so each of the f / 2 16-byte loads of a warp covers 512 contiguous bytes); f = 1: word j at
// byte 8 L + 4 j. Unit u sits in word u f / 8, at bit shift f (u mod 8/f) of each byte c.
// Padding (rows >= N, k >= K) holds code 0.
//
// Two k orders exist. Natural (above): the k of unit u, byte c is 32 s + 4 t + 16 (r >> 1) + c,
// the order of an mma over activations stored in natural order (wgmma reads them from shared
// memory as they are). Decode: k = 32 t + 8 s + 4 (r >> 1) + c, a permutation of k inside the
// 128-wide tile applied to the weights; the decode kernels read the activations with the same
// permutation, which makes the 8 B-fragment words of a lane 32 contiguous bytes (two 16-byte
// loads instead of eight 4-byte ones). A dot product does not care about the order of k.
enum class FragOrder : uint8_t { Natural, Decode };

// k (within the 128-wide tile) of unit u = 4 s + r, byte c, lane quad t.
constexpr int frag_k(FragOrder order, int u, int t, int c) {
  const int s = u >> 2, h = (u & 3) >> 1;
  return order == FragOrder::Natural ? 32 * s + 4 * t + 16 * h + c : 32 * t + 8 * s + 4 * h + c;
}

struct FragLayout {
  static constexpr int kRowTile = 16;
  static constexpr int kKTile = 128;
  int bits = 0;
  int64_t n = 0, k = 0;
  int64_t row_tiles() const { return ceil_div(n, kRowTile); }
  int64_t k_tiles() const { return ceil_div(k, kKTile); }
  int64_t tile_bytes() const { return 256 * int64_t(bits); }
  int64_t bytes() const { return row_tiles() * k_tiles() * tile_bytes(); }
};

// w: codes [n][k] row-major (leading dimension ldw), each in [code_min(bits), code_max(bits)].
std::vector<uint8_t> pack_frag(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits,
                               FragOrder order = FragOrder::Natural);
// Inverse of pack_frag: codes [n][k].
std::vector<int8_t> unpack_frag(const uint8_t* packed, int64_t n, int64_t k, int bits,
                                FragOrder order = FragOrder::Natural);

// ---------------------------------------------------------------------------------------------
// "gemv" layout: p-bit weights (p = 1..8) row-major per output channel, for the CUDA-core decode
// GEMV (gemm_gemv, M <= 4): one warp streams a row with 16-byte loads and multiplies with dp4a.
//
// Row n starts at byte n * row_bytes, row_bytes = kp * p / 8 with kp = round_up(K, 128). A code is
// stored offset-binary, u = w + 2^(p-1) in [0, 2^p) (p = 8: the two's complement byte itself, u = w),
// split into power-of-two fields along the binary digits of p as in the frag layout (6 = 4 + 2,
// 3 = 2 + 1; field f holds value bits [off, off + f), off = p & ~(2f - 1)). The row holds the
// fields one after the other: field f at byte kp * off / 8 of the row, kp * f / 8 bytes long.
//
// Inside a field, k runs in chunks of C = 128 / F codes (F = the widest field: one 16-byte load
// of the widest field is one chunk); chunk c of field f takes B = C f / 8 = 16 f / F bytes at
// c * B, i.e. nw = 4 f / F words. Byte b of word j holds, in its bits [f s, f s + f) (slot s), the
// field's bits of the code at
//     k = C c + 4 (nw s + j) + b.
// So for the widest field (nw = 4) slot s of word j covers k = C c + 16 s + 4 j + [0, 4): masking
// one slot of a word (one lop3) yields four codes (times 2^(f s)) aligned with four consecutive
// activation bytes, and dp4a multiplies them; the GEMV removes the 2^(f s) scale once per row and
// the offset with - 2^(p-1) sum_k x. Padding (k >= K) holds code 0.
struct GemvLayout {
  static constexpr int kKPad = 128;
  int bits = 0;
  int64_t n = 0, k = 0;
  int64_t k_padded() const { return round_up(k, kKPad); }
  int64_t row_bytes() const { return k_padded() * bits / 8; }
  int64_t bytes() const { return n * row_bytes(); }
};
// The widest field of p bits (the highest power of two <= p), the codes per chunk, the offset.
constexpr int gemv_widest_field(int bits) { return bits >= 8 ? 8 : (bits >= 4 ? 4 : (bits >= 2 ? 2 : 1)); }
constexpr int gemv_chunk_codes(int bits) { return 128 / gemv_widest_field(bits); }
constexpr int gemv_offset(int bits) { return bits == 8 ? 0 : 1 << (bits - 1); }
// Position inside its chunk of the code in word j, slot s, byte b of field f.
constexpr int gemv_chunk_k(int bits, int f, int j, int s, int b) {
  return 4 * ((4 * f / gemv_widest_field(bits)) * s + j) + b;
}

std::vector<uint8_t> pack_gemv(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits);
std::vector<int8_t> unpack_gemv(const uint8_t* packed, int64_t n, int64_t k, int bits);
// The GEMV's arithmetic on the packed words, evaluated on the CPU: per word and slot the masked
// bytes (1-bit fields take odd slots from word >> 1) times four activation bytes, summed per
// scale 2^e, the scales applied by exact shifts, minus 2^(p-1) sum_k x. Equals gemm_ref_i32 when
// the layout and the identity are right (fails loudly if a shift would drop bits).
std::vector<int32_t> gemv_ref_i32(const int8_t* x, int64_t ldx, int64_t m, const uint8_t* packed, int64_t n,
                                  int64_t k, int bits);

// ---------------------------------------------------------------------------------------------
// BTC (binary tensor core) layouts, route (b).
// Weights: bit-planes of the two's-complement code, plane j = bit j (j = p-1 is the sign plane,
// weight -2^(p-1)). Tiles of 16 rows x 256 k; tile (rt, kt) at byte (rt * k_tiles + kt) * 512 p;
// inside: plane j at byte 512 j, lane L at byte 16 L, its four words are the m16n8k256 .b1
// A-fragment registers: word r covers row 16 rt + g + 8 (r & 1), k = 256 kt + 128 (r >> 1) + 32 t
// + b at bit b.
struct BtcWeightLayout {
  static constexpr int kRowTile = 16;
  static constexpr int kKTile = 256;
  int bits = 0;
  int64_t n = 0, k = 0;
  int64_t row_tiles() const { return ceil_div(n, kRowTile); }
  int64_t k_tiles() const { return ceil_div(k, kKTile); }
  int64_t tile_bytes() const { return 512 * int64_t(bits); }
  int64_t bytes() const { return row_tiles() * k_tiles() * tile_bytes(); }
};
std::vector<uint8_t> pack_btc_weight(const int8_t* w, int64_t ldw, int64_t n, int64_t k, int bits);

// Activations: plane-major uint32 words [q][m][ld_words], plane i = bit i of the code, element k
// at bit (k % 32) of word k / 32; words past k are zero up to ld_words, and ld_words is a
// multiple of 8 covering round_up(k, 256) (btc_act_ld_words).
inline int64_t btc_act_ld_words(int64_t k) { return round_up(k, 256) / 32; }
std::vector<uint32_t> pack_btc_act(const int8_t* x, int64_t ldx, int64_t m, int64_t k, int bits);

// ---------------------------------------------------------------------------------------------
// References.
// acc[m][n] = sum_k x[m][k] * w[n][k], exact (int64 accumulation, then int32; the tests keep
// shapes inside the int32 range).
std::vector<int32_t> gemm_ref_i32(const int8_t* x, int64_t ldx, const int8_t* w, int64_t ldw,
                                  int64_t m, int64_t n, int64_t k);
// The BTC identity on the packed planes, evaluated on the CPU: sum over plane pairs of
// +-2^(i+j) popcount(x_i AND w_j). Equals gemm_ref_i32 when the packing and the signs are right.
std::vector<int32_t> btc_ref_i32(const uint32_t* x_planes, int64_t m, int q,
                                 const uint8_t* w_packed, int64_t n, int64_t k, int p);

// The dequantizing epilogue in float64: y = acc * w_scale[n] * (x_scale ? x_scale[m] : 1)
// + (bias ? bias[n] : 0) + (residual ? residual[m][n] : 0). residual is given as float here.
std::vector<double> epilogue_ref(const std::vector<int32_t>& acc, int64_t m, int64_t n,
                                 const float* w_scale, const float* x_scale, const float* bias,
                                 const float* residual);

// ---------------------------------------------------------------------------------------------
// Fused producers, CPU reference (same float operation order as the CUDA kernels).
// RMSNorm(x) * g (+ beta) -> round-half-even -> clamp to q bits. g = gamma / delta folded ahead.
// inv = 1 / sqrtf(float(sum_k double(x_k)^2 / d) + eps); y_k = (x_k * inv) * g_k (+ beta_k).
void rmsnorm_quantize_ref(const float* x, int64_t ldx, int64_t m, int64_t d, const float* g,
                          const float* beta, float eps, int bits, int8_t* codes, int64_t ldc,
                          float* pre_round = nullptr);
// SiLU(gate) * up * inv_delta -> codes: y_k = ((gate_k / (1 + expf(-gate_k))) * up_k) * inv_k.
void silu_mul_quantize_ref(const float* gate, const float* up, int64_t ld, int64_t m, int64_t d,
                           const float* inv_delta, int bits, int8_t* codes, int64_t ldc,
                           float* pre_round = nullptr);

}  // namespace bitfold::kernels
