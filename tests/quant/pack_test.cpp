// Dense b-bit packing and bit planes: round trips for every b at odd shapes, the documented bit
// orders, and the BTC identity behind the binary-tensor-core GEMMs.
#include <gtest/gtest.h>

#include <bit>
#include <random>

#include "core/error.h"
#include "quant/bitplanes.h"
#include "quant/code_matrix.h"
#include "quant/dense_pack.h"
#include "quant/quantizer.h"
#include "fixtures.h"
#include "reference.h"

namespace bitfold::quant {
namespace {

Tensor random_codes(Shape shape, int bits, bool signed_codes, uint64_t seed) {
  Tensor t = Tensor::empty(std::move(shape), signed_codes ? DType::I8 : DType::U8);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> dist(code_min(bits, signed_codes), code_max(bits, signed_codes));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (signed_codes) t.data<int8_t>()[i] = int8_t(dist(rng));
    else t.data<uint8_t>()[i] = uint8_t(dist(rng));
  }
  return t;
}

int code_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::I8 ? int(t.data<int8_t>()[i]) : int(t.data<uint8_t>()[i]);
}

void expect_same_codes(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(code_at(a, i), code_at(b, i)) << what << " at " << i;
}

const std::vector<Shape> kOddShapes = {{1, 1}, {3, 5}, {7, 31}, {2, 32}, {5, 33}, {4, 97}, {2, 3, 65}};

TEST(DensePack, RoundTripsEveryBitWidthAtOddShapes) {
  uint64_t seed = 1;
  for (int bits = 1; bits <= 8; ++bits)
    for (bool signed_codes : {true, false})
      for (const Shape& shape : kOddShapes) {
        const Tensor codes = random_codes(shape, bits, signed_codes, seed++);
        const DensePacked p = pack_dense(codes, bits);
        const int64_t K = shape.back();
        EXPECT_EQ(p.words_per_row, (K * bits + 31) / 32);
        EXPECT_EQ(p.rows, codes.numel() / K);
        expect_same_codes(unpack_dense(p), codes, fmt::format("{} bits {}", bits, shape_str(shape)));
        // Padding bits after the last code of each row are zero.
        for (int64_t r = 0; r < p.rows; ++r) {
          const int64_t used = K * bits, last = p.words_per_row - 1;
          const int tail = int(used - last * 32);
          if (tail < 32) {
            ASSERT_EQ(p.row_words(r)[last] >> tail, 0u);
          }
        }
      }
}

TEST(DensePack, BitOrderIsLeastSignificantFirstAcrossWords) {
  // The worked example of the docs: 3-bit signed [1, −2, 3, −1] → 001 110 011 111 → 0xEF1.
  Tensor codes = Tensor::empty({1, 4}, DType::I8);
  const int8_t values[] = {1, -2, 3, -1};
  std::memcpy(codes.data<int8_t>(), values, 4);
  const DensePacked p = pack_dense(codes, 3);
  ASSERT_EQ(p.words_per_row, 1);
  EXPECT_EQ(p.row_words(0)[0], 0xEF1u);

  // Element k of b bits is bits [k·b, k·b + b) of the row: check each bit of random codes,
  // including those straddling a word boundary.
  for (int bits : {3, 5, 6, 7}) {
    const Tensor c = random_codes({3, 29}, bits, false, 100 + uint64_t(bits));
    const DensePacked q = pack_dense(c, bits);
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t k = 0; k < 29; ++k)
        for (int i = 0; i < bits; ++i) {
          const int64_t t = k * bits + i;
          const uint32_t bit = (q.row_words(r)[t / 32] >> (t % 32)) & 1u;
          ASSERT_EQ(bit, uint32_t((code_at(c, r * 29 + k) >> i) & 1)) << bits << " bits";
        }
  }
}

TEST(DensePack, RejectsCodesThatDoNotFit) {
  Tensor codes = Tensor::zeros({2, 3}, DType::I8);
  codes.data<int8_t>()[4] = 4;  // 3-bit signed is [-4, 3]
  try {
    pack_dense(codes, 3);
    ADD_FAILURE() << "code 4 packed into 3 signed bits";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("code 4 at row 1, column 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pack_dense(Tensor::zeros({2, 3}, DType::U8), 9), Error);
  EXPECT_THROW(pack_dense(Tensor::zeros({2, 3}, DType::F32), 4), Error);
}

TEST(BitPlanes, RoundTripEveryBitWidthAtOddShapes) {
  uint64_t seed = 50;
  for (int bits = 1; bits <= 8; ++bits)
    for (bool signed_codes : {true, false})
      for (const Shape& shape : kOddShapes) {
        const Tensor codes = random_codes(shape, bits, signed_codes, seed++);
        const BitPlanes p = pack_bitplanes(codes, bits);
        EXPECT_EQ(p.words.shape(), (Shape{bits, p.rows, (shape.back() + 31) / 32}));
        expect_same_codes(unpack_bitplanes(p), codes, fmt::format("{} bits {}", bits, shape_str(shape)));
      }
}

TEST(BitPlanes, RecombiningPlanesGivesTheSignedCodes) {
  // Σ_i 2^i · plane_i, with the top plane weighing −2^(b−1), read straight from the words:
  // element k of row r is bit (k mod 32) of word k/32 of plane i.
  for (int bits = 1; bits <= 8; ++bits) {
    const Tensor codes = random_codes({5, 71}, bits, true, 200 + uint64_t(bits));
    const BitPlanes p = pack_bitplanes(codes, bits);
    const uint32_t* words = p.words.data<uint32_t>();
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t k = 0; k < 71; ++k) {
        int64_t value = 0;
        for (int i = 0; i < bits; ++i) {
          const uint32_t word = words[(int64_t(i) * 5 + r) * p.words_per_row + k / 32];
          const int64_t weight = i == bits - 1 ? -(int64_t(1) << i) : (int64_t(1) << i);
          value += weight * ((word >> (k % 32)) & 1u);
        }
        ASSERT_EQ(value, code_at(codes, r * 71 + k)) << bits << " bits, row " << r << " col " << k;
      }
    // Padding bits (k >= 71) are zero in every plane.
    for (int i = 0; i < bits; ++i)
      for (int64_t r = 0; r < 5; ++r) ASSERT_EQ(p.plane_row(i, r)[2] >> (71 - 64), 0u);
  }
}

TEST(BitPlanes, WorkedExampleOfTheDocs) {
  Tensor codes = Tensor::empty({1, 4}, DType::I8);
  const int8_t values[] = {1, -2, 3, -1};
  std::memcpy(codes.data<int8_t>(), values, 4);
  const BitPlanes p = pack_bitplanes(codes, 3);
  EXPECT_EQ(p.plane_row(0, 0)[0], 0xDu);
  EXPECT_EQ(p.plane_row(1, 0)[0], 0xEu);
  EXPECT_EQ(p.plane_row(2, 0)[0], 0xAu);
  EXPECT_EQ(p.plane_weight(0), 1);
  EXPECT_EQ(p.plane_weight(1), 2);
  EXPECT_EQ(p.plane_weight(2), -4);
}

// The BTC identity in float64: Σ_i Σ_j c_ij · popcount(x_plane_i AND w_plane_j) with
// c_ij = weight_i · weight_j equals the integer dot product, for random codes of every pair of
// widths the kernels use.
TEST(BitPlanes, BtcIdentityEqualsTheIntegerDotProduct) {
  const int64_t K = 133, x_rows = 3, w_rows = 4;
  uint64_t seed = 300;
  for (int x_bits : {2, 3, 4, 6, 8})
    for (int w_bits : {2, 3, 4, 6, 8})
      for (bool w_signed : {true, false}) {
        const Tensor x = random_codes({x_rows, K}, x_bits, true, seed++);
        const Tensor w = random_codes({w_rows, K}, w_bits, w_signed, seed++);
        const BitPlanes xp = pack_bitplanes(x, x_bits), wp = pack_bitplanes(w, w_bits);
        for (int64_t t = 0; t < x_rows; ++t)
          for (int64_t n = 0; n < w_rows; ++n) {
            int64_t dot = 0;
            for (int64_t k = 0; k < K; ++k) dot += int64_t(code_at(x, t * K + k)) * code_at(w, n * K + k);
            double btc = 0;
            for (int i = 0; i < x_bits; ++i)
              for (int j = 0; j < w_bits; ++j) {
                double ones = 0;
                for (int64_t word = 0; word < xp.words_per_row; ++word)
                  ones += std::popcount(xp.plane_row(i, t)[word] & wp.plane_row(j, n)[word]);
                const double ci = i == x_bits - 1 ? -std::ldexp(1.0, i) : std::ldexp(1.0, i);
                const double cj = (w_signed && j == w_bits - 1) ? -std::ldexp(1.0, j) : std::ldexp(1.0, j);
                btc += ci * cj * ones;
              }
            ASSERT_EQ(btc, double(dot)) << "W" << w_bits << "A" << x_bits;
            ASSERT_EQ(bitplane_dot(xp, t, wp, n), dot) << "W" << w_bits << "A" << x_bits;
          }
      }
}

TEST(BitPlanes, QuantizedBitBalancedWeightsUseThreePlanes) {
  // W2* codes {−2..2} from the quantizer, in 3 two's-complement planes.
  const Tensor w = reference::random_tensor({6, 40}, 400);
  QuantSpec spec;
  spec.format = parse_format("int2-bitbalanced");
  spec.granularity = Granularity::OutputChannel;
  const Tensor codes = quantize(w, fit_params(spec, w));
  const int storage = format_traits(spec.format).storage_bits;
  ASSERT_EQ(storage, 3);
  const BitPlanes p = pack_bitplanes(codes, storage);
  expect_same_codes(unpack_bitplanes(p), codes, "W2*");
  bool saw_two = false, saw_minus_two = false;
  for (int64_t i = 0; i < codes.numel(); ++i) {
    saw_two = saw_two || code_at(codes, i) == 2;
    saw_minus_two = saw_minus_two || code_at(codes, i) == -2;
  }
  EXPECT_TRUE(saw_two && saw_minus_two) << "both ends of the 5-level grid are used";
}

}  // namespace
}  // namespace bitfold::quant
