// The F32 forward pass against a float64 reference written here with plain loops (no code shared
// with src/), on small random models: GQA or not, tied or untied, with and without biases,
// head_dim ≠ dim / n_heads; and prefill in one batch against token-by-token decoding.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/error.h"
#include "model/llama.h"
#include "random_model.h"
#include "reference_block.h"
#include "test_support.h"

namespace bitfold::model {
namespace {

using testing::Matrix;
using testing::ref_linear;

using testing::random_model;
using Variant = testing::RandomModelSpec;

// ---- float64 reference ----------------------------------------------------------------------

Matrix ref_rmsnorm(const Matrix& x, const Tensor& gamma, double eps) {
  Matrix y = x;
  for (auto& row : y) {
    double ss = 0;
    for (double e : row) ss += e * e;
    const double r = 1.0 / std::sqrt(ss / double(row.size()) + eps);
    for (size_t i = 0; i < row.size(); ++i) row[i] = row[i] * r * double(gamma.f32()[i]);
  }
  return y;
}

// Logits at every position of `tokens` (positions 0..T-1).
Matrix reference_forward(const LlamaWeights& w, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = w.config;
  const size_t T = tokens.size();
  Matrix x(T, std::vector<double>(size_t(c.dim)));
  for (size_t t = 0; t < T; ++t)
    for (int i = 0; i < c.dim; ++i) x[t][size_t(i)] = w.token_embedding.f32()[tokens[t] * c.dim + i];
  for (const LayerWeights& L : w.layers)
    x = testing::ref_block(
        c, L, std::move(x),
        [&](const Matrix& y) { return ref_rmsnorm(y, L.attn_norm, c.norm_eps); },
        [&](const Matrix& y) { return ref_rmsnorm(y, L.ffn_norm, c.norm_eps); });
  return ref_linear(ref_rmsnorm(x, w.final_norm, c.norm_eps), w.lm_head);
}

// max |ours - ref| / max |ref| over rows [row0, row0 + got.rows) of ref.
double rel_error(const Tensor& got, const Matrix& ref, size_t row0 = 0) {
  double err = 0, scale = 0;
  const int64_t V = got.dim(1);
  for (int64_t r = 0; r < got.dim(0); ++r)
    for (int64_t j = 0; j < V; ++j) {
      const double e = ref[row0 + size_t(r)][size_t(j)];
      err = std::max(err, std::abs(double(got.f32()[r * V + j]) - e));
      scale = std::max(scale, std::abs(e));
    }
  return err / scale;
}

double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::abs(a.f32()[i] - b.f32()[i])));
  return m;
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& e : t) e = id(rng);
  return t;
}

const Variant kVariants[] = {
    {"mha_tied", 32, 48, 2, 4, 4, 8, 37, true, false},
    {"gqa_untied", 48, 72, 3, 6, 2, 8, 53, false, false},
    {"gqa_bias_odd_head_dim", 20, 35, 2, 4, 1, 6, 29, false, true},  // q_dim 24 ≠ dim 20
    {"mqa_tied_bias", 24, 40, 2, 3, 1, 8, 41, true, true},
};

class LlamaVariants : public ::testing::TestWithParam<Variant> {};

TEST_P(LlamaVariants, PrefillMatchesFloat64Reference) {
  const Variant v = GetParam();
  const LlamaWeights w = random_model(v, 11);
  const auto tokens = random_tokens(19, v.vocab, 12);
  const Matrix ref = reference_forward(w, tokens);
  KVCache cache(w.config, 32);
  const Tensor logits = forward(w, tokens, 0, cache, Logits::All);
  ASSERT_EQ(logits.shape(), (Shape{19, v.vocab}));
  EXPECT_LT(rel_error(logits, ref), 2e-5);
  // Logits::Last is the last row of Logits::All (up to summation order: one row goes through
  // a matrix-vector product).
  KVCache cache2(w.config, 32);
  const Tensor last = forward(w, tokens, 0, cache2, Logits::Last);
  ASSERT_EQ(last.shape(), (Shape{1, v.vocab}));
  EXPECT_LT(max_diff(last, logits.slice_rows(18, 19)), 1e-5);
}

TEST_P(LlamaVariants, DecodeTokenByTokenEqualsPrefill) {
  const Variant v = GetParam();
  const LlamaWeights w = random_model(v, 21);
  const auto tokens = random_tokens(23, v.vocab, 22);
  const Matrix ref = reference_forward(w, tokens);
  KVCache batch_cache(w.config, 23);
  const Tensor all = forward(w, tokens, 0, batch_cache, Logits::All);

  KVCache cache(w.config, 23);
  for (int t = 0; t < 23; ++t) {
    const Tensor step = forward(w, std::span(tokens).subspan(size_t(t), 1), t, cache, Logits::Last);
    EXPECT_LT(rel_error(step, ref, size_t(t)), 2e-5) << "position " << t;
    EXPECT_LT(max_diff(step, all.slice_rows(t, t + 1)), 1e-4) << "position " << t;
  }
  // Chunks of prefill continuing from a cache (start_pos > 0 with T > 1).
  KVCache chunked(w.config, 23);
  int pos = 0;
  for (int n : {5, 1, 9, 8}) {
    const Tensor part = forward(w, std::span(tokens).subspan(size_t(pos), size_t(n)), pos, chunked,
                                Logits::All);
    EXPECT_LT(rel_error(part, ref, size_t(pos)), 2e-5) << "chunk at " << pos;
    pos += n;
  }
}

INSTANTIATE_TEST_SUITE_P(Model, LlamaVariants, ::testing::ValuesIn(kVariants),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Llama, BlockByBlockEqualsForward) {
  const LlamaWeights w = random_model(kVariants[1], 31);
  const auto tokens = random_tokens(13, kVariants[1].vocab, 32);
  KVCache cache(w.config, 13);
  const Tensor logits = forward(w, tokens, 0, cache, Logits::All);

  KVCache streamed(w.config, 13);
  Tensor x = embed(w, tokens);
  for (int l = 0; l < w.config.n_layers; ++l) {
    forward_block(w.config, w.layers[size_t(l)], l, x, 0, streamed, {});
    streamed.release(l);  // block-by-block work keeps one layer's K/V at a time
  }
  EXPECT_EQ(max_diff(lm_head(w, x, 0), logits), 0.0);
}

TEST(Llama, HookSeesEverySiteInOrder) {
  const LlamaWeights w = random_model(kVariants[1], 41);
  const ModelConfig& c = w.config;
  const auto tokens = random_tokens(7, c.vocab_size, 42);
  std::vector<std::pair<ActivationSite, int>> seen;
  std::map<ActivationSite, Shape> shapes;
  const ActivationHook hook = [&](const ActivationPoint& p, Tensor& x) {
    seen.emplace_back(p.site, p.layer);
    shapes[p.site] = x.shape();
    EXPECT_EQ(p.start_pos, 0);
  };
  KVCache cache(c, 7);
  forward(w, tokens, 0, cache, Logits::All, hook);
  std::vector<std::pair<ActivationSite, int>> expected;
  for (int l = 0; l < c.n_layers; ++l)
    for (ActivationSite s : {ActivationSite::BlockInput, ActivationSite::AttnInput,
                             ActivationSite::OProjInput, ActivationSite::MlpInput,
                             ActivationSite::DownProjInput, ActivationSite::BlockOutput})
      expected.emplace_back(s, l);
  expected.emplace_back(ActivationSite::LmHeadInput, c.n_layers);
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(shapes[ActivationSite::AttnInput], (Shape{7, c.dim}));
  EXPECT_EQ(shapes[ActivationSite::OProjInput], (Shape{7, c.q_dim()}));
  EXPECT_EQ(shapes[ActivationSite::DownProjInput], (Shape{7, c.hidden_dim}));
  EXPECT_EQ(shapes[ActivationSite::LmHeadInput], (Shape{7, c.dim}));
  EXPECT_EQ(site_consumers(ActivationSite::AttnInput).size(), 3u);
  EXPECT_EQ(site_consumers(ActivationSite::DownProjInput)[0], "mlp.down_proj");
  EXPECT_TRUE(site_consumers(ActivationSite::BlockOutput).empty());
  EXPECT_EQ(site_name(ActivationSite::OProjInput), "o_proj_input");
}

TEST(Llama, HookCanRewriteActivations) {
  // Doubling the attention input of layer 0 in the hook equals doubling W_q, W_k, W_v of layer 0.
  const Variant v = kVariants[1];
  const LlamaWeights w = random_model(v, 51);
  const auto tokens = random_tokens(9, v.vocab, 52);
  const ActivationHook hook = [](const ActivationPoint& p, Tensor& x) {
    if (p.site == ActivationSite::AttnInput && p.layer == 0)
      for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] *= 2.0f;
  };
  KVCache cache(w.config, 9);
  const Tensor hooked = forward(w, tokens, 0, cache, Logits::All, hook);

  LlamaWeights scaled = random_model(v, 51);
  for (Linear* l : {&scaled.layers[0].q, &scaled.layers[0].k, &scaled.layers[0].v})
    for (int64_t i = 0; i < l->weight.numel(); ++i) l->weight.f32()[i] *= 2.0f;
  const Tensor expected = forward(scaled, tokens, 0, cache, Logits::All);
  EXPECT_EQ(max_diff(hooked, expected), 0.0);

  const Tensor plain = forward(w, tokens, 0, cache, Logits::All);
  EXPECT_GT(max_diff(hooked, plain), 1e-3);  // and it did change something

  const ActivationHook bad = [](const ActivationPoint&, Tensor& x) { x = x.slice_rows(0, 1); };
  EXPECT_THROW(forward(w, tokens, 0, cache, Logits::All, bad), Error);
}

TEST(Llama, RejectsSequencesBeyondTheCache) {
  const LlamaWeights w = random_model(kVariants[0], 61);
  KVCache cache(w.config, 8);
  const auto tokens = random_tokens(6, kVariants[0].vocab, 62);
  forward(w, tokens, 0, cache);
  EXPECT_THROW(forward(w, tokens, 4, cache), Error);
  EXPECT_THROW(forward(w, std::span<const int32_t>(), 0, cache), Error);
  EXPECT_THROW(KVCache(w.config, 0), Error);
  const std::vector<int32_t> bad = {0, kVariants[0].vocab};
  EXPECT_THROW(forward(w, bad, 0, cache), Error);
}

}  // namespace
}  // namespace bitfold::model
