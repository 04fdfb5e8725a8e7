// The block extensions the folds use (LayerWeights: norm bias, norm channel map; wider gate/up
// after a down_proj split) against a float64 forward of the same extended block, and what a
// Hugging Face writer does with them (refuses).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/hf_writer.h"
#include "model/llama.h"
#include "random_model.h"
#include "reference_block.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

using testing::random_tensor;

using testing::Matrix;

// out[t][k] = γ[k] · x[t][map[k]] · r_t + β[k], r_t over x's channels.
Matrix ref_norm(const Matrix& x, const Tensor& gamma, const Tensor& beta, const Tensor& map,
                double eps) {
  Matrix y;
  for (const auto& row : x) {
    double ss = 0;
    for (double e : row) ss += e * e;
    const double r = 1.0 / std::sqrt(ss / double(row.size()) + eps);
    std::vector<double> out(size_t(gamma.numel()));
    for (size_t k = 0; k < out.size(); ++k) {
      const size_t src = map.defined() ? size_t(map.data<int32_t>()[k]) : k;
      out[k] = double(gamma.f32()[k]) * row[src] * r + (beta.defined() ? beta.f32()[k] : 0.0);
    }
    y.push_back(std::move(out));
  }
  return y;
}

// One extended block's output on x (positions 0..T-1), float64.
Matrix ref_extended_block(const ModelConfig& c, const LayerWeights& L, const Matrix& x) {
  return testing::ref_block(
      c, L, x,
      [&](const Matrix& y) {
        return ref_norm(y, L.attn_norm, L.attn_norm_bias, L.attn_norm_channels, c.norm_eps);
      },
      [&](const Matrix& y) {
        return ref_norm(y, L.ffn_norm, L.ffn_norm_bias, L.ffn_norm_channels, c.norm_eps);
      });
}

Tensor channel_map(int64_t K, int64_t D, std::mt19937& rng) {
  Tensor map = Tensor::empty({K}, DType::I32);
  std::uniform_int_distribution<int32_t> ch(0, int32_t(D - 1));
  for (int64_t k = 0; k < K; ++k) map.data<int32_t>()[k] = k < D ? int32_t(k) : ch(rng);
  return map;
}

TEST(FoldedNorm, BlockWithNormBiasChannelMapAndWiderMlpMatchesFloat64) {
  std::mt19937 rng(3);
  ModelConfig c;
  c.dim = 20;
  c.hidden_dim = 30;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.head_dim = 10;
  c.vocab_size = 10;
  c.max_seq_len = 16;
  const int64_t K1 = 27, K2 = 23, F = 37;  // widened q/k/v and gate/up inputs, widened MLP
  LayerWeights L;
  L.attn_norm = random_tensor({K1}, rng);
  L.attn_norm_bias = random_tensor({K1}, rng);
  L.attn_norm_channels = channel_map(K1, c.dim, rng);
  L.q = testing::random_linear(c.q_dim(), K1, true, rng);
  L.k = testing::random_linear(c.kv_dim(), K1, false, rng);
  L.v = testing::random_linear(c.kv_dim(), K1, true, rng);
  L.o = testing::random_linear(c.dim, c.q_dim(), true, rng);
  L.ffn_norm = random_tensor({K2}, rng);
  L.ffn_norm_channels = channel_map(K2, c.dim, rng);  // a map without a bias
  L.gate = testing::random_linear(F, K2, false, rng);
  L.up = testing::random_linear(F, K2, false, rng);
  L.down = testing::random_linear(c.dim, F, false, rng);

  const int64_t T = 9;
  Tensor x = random_tensor({T, c.dim}, rng, 2.0f);
  Matrix xd(size_t(T), std::vector<double>(size_t(c.dim)));
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < c.dim; ++i) xd[size_t(t)][size_t(i)] = x.f32()[t * c.dim + i];
  const Matrix ref = ref_extended_block(c, L, xd);
  KVCache cache(c, 16);
  std::vector<int64_t> widths;
  forward_block(c, L, 0, x, 0, cache, [&](const ActivationPoint& p, Tensor& t) {
    if (p.site == ActivationSite::AttnInput || p.site == ActivationSite::MlpInput ||
        p.site == ActivationSite::DownProjInput)
      widths.push_back(t.dim(1));
  });
  EXPECT_EQ(widths, (std::vector<int64_t>{K1, K2, F}));
  double err = 0, scale = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < c.dim; ++i) {
      err = std::max(err, std::abs(ref[size_t(t)][size_t(i)] - x.f32()[t * c.dim + i]));
      scale = std::max(scale, std::abs(ref[size_t(t)][size_t(i)]));
    }
  EXPECT_LT(err / scale, 2e-6);
}

TEST(FoldedNorm, HuggingFaceWriterRefusesFoldedExtras) {
  testing::RandomModelSpec spec;
  LlamaWeights w = testing::random_model(spec, 4);
  w.layers[1].ffn_norm_bias = Tensor::zeros({spec.dim}, DType::F32);
  const auto dir = testing::scratch_dir("folded_norm_writer") / "out";
  try {
    write_hf_model(w, dir, DType::F32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1 has a folded norm bias or channel split"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace bitfold::model
