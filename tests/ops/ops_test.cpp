// Every CPU op against a straightforward float64 reference on random non-zero inputs, at several
// shapes including odd ones.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/cpu/vec_math.h"
#include "ops/ops.h"
#include "test_support.h"

namespace bitfold::ops {
namespace {

// Uniform in ±[0.1, 1) · scale: never zero, both signs.
Tensor random_tensor(Shape shape, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  Tensor t = Tensor::empty(std::move(shape), DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (sign(rng) ? 1.0f : -1.0f) * mag(rng) * scale;
  return t;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// max |got - ref| / max |ref|: one number per comparison, insensitive to single tiny entries.
double rel_error(const Tensor& got, const std::vector<double>& ref) {
  EXPECT_EQ(got.numel(), int64_t(ref.size()));
  double err = 0;
  for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::abs(double(got.f32()[i]) - ref[i]));
  return err / std::max(max_abs(ref), 1e-30);
}

TEST(Ops, LinearMatchesFloat64) {
  std::mt19937 rng(1);
  for (int64_t T : {1, 2, 17}) {
    for (int64_t N : {1, 5, 33}) {
      for (int64_t K : {1, 7, 130}) {
        for (bool with_bias : {false, true}) {
          Tensor x = random_tensor({T, K}, rng), w = random_tensor({N, K}, rng);
          Tensor b = with_bias ? random_tensor({N}, rng) : Tensor();
          Tensor y = Tensor::empty({T, N}, DType::F32);
          linear(x, w, b, y);
          std::vector<double> ref(size_t(T * N));
          for (int64_t t = 0; t < T; ++t)
            for (int64_t n = 0; n < N; ++n) {
              double s = with_bias ? b.f32()[n] : 0.0;
              for (int64_t k = 0; k < K; ++k) s += double(x.f32()[t * K + k]) * w.f32()[n * K + k];
              ref[size_t(t * N + n)] = s;
            }
          EXPECT_LT(rel_error(y, ref), 2e-6) << "T=" << T << " N=" << N << " K=" << K
                                             << " bias=" << with_bias;
        }
      }
    }
  }
}

TEST(Ops, RmsNormMatchesFloat64) {
  std::mt19937 rng(2);
  for (int64_t T : {1, 3, 64}) {
    for (int64_t D : {1, 9, 288, 1001}) {
      Tensor x = random_tensor({T, D}, rng, 3.0f), g = random_tensor({D}, rng);
      Tensor y = Tensor::empty({T, D}, DType::F32);
      rmsnorm(x, g, 1e-5f, y);
      std::vector<double> ref(size_t(T * D));
      for (int64_t t = 0; t < T; ++t) {
        double ss = 0;
        for (int64_t i = 0; i < D; ++i) ss += double(x.f32()[t * D + i]) * x.f32()[t * D + i];
        const double r = 1.0 / std::sqrt(ss / double(D) + 1e-5);
        for (int64_t i = 0; i < D; ++i) ref[size_t(t * D + i)] = double(g.f32()[i]) * x.f32()[t * D + i] * r;
      }
      EXPECT_LT(rel_error(y, ref), 1e-6) << "T=" << T << " D=" << D;
      rmsnorm(x, g, 1e-5f, x);  // in place gives the same
      for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x.f32()[i], y.f32()[i]);
    }
  }
}

TEST(Ops, RopeRotatesHalvesLikeHuggingFace) {
  std::mt19937 rng(3);
  for (int hd : {2, 6, 48, 64}) {
    for (int heads : {1, 3}) {
      for (int start : {0, 5, 300}) {
        const int64_t T = 7, W = int64_t(heads) * hd;
        Tensor x = random_tensor({T, W}, rng);
        Tensor y = x.clone();
        rope(y, hd, start, 10000.0f);
        std::vector<double> ref(size_t(T * W));
        const int half = hd / 2;
        for (int64_t t = 0; t < T; ++t)
          for (int h = 0; h < heads; ++h)
            for (int i = 0; i < half; ++i) {
              const double inv_freq = 1.0 / std::pow(10000.0, double(2 * i) / hd);
              const double a = double(start + t) * inv_freq;
              const double x1 = x.f32()[t * W + h * hd + i], x2 = x.f32()[t * W + h * hd + i + half];
              ref[size_t(t * W + h * hd + i)] = x1 * std::cos(a) - x2 * std::sin(a);
              ref[size_t(t * W + h * hd + i + half)] = x2 * std::cos(a) + x1 * std::sin(a);
            }
        // F32 angles at position 300 carry ~1e-5 relative error, as in every F32 implementation.
        EXPECT_LT(rel_error(y, ref), start > 100 ? 1e-4 : 2e-6)
            << "hd=" << hd << " heads=" << heads << " start=" << start;
      }
    }
  }
}

TEST(Ops, RopeTableEqualsPerCallRope) {
  std::mt19937 rng(4);
  Tensor x = random_tensor({5, 32}, rng);
  Tensor a = x.clone(), b = x.clone();
  const RopeTable table = rope_table(16, 64, 500000.0f);
  EXPECT_EQ(table.max_pos(), 64);
  rope(a, table, 11);
  rope(b, 16, 11, 500000.0f);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]);
  EXPECT_THROW(rope(a, table, 60), Error);  // positions 60..64 are beyond the table
}

// Reference causal GQA attention in double.
std::vector<double> attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, int H, int KVH,
                                  int hd, int start) {
  const int64_t T = q.dim(0), qd = int64_t(H) * hd, kvd = int64_t(KVH) * hd;
  std::vector<double> out(size_t(T * qd));
  for (int64_t t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      const int kvh = h / (H / KVH);
      const int64_t n = start + t + 1;
      std::vector<double> s(static_cast<size_t>(n));
      double m = -1e300;
      for (int64_t j = 0; j < n; ++j) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += double(q.f32()[t * qd + h * hd + i]) * k.f32()[j * kvd + kvh * hd + i];
        s[size_t(j)] = d / std::sqrt(double(hd));
        m = std::max(m, s[size_t(j)]);
      }
      double z = 0;
      for (auto& e : s) z += (e = std::exp(e - m));
      for (int i = 0; i < hd; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += s[size_t(j)] / z * v.f32()[j * kvd + kvh * hd + i];
        out[size_t(t * qd + h * hd + i)] = acc;
      }
    }
  return out;
}

TEST(Ops, AttentionMatchesFloat64) {
  std::mt19937 rng(5);
  struct Case { int H, KVH, hd; int64_t T; int start; };
  for (const Case c : {Case{1, 1, 4, 1, 0}, Case{4, 4, 8, 5, 0}, Case{4, 2, 6, 1, 9},
                       Case{6, 3, 10, 70, 0}, Case{8, 2, 16, 131, 3}, Case{3, 1, 5, 65, 64},
                       Case{2, 1, 32, 200, 0}}) {
    const int64_t S = c.start + c.T + 2;  // cache longer than needed: rows past the end unused
    Tensor q = random_tensor({c.T, int64_t(c.H) * c.hd}, rng, 2.0f);
    Tensor k = random_tensor({S, int64_t(c.KVH) * c.hd}, rng, 2.0f);
    Tensor v = random_tensor({S, int64_t(c.KVH) * c.hd}, rng);
    Tensor out = Tensor::empty(q.shape(), DType::F32);
    attention(q, k, v, c.H, c.KVH, c.hd, c.start, out);
    EXPECT_LT(rel_error(out, attention_ref(q, k, v, c.H, c.KVH, c.hd, c.start)), 2e-6)
        << "H=" << c.H << " KVH=" << c.KVH << " hd=" << c.hd << " T=" << c.T << " start=" << c.start;
  }
}

TEST(Ops, AttentionIsCausal) {
  // Changing a key/value after position p must not change the output of queries at <= p.
  std::mt19937 rng(6);
  const int H = 2, hd = 8;
  const int64_t T = 80;
  Tensor q = random_tensor({T, H * hd}, rng), k = random_tensor({T, H * hd}, rng),
         v = random_tensor({T, H * hd}, rng);
  Tensor a = Tensor::empty(q.shape(), DType::F32), b = Tensor::empty(q.shape(), DType::F32);
  attention(q, k, v, H, H, hd, 0, a);
  for (int64_t i = 70 * H * hd; i < T * H * hd; ++i) k.f32()[i] = v.f32()[i] = 100.0f;
  attention(q, k, v, H, H, hd, 0, b);
  for (int64_t i = 0; i < 70 * H * hd; ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]) << i;
  bool changed = false;
  for (int64_t i = 70 * H * hd; i < T * H * hd; ++i) changed |= a.f32()[i] != b.f32()[i];
  EXPECT_TRUE(changed);
}

TEST(Ops, AttentionSoftmaxIsStableForLargeScores) {
  // Scores of ±1e4 overflow a naive exp; the max-subtracted softmax picks the largest key.
  const int hd = 4;
  Tensor q = Tensor::from_floats({100, 100, 100, 100}, {1, hd});
  Tensor k = Tensor::from_floats({100, 100, 100, 100, -100, -100, -100, -100, 99, 99, 99, 99}, {3, hd});
  Tensor v = Tensor::from_floats({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {3, hd});
  Tensor out = Tensor::empty({1, hd}, DType::F32);
  attention(q, k, v, 1, 1, hd, 2, out);
  for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out.f32()[i], float(i + 1));
}

TEST(Ops, SiluMulAndAddMatchFloat64) {
  std::mt19937 rng(7);
  for (int64_t n : {1, 13, 4099, 70001}) {
    Tensor g = random_tensor({n}, rng, 12.0f), u = random_tensor({n}, rng);
    Tensor out = Tensor::empty({n}, DType::F32);
    silu_mul(g, u, out);
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double gi = g.f32()[i];
      const double ref = gi / (1 + std::exp(-gi)) * u.f32()[i];
      worst = std::max(worst, std::abs(out.f32()[i] - ref) / std::abs(ref));
    }
    EXPECT_LT(worst, 1e-6) << n;
    Tensor x = g.clone();
    add_inplace(x, u);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(x.f32()[i], g.f32()[i] + u.f32()[i]);
    silu_mul(g, u, g);  // in place
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(g.f32()[i], out.f32()[i]);
  }
}

TEST(Ops, ExpIsAccurateOverItsRange) {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.000731) {
    const float xf = float(x);
    const double ref = std::exp(double(xf));
    worst = std::max(worst, std::abs(double(cpu::exp_f32(xf)) - ref) / ref);
  }
  EXPECT_LT(worst, 2.5e-7);  // about 2 ulp
  EXPECT_EQ(cpu::exp_f32(0.0f), 1.0f);
  EXPECT_GT(cpu::exp_f32(-1000.0f), 0.0f);  // clamped, not NaN or negative
  EXPECT_TRUE(std::isfinite(cpu::exp_f32(1000.0f)));
}

TEST(Ops, EmbeddingReadsF32F16Bf16Tables) {
  std::mt19937 rng(8);
  Tensor table = random_tensor({11, 6}, rng);
  const std::vector<int32_t> ids = {3, 0, 10, 3};
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    Tensor t = table.to(dtype);
    Tensor exact = t.to(DType::F32);
    Tensor out = Tensor::empty({4, 6}, DType::F32);
    embedding(t, ids, out);
    for (int r = 0; r < 4; ++r)
      for (int i = 0; i < 6; ++i) ASSERT_EQ(out.f32()[r * 6 + i], exact.f32()[ids[size_t(r)] * 6 + i]);
  }
  Tensor out = Tensor::empty({1, 6}, DType::F32);
  EXPECT_THROW(embedding(table, std::vector<int32_t>{11}, out), Error);
  EXPECT_THROW(embedding(table, std::vector<int32_t>{-1}, out), Error);
}

TEST(Ops, TokenNllMatchesFloat64) {
  std::mt19937 rng(9);
  for (int64_t V : {1, 7, 32000}) {
    const int64_t T = 5;
    Tensor logits = random_tensor({T, V}, rng, 20.0f);
    std::vector<int32_t> targets;
    for (int64_t t = 0; t < T; ++t) targets.push_back(int32_t((t * 7919) % V));
    const std::vector<double> nll = token_nll(logits, targets);
    for (int64_t t = 0; t < T; ++t) {
      double m = -1e300, z = 0;
      for (int64_t j = 0; j < V; ++j) m = std::max(m, double(logits.f32()[t * V + j]));
      for (int64_t j = 0; j < V; ++j) z += std::exp(logits.f32()[t * V + j] - m);
      const double ref = m + std::log(z) - logits.f32()[t * V + targets[size_t(t)]];
      EXPECT_NEAR(nll[size_t(t)], ref, 1e-6 * std::max(1.0, std::abs(ref))) << "V=" << V;
    }
  }
}

TEST(Ops, RejectsMismatchedShapes) {
  Tensor x = Tensor::zeros({2, 3}, DType::F32), w = Tensor::zeros({4, 5}, DType::F32);
  Tensor y = Tensor::zeros({2, 4}, DType::F32);
  EXPECT_THROW(linear(x, w, Tensor(), y), Error);
  Tensor h = Tensor::zeros({2, 3}, DType::F16);
  EXPECT_THROW(add_inplace(x, h), Error);
}

}  // namespace
}  // namespace bitfold::ops
