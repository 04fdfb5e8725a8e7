// Every op of the CUDA backend against the CPU backend on the same random non-zero inputs, at
// several shapes including odd ones; outputs are poisoned with NaN before each GPU run so that an
// element the kernel forgets shows up. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/ops.h"
#include "test_support.h"

namespace bitfold::ops {
namespace {

constexpr Device kGpu = Device::CUDA;

// Uniform in ±[0.1, 1) · scale: never zero, both signs.
Tensor random_tensor(Shape shape, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (sign(rng) ? 1.0f : -1.0f) * mag(rng) * scale;
  return t;
}

// A GPU tensor of `shape` filled with NaN.
Tensor poisoned_gpu(const Shape& shape) {
  Tensor host = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < host.numel(); ++i) host.f32()[i] = std::nanf("");
  return host.to(kGpu);
}

// max |gpu − cpu| / max |cpu| (NaN anywhere fails).
double rel_diff(const Tensor& gpu, const Tensor& cpu) {
  const Tensor g = gpu.to(Device::CPU);
  EXPECT_EQ(g.shape(), cpu.shape());
  double err = 0, mag = 0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double a = g.f32()[i], b = cpu.f32()[i];
    if (std::isnan(a) || std::isnan(b)) return INFINITY;
    err = std::max(err, std::abs(a - b));
    mag = std::max(mag, std::abs(b));
  }
  return err / std::max(mag, 1e-30);
}

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override { BITFOLD_REQUIRE_CUDA(); }
};

TEST_F(CudaOps, LinearMatchesCpu) {
  std::mt19937 rng(1);
  for (int64_t T : {1, 2, 17, 64})
    for (int64_t N : {1, 5, 33, 257})
      for (int64_t K : {1, 7, 130, 515})
        for (bool with_bias : {false, true}) {
          Tensor x = random_tensor({T, K}, rng), w = random_tensor({N, K}, rng);
          Tensor b = with_bias ? random_tensor({N}, rng) : Tensor();
          Tensor y = Tensor::empty({T, N}, DType::F32);
          linear(x, w, b, y);
          Tensor yg = poisoned_gpu({T, N});
          linear(x.to(kGpu), w.to(kGpu), with_bias ? b.to(kGpu) : Tensor(), yg);
          // Both sum K float products in different orders; TF32 (10-bit operands) would be ~1e-3.
          EXPECT_LT(rel_diff(yg, y), 4e-6) << "T=" << T << " N=" << N << " K=" << K
                                           << " bias=" << with_bias;
        }
}

TEST_F(CudaOps, RmsNormMatchesCpuInPlaceToo) {
  std::mt19937 rng(2);
  for (int64_t T : {1, 3, 64})
    for (int64_t D : {1, 9, 288, 1001, 4096}) {
      Tensor x = random_tensor({T, D}, rng, 3.0f), g = random_tensor({D}, rng);
      Tensor y = Tensor::empty({T, D}, DType::F32);
      rmsnorm(x, g, 1e-5f, y);
      Tensor yg = poisoned_gpu({T, D});
      const Tensor xg = x.to(kGpu), gg = g.to(kGpu);
      rmsnorm(xg, gg, 1e-5f, yg);
      EXPECT_LT(rel_diff(yg, y), 1e-6) << "T=" << T << " D=" << D;
      Tensor inplace = x.to(kGpu);
      rmsnorm(inplace, gg, 1e-5f, inplace);
      EXPECT_LT(rel_diff(inplace, y), 1e-6) << "in place, T=" << T << " D=" << D;
    }
}

TEST_F(CudaOps, RmsNormGatherBiasMatchesCpu) {
  std::mt19937 rng(12);
  for (int64_t T : {1, 5, 40})
    for (int64_t D : {3, 288, 1001})
      for (int64_t K : {D, D + 1, 2 * D + 7})
        for (bool with_map : {false, true})
          for (bool with_bias : {false, true}) {
            if (K != D && !with_map) continue;  // a wider output needs a map
            Tensor x = random_tensor({T, D}, rng, 3.0f), g = random_tensor({K}, rng);
            Tensor beta = with_bias ? random_tensor({K}, rng) : Tensor();
            Tensor map;
            if (with_map) {
              map = Tensor::empty({K}, DType::I32);
              std::uniform_int_distribution<int32_t> ch(0, int32_t(D - 1));
              for (int64_t k = 0; k < K; ++k) map.data<int32_t>()[k] = ch(rng);
            }
            Tensor y = Tensor::empty({T, K}, DType::F32);
            rmsnorm_gather_bias(x, map, g, beta, 1e-5f, y);
            Tensor yg = poisoned_gpu({T, K});
            rmsnorm_gather_bias(x.to(kGpu), with_map ? map.to(kGpu) : Tensor(), g.to(kGpu),
                                with_bias ? beta.to(kGpu) : Tensor(), 1e-5f, yg);
            EXPECT_LT(rel_diff(yg, y), 1e-6) << "T=" << T << " D=" << D << " K=" << K << " map "
                                             << with_map << " bias " << with_bias;
          }
}

TEST_F(CudaOps, RopeMatchesCpuWithADeviceTable) {
  std::mt19937 rng(3);
  for (int hd : {2, 6, 64, 128})
    for (int64_t T : {1, 5, 33})
      for (int start : {0, 7, 1000}) {
        const int64_t heads = 3;
        Tensor x = random_tensor({T, heads * hd}, rng);
        const RopeTable cpu_table = rope_table(hd, start + int(T), 10000.0f);
        const RopeTable gpu_table = rope_table(hd, start + int(T), 10000.0f, kGpu);
        ASSERT_EQ(gpu_table.cos.device(), kGpu);
        Tensor xg = x.to(kGpu);
        rope(x, cpu_table, start);
        rope(xg, gpu_table, start);
        EXPECT_LT(rel_diff(xg, x), 1e-6) << "hd=" << hd << " T=" << T << " start=" << start;
      }
}

TEST_F(CudaOps, AttentionMatchesCpuUpToLongContexts) {
  std::mt19937 rng(4);
  struct Case {
    int64_t T;
    int H, KVH, hd, start;
  };
  for (const Case& c : {Case{1, 1, 1, 2, 0}, Case{5, 4, 2, 6, 0}, Case{7, 6, 3, 64, 3},
                        Case{70, 4, 1, 32, 0}, Case{1, 8, 8, 128, 2100}, Case{3, 4, 2, 130, 2047},
                        Case{130, 2, 2, 64, 1000}}) {
    const int64_t S = c.start + c.T;
    Tensor q = random_tensor({c.T, int64_t(c.H) * c.hd}, rng, 2.0f);
    Tensor k = random_tensor({S + 2, int64_t(c.KVH) * c.hd}, rng, 2.0f);  // rows past S unused
    Tensor v = random_tensor({S + 2, int64_t(c.KVH) * c.hd}, rng);
    Tensor out = Tensor::empty(q.shape(), DType::F32);
    attention(q, k, v, c.H, c.KVH, c.hd, c.start, out);
    Tensor og = poisoned_gpu(q.shape());
    attention(q.to(kGpu), k.to(kGpu), v.to(kGpu), c.H, c.KVH, c.hd, c.start, og);
    EXPECT_LT(rel_diff(og, out), 1e-5) << "T=" << c.T << " H=" << c.H << " KVH=" << c.KVH
                                       << " hd=" << c.hd << " start=" << c.start;
  }
}

TEST_F(CudaOps, SiluMulAndAddMatchCpuWithAliasing) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 31, 1000, 100003}) {
    Tensor g = random_tensor({n}, rng, 6.0f), u = random_tensor({n}, rng);
    Tensor out = Tensor::empty({n}, DType::F32);
    silu_mul(g, u, out);
    Tensor gg = g.to(kGpu);
    silu_mul(gg, u.to(kGpu), gg);  // out aliases gate
    EXPECT_LT(rel_diff(gg, out), 1e-6) << "n=" << n;

    Tensor a = random_tensor({n}, rng), b = random_tensor({n}, rng);
    Tensor ag = a.to(kGpu);
    add_inplace(a, b);
    add_inplace(ag, b.to(kGpu));
    EXPECT_EQ(rel_diff(ag, a), 0.0) << "n=" << n;
  }
}

TEST_F(CudaOps, EmbeddingGathersEveryTableDtype) {
  std::mt19937 rng(6);
  const int64_t V = 37, D = 45;
  const Tensor table = random_tensor({V, D}, rng);
  const std::vector<int32_t> ids = {3, 0, 36, 3, 17, 1, 35};
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor t = table.to(dtype);
    Tensor out = Tensor::empty({int64_t(ids.size()), D}, DType::F32);
    embedding(t, ids, out);
    Tensor og = poisoned_gpu(out.shape());
    embedding(t.to(kGpu), ids, og);
    EXPECT_EQ(rel_diff(og, out), 0.0) << dtype_name(dtype);
  }
  Tensor og = poisoned_gpu({1, D});
  const std::vector<int32_t> bad = {int32_t(V)};
  EXPECT_THROW(embedding(table.to(kGpu), bad, og), Error);
}

TEST_F(CudaOps, TokenNllMatchesCpu) {
  std::mt19937 rng(7);
  for (int64_t T : {1, 4, 33})
    for (int64_t V : {2, 513, 32000}) {
      const Tensor logits = random_tensor({T, V}, rng, 8.0f);
      std::vector<int32_t> targets(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) targets[size_t(t)] = int32_t((t * 7919 + 5) % V);
      const std::vector<double> cpu = token_nll(logits, targets);
      const std::vector<double> gpu = token_nll(logits.to(kGpu), targets);
      ASSERT_EQ(gpu.size(), cpu.size());
      for (size_t i = 0; i < cpu.size(); ++i)
        EXPECT_NEAR(gpu[i], cpu[i], 1e-6 * std::max(1.0, std::abs(cpu[i]))) << "T=" << T << " V=" << V;
    }
}

TEST_F(CudaOps, TensorsOnTwoDevicesAreRefused) {
  std::mt19937 rng(8);
  const Tensor x = random_tensor({2, 3}, rng), w = random_tensor({4, 3}, rng);
  Tensor y = poisoned_gpu({2, 4});
  EXPECT_THROW(linear(x, w.to(kGpu), Tensor(), y), Error);
}

}  // namespace
}  // namespace bitfold::ops
