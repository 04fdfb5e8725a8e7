// CPU tests of the packers and of the integer identities the GPU kernels rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/kernel_test_util.h"
#include "kernels/layout.h"

namespace bitfold::kernels {
namespace {

using testing::random_codes;

struct Shape {
  int64_t n, k;
};
const Shape kShapes[] = {{1, 1}, {17, 100}, {33, 300}, {16, 128}, {5, 257}, {40, 384}};

TEST(FragLayout, PackUnpackRoundTripsEveryWidth) {
  std::mt19937 rng(1);
  for (FragOrder order : {FragOrder::Natural, FragOrder::Decode})
    for (int bits = 1; bits <= 8; ++bits)
      for (const Shape s : kShapes) {
        const auto w = random_codes(rng, s.n, s.k, s.k, bits);
        const auto packed = pack_frag(w.data(), s.k, s.n, s.k, bits, order);
        EXPECT_EQ(int64_t(packed.size()), (FragLayout{bits, s.n, s.k}.bytes()));
        EXPECT_EQ(unpack_frag(packed.data(), s.n, s.k, bits, order), w) << bits << " bits, " << s.n << "x" << s.k;
      }
}

// The documented byte positions, checked on two widths (the round trip alone would accept any
// self-consistent layout).
TEST(FragLayout, MatchesTheDocumentedPositions) {
  const int64_t n = 32, k = 256;
  std::vector<int8_t> w(size_t(n * k));
  for (int64_t i = 0; i < n * k; ++i) w[size_t(i)] = int8_t((i * 7 + 3) % 15 - 7);
  const auto p8 = pack_frag(w.data(), k, n, k, 8);
  const auto p4 = pack_frag(w.data(), k, n, k, 4);
  // Tile (rt = 1, kt = 1), lane 13 (g = 3, t = 1), unit u = 6 (s = 1, r = 2), byte c = 2:
  // row 16 + 3 = 19, k = 128 + 32 + 4 + 16 + 2 = 182.
  const int lane = 13, u = 6, c = 2;
  const int8_t code = w[size_t(19 * k + 182)];
  const int64_t tile = 1 * 2 + 1;
  // 8 bits: word u at byte 512 (u / 4) + 16 lane + 4 (u % 4), value code + 128.
  EXPECT_EQ(p8[size_t(tile * 2048 + 512 * (u / 4) + 16 * lane + 4 * (u % 4) + c)], uint8_t(code + 128));
  // 4 bits: word u / 2 (= 3), nibble u % 2 (= low), value code + 8; unit 7 (r = 3: row 27,
  // same k) is the high nibble of the same byte.
  const uint8_t byte = p4[size_t(tile * 1024 + 512 * 0 + 16 * lane + 4 * 3 + c)];
  EXPECT_EQ(byte & 0xF, code + 8);
  EXPECT_EQ(byte >> 4, w[size_t(27 * k + 182)] + 8);
  // Decode order, same unit: k = 128 + 32 t + 8 s + 4 h + c = 128 + 32 + 8 + 4 + 2 = 174.
  const auto d8 = pack_frag(w.data(), k, n, k, 8, FragOrder::Decode);
  EXPECT_EQ(d8[size_t(tile * 2048 + 512 * (u / 4) + 16 * lane + 4 * (u % 4) + c)], uint8_t(w[size_t(19 * k + 174)] + 128));
  // In decode order a lane's 8 B-fragment words are 32 contiguous k: steps s, halves h.
  for (int uu = 0; uu < 16; ++uu)
    for (int cc = 0; cc < 4; ++cc) {
      const int kk = frag_k(FragOrder::Decode, uu, 1, cc);
      EXPECT_GE(kk, 32);
      EXPECT_LT(kk, 64);
      EXPECT_EQ(kk - 32, 8 * (uu >> 2) + 4 * ((uu & 3) >> 1) + cc);
    }
}

TEST(GemvLayout, PackUnpackRoundTripsEveryWidth) {
  std::mt19937 rng(4);
  for (int bits = 1; bits <= 8; ++bits)
    for (const Shape s : kShapes) {
      const int64_t ldw = s.k + 3;  // a leading dimension past K, filled with junk
      auto w = random_codes(rng, s.n, ldw, ldw, bits);
      const auto packed = pack_gemv(w.data(), ldw, s.n, s.k, bits);
      const GemvLayout lay{bits, s.n, s.k};
      EXPECT_EQ(int64_t(packed.size()), lay.bytes());
      EXPECT_EQ(lay.row_bytes() % 16, 0) << "rows must stay 16-byte aligned";
      std::vector<int8_t> want(size_t(s.n * s.k));
      for (int64_t r = 0; r < s.n; ++r)
        for (int64_t c = 0; c < s.k; ++c) want[size_t(r * s.k + c)] = w[size_t(r * ldw + c)];
      EXPECT_EQ(unpack_gemv(packed.data(), s.n, s.k, bits), want) << bits << " bits, " << s.n << "x" << s.k;
    }
}

// The documented positions, written out by hand (the round trip alone would accept any
// self-consistent layout).
TEST(GemvLayout, MatchesTheDocumentedPositions) {
  const int64_t n = 5, k = 300;  // kp = 384
  std::vector<int8_t> w(size_t(n * k));
  for (int64_t i = 0; i < n * k; ++i) w[size_t(i)] = int8_t((i * 7 + 3) % 15 - 7);
  const int64_t row = 3;
  // 4 bits: chunks of 32 codes, 16 bytes. Chunk 5, word 2, slot 1 (high nibble), byte 3:
  // k = 32 * 5 + 4 * (4 * 1 + 2) + 3 = 187; slot 0 of the same byte: k = 160 + 8 + 3 = 171.
  const auto p4 = pack_gemv(w.data(), k, n, k, 4);
  const uint8_t b4 = p4[size_t(row * 192 + 5 * 16 + 4 * 2 + 3)];
  EXPECT_EQ(b4 >> 4, w[size_t(row * k + 187)] + 8);
  EXPECT_EQ(b4 & 0xF, w[size_t(row * k + 171)] + 8);
  // 8 bits: chunks of 16 codes; the byte is the two's complement code at k = 16 c + 4 j + b.
  const auto p8 = pack_gemv(w.data(), k, n, k, 8);
  EXPECT_EQ(int8_t(p8[size_t(row * 384 + 7 * 16 + 4 * 1 + 2)]), w[size_t(row * k + 7 * 16 + 4 + 2)]);
  // 6 bits = 4 + 2: the 2-bit field (value bits 4..5) starts at byte kp * 4 / 8 = 192 of the row
  // and takes 8 bytes per chunk of 32 codes. Chunk 1, word 1, slot 3 (bits 6..7), byte 0:
  // k = 32 + 4 * (2 * 3 + 1) + 0 = 60. Its low 4 bits: 4-bit field, chunk 1, k = 32 + 4 (4 s + j)
  // + b = 60 -> s = 1, j = 3, b = 0.
  const auto p6 = pack_gemv(w.data(), k, n, k, 6);
  const int u60 = w[size_t(row * k + 60)] + 32;
  EXPECT_EQ((p6[size_t(row * 288 + 192 + 1 * 8 + 4 * 1 + 0)] >> 6) & 3, u60 >> 4);
  EXPECT_EQ(p6[size_t(row * 288 + 1 * 16 + 4 * 3 + 0)] >> 4, u60 & 15);
  // 2 bits: chunks of 64 codes; chunk 2, word 0, slot 2 (bits 4..5), byte 1: k = 128 + 32 + 1.
  std::vector<int8_t> w2(size_t(n * k));
  for (int64_t i = 0; i < n * k; ++i) w2[size_t(i)] = int8_t((i * 5 + 1) % 4 - 2);
  const auto p2 = pack_gemv(w2.data(), k, n, k, 2);
  EXPECT_EQ((p2[size_t(row * 96 + 2 * 16 + 1)] >> 4) & 3, w2[size_t(row * k + 161)] + 2);
  // Padding past K holds code 0, i.e. the offset: 4 bits, k = 300..383 in chunks 9..11.
  EXPECT_EQ(p4[size_t(row * 192 + 11 * 16)], 0x88);
}

TEST(GemvLayout, IdentityEqualsIntegerGemm) {
  std::mt19937 rng(5);
  for (int bits = 1; bits <= 8; ++bits)
    for (const Shape s : {Shape{17, 100}, Shape{8, 513}, Shape{3, 1}, Shape{2, 384}}) {
      const int64_t m = 3;
      const auto x = random_codes(rng, m, s.k, s.k, 8);
      const auto w = random_codes(rng, s.n, s.k, s.k, bits);
      const auto packed = pack_gemv(w.data(), s.k, s.n, s.k, bits);
      EXPECT_EQ(gemv_ref_i32(x.data(), s.k, m, packed.data(), s.n, s.k, bits),
                gemm_ref_i32(x.data(), s.k, w.data(), s.k, m, s.n, s.k))
          << "W" << bits << " " << s.n << "x" << s.k;
    }
}

TEST(BtcLayout, PlaneIdentityEqualsIntegerGemm) {
  std::mt19937 rng(2);
  const int combos[][2] = {{2, 8}, {3, 8}, {4, 4}, {4, 8}, {6, 6}, {6, 8}, {8, 8}, {1, 2}};
  for (const auto& pq : combos)
    for (const Shape s : {Shape{17, 100}, Shape{8, 513}, Shape{3, 1}}) {
      const int p = pq[0], q = pq[1];
      const int64_t m = 5;
      const auto x = random_codes(rng, m, s.k, s.k, q);
      const auto w = random_codes(rng, s.n, s.k, s.k, p);
      const auto xp = pack_btc_act(x.data(), s.k, m, s.k, q);
      const auto wp = pack_btc_weight(w.data(), s.k, s.n, s.k, p);
      EXPECT_EQ(btc_ref_i32(xp.data(), m, q, wp.data(), s.n, s.k, p),
                gemm_ref_i32(x.data(), s.k, w.data(), s.k, m, s.n, s.k))
          << "W" << p << "A" << q << " " << s.n << "x" << s.k;
    }
}

TEST(ProducerReference, RmsnormCodesFollowTheFormula) {
  std::mt19937 rng(3);
  const int64_t m = 3, d = 77;
  const auto x = testing::random_floats(rng, size_t(m * d), -3, 3);
  const auto g = testing::random_floats(rng, size_t(d), 1, 20);
  std::vector<int8_t> codes(size_t(m * d));
  std::vector<float> pre(size_t(m * d));
  rmsnorm_quantize_ref(x.data(), d, m, d, g.data(), nullptr, 1e-5f, 4, codes.data(), d, pre.data());
  for (int64_t i = 0; i < m; ++i) {
    double ss = 0;
    for (int64_t c = 0; c < d; ++c) ss += double(x[size_t(i * d + c)]) * x[size_t(i * d + c)];
    const double inv = 1 / std::sqrt(ss / d + 1e-5);
    for (int64_t c = 0; c < d; ++c) {
      const double y = x[size_t(i * d + c)] * inv * g[size_t(c)];
      EXPECT_NEAR(pre[size_t(i * d + c)], y, 1e-5 * std::abs(y) + 1e-6);
      const int code = codes[size_t(i * d + c)];
      EXPECT_GE(code, -8);
      EXPECT_LE(code, 7);
      if (y > -8.5 && y < 7.5) {
        EXPECT_LE(std::abs(code - y), 0.5 + 1e-4);
      }
    }
  }
}

}  // namespace
}  // namespace bitfold::kernels
