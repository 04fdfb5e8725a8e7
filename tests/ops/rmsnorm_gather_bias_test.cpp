// RMSNorm with a channel gather and a bias (the folded norm of src/transform) against float64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "ops/ops.h"
#include "random_model.h"

namespace bitfold::ops {
namespace {

using bitfold::testing::random_tensor;

TEST(Ops, RmsNormGatherBiasMatchesFloat64) {
  std::mt19937 rng(9);
  for (int64_t T : {1, 3, 130}) {
    for (int64_t D : {1, 9, 288}) {
      for (int64_t extra : {int64_t(0), int64_t(1), int64_t(37)}) {
        for (bool with_map : {false, true}) {
          for (bool with_bias : {false, true}) {
            if (!with_map && extra > 0) continue;  // without a map K = D
            const int64_t K = D + extra;
            Tensor x = random_tensor({T, D}, rng, 3.0f), g = random_tensor({K}, rng);
            Tensor b = with_bias ? random_tensor({K}, rng) : Tensor();
            Tensor map;
            if (with_map) {
              map = Tensor::empty({K}, DType::I32);
              std::uniform_int_distribution<int32_t> ch(0, int32_t(D - 1));
              for (int64_t k = 0; k < K; ++k) map.data<int32_t>()[k] = ch(rng);
            }
            Tensor y = Tensor::empty({T, K}, DType::F32);
            rmsnorm_gather_bias(x, map, g, b, 1e-5f, y);
            double err = 0, scale = 0;
            for (int64_t t = 0; t < T; ++t) {
              double ss = 0;
              for (int64_t i = 0; i < D; ++i) ss += double(x.f32()[t * D + i]) * x.f32()[t * D + i];
              const double r = 1.0 / std::sqrt(ss / double(D) + 1e-5);
              for (int64_t k = 0; k < K; ++k) {
                const int64_t src = with_map ? map.data<int32_t>()[k] : k;
                const double ref = double(g.f32()[k]) * x.f32()[t * D + src] * r +
                                   (with_bias ? double(b.f32()[k]) : 0.0);
                err = std::max(err, std::abs(ref - double(y.f32()[t * K + k])));
                scale = std::max(scale, std::abs(ref));
              }
            }
            EXPECT_LT(err / scale, 1e-6) << "T=" << T << " D=" << D << " K=" << K
                                         << " map=" << with_map << " bias=" << with_bias;
          }
        }
      }
    }
  }
}

TEST(Ops, RmsNormGatherBiasWithoutExtrasEqualsRmsNorm) {
  std::mt19937 rng(10);
  Tensor x = random_tensor({5, 31}, rng, 2.0f), g = random_tensor({31}, rng);
  Tensor a = Tensor::empty({5, 31}, DType::F32), b = Tensor::empty({5, 31}, DType::F32);
  rmsnorm(x, g, 1e-6f, a);
  rmsnorm_gather_bias(x, Tensor(), g, Tensor(), 1e-6f, b);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]);
}

TEST(Ops, RmsNormGatherBiasChecksItsMap) {
  std::mt19937 rng(11);
  Tensor x = random_tensor({2, 4}, rng), g = random_tensor({5}, rng);
  Tensor map = Tensor::empty({5}, DType::I32);
  for (int k = 0; k < 5; ++k) map.data<int32_t>()[k] = k;  // 4 is outside [0, 4)
  Tensor y = Tensor::empty({2, 5}, DType::F32);
  EXPECT_THROW(rmsnorm_gather_bias(x, map, g, Tensor(), 1e-5f, y), Error);
  Tensor y4 = Tensor::empty({2, 5}, DType::F32);
  EXPECT_THROW(rmsnorm_gather_bias(x, Tensor(), g, Tensor(), 1e-5f, y4), Error);  // K ≠ D, no map
}

}  // namespace
}  // namespace bitfold::ops
