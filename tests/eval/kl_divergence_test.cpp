// KL(P_base ‖ P_model) and top-1 agreement against float64 references; the summary statistics;
// perplexity with a KL base on tiny models, window by window against a hand computation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::eval {
namespace {

using testing::ByteTokenizer;
using testing::random_model;
using testing::random_tensor;

// log-softmax of a row in double, the plain two-pass way.
std::vector<double> log_softmax(const float* row, int64_t n) {
  double mx = row[0];
  for (int64_t v = 1; v < n; ++v) mx = std::max(mx, double(row[v]));
  double z = 0;
  for (int64_t v = 0; v < n; ++v) z += std::exp(double(row[v]) - mx);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) out[size_t(v)] = double(row[v]) - mx - std::log(z);
  return out;
}

double reference_kl(const float* base, const float* model, int64_t n) {
  const auto lb = log_softmax(base, n), lm = log_softmax(model, n);
  double kl = 0;
  for (int64_t v = 0; v < n; ++v) kl += std::exp(lb[size_t(v)]) * (lb[size_t(v)] - lm[size_t(v)]);
  return kl;
}

struct Shape {
  int64_t rows, vocab;
};

class KlShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(KlShapes, MatchesFloat64Reference) {
  const auto [rows, vocab] = GetParam();
  std::mt19937 rng(uint32_t(rows * 131 + vocab));
  const Tensor base = random_tensor({rows, vocab}, rng, 4.0f);
  Tensor model = base.clone();
  std::normal_distribution<float> noise(0.0f, 0.5f);
  for (int64_t i = 0; i < model.numel(); ++i) model.f32()[i] += noise(rng);
  const TokenComparison c = compare_distributions(base, model);
  ASSERT_EQ(c.kl.size(), size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* b = base.f32() + r * vocab;
    const float* m = model.f32() + r * vocab;
    const double ref = reference_kl(b, m, vocab);
    EXPECT_NEAR(c.kl[size_t(r)], ref, 1e-10 + 1e-9 * ref) << "row " << r;
    EXPECT_GT(c.kl[size_t(r)], 0);
    const bool same = std::max_element(b, b + vocab) - b == std::max_element(m, m + vocab) - m;
    EXPECT_EQ(c.same_top1[size_t(r)], same) << "row " << r;
  }
  // Identical distributions: zero divergence, full agreement; a shifted row is the same
  // distribution (softmax is shift-invariant).
  Tensor shifted = base.clone();
  for (int64_t i = 0; i < shifted.numel(); ++i) shifted.f32()[i] += 3.0f;
  const TokenComparison same = compare_distributions(base, shifted);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_NEAR(same.kl[size_t(r)], 0.0, 1e-9);
    EXPECT_EQ(same.same_top1[size_t(r)], 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, KlShapes,
                         ::testing::Values(Shape{1, 2}, Shape{5, 7}, Shape{3, 33}, Shape{17, 259},
                                           Shape{2, 32000}));

TEST(KlDivergence, KnownValueForTwoPointDistributions) {
  // p = softmax(0, 0) = (1/2, 1/2), q = softmax(0, log 3) = (1/4, 3/4):
  // KL = 1/2 log(2) + 1/2 log(2/3).
  const Tensor base = Tensor::from_floats({0.0f, 0.0f}, {1, 2});
  const Tensor model = Tensor::from_floats({0.0f, float(std::log(3.0))}, {1, 2});
  const TokenComparison c = compare_distributions(base, model);
  EXPECT_NEAR(c.kl[0], 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-7);
  EXPECT_EQ(c.same_top1[0], 0);  // base ties → index 0 (first, as torch.argmax); model → 1
}

TEST(KlDivergence, QuantileInterpolatesLikeNumpy) {
  std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 3);
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 5);
  EXPECT_DOUBLE_EQ(quantile(v, 0.99), 4 + 0.96);  // index 3.96 between 4 and 5
  std::vector<double> w = {2, 10};
  EXPECT_DOUBLE_EQ(quantile(w, 0.25), 4);
}

TEST(KlDivergence, AccumulatorSummary) {
  KlAccumulator acc;
  acc.add({{0.1, 0.2, 0.3}, {1, 0, 1}});
  acc.add({{0.4}, {1}});
  const KlDivergence s = acc.summary();
  EXPECT_EQ(s.tokens, 4);
  EXPECT_NEAR(s.mean, 0.25, 1e-15);
  EXPECT_NEAR(s.mean_stderr, std::sqrt((0.0225 + 0.0025 + 0.0025 + 0.0225) / 3 / 4), 1e-15);
  EXPECT_NEAR(s.median, 0.25, 1e-15);
  EXPECT_NEAR(s.p99, 0.3 + 0.97 * 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(s.max, 0.4);
  EXPECT_DOUBLE_EQ(s.top1_agreement, 0.75);
}

std::filesystem::path write_text(const std::string& name, const std::string& text) {
  const auto path = testing::scratch_dir("kl_" + name) / "text.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The model and a perturbed copy of it on a text: ppl of both, KL per scored token.
TEST(KlDivergence, PerplexityWithBaseMatchesHandComputation) {
  const auto base = random_model({.vocab = 259, .max_seq_len = 16}, 11);
  auto model = random_model({.vocab = 259, .max_seq_len = 16}, 11);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (auto& layer : model.layers)
    for (int64_t i = 0; i < layer.down.weight.numel(); ++i) layer.down.weight.f32()[i] += noise(rng);
  const ByteTokenizer tok;
  const std::string text(70, 'a');
  const auto path = write_text("pair", text + "bcdefghij");  // 80 tokens with BOS: 5 windows
  const PerplexityResult r = perplexity(model, tok, path, {.ctx = 16, .progress = false, .kl_base = &base});
  ASSERT_TRUE(r.kl.has_value());
  ASSERT_TRUE(r.base_ppl.has_value());

  std::vector<int32_t> tokens = {1};
  for (unsigned char ch : text + "bcdefghij") tokens.push_back(int32_t(ch) + 3);
  std::vector<double> kls;
  int agree = 0;
  double nll = 0, base_nll = 0;
  for (int w = 0; w < 5; ++w) {
    const std::vector<int32_t> window(tokens.begin() + w * 16, tokens.begin() + w * 16 + 16);
    model::KVCache cm(model.config, 16), cb(base.config, 16);
    const Tensor lm = model::forward(model, window, 0, cm, model::Logits::All);
    const Tensor lb = model::forward(base, window, 0, cb, model::Logits::All);
    for (int i = 0; i + 1 < 16; ++i) {
      const float* m = lm.f32() + i * 259;
      const float* b = lb.f32() + i * 259;
      kls.push_back(reference_kl(b, m, 259));
      agree += std::max_element(b, b + 259) - b == std::max_element(m, m + 259) - m;
      nll -= log_softmax(m, 259)[size_t(window[size_t(i + 1)])];
      base_nll -= log_softmax(b, 259)[size_t(window[size_t(i + 1)])];
    }
  }
  double mean = 0;
  for (double k : kls) mean += k;
  mean /= double(kls.size());
  EXPECT_EQ(r.kl->tokens, 75);
  EXPECT_NEAR(r.kl->mean, mean, 1e-6 * mean);
  EXPECT_GT(r.kl->mean, 1e-6);
  EXPECT_NEAR(r.kl->top1_agreement, agree / 75.0, 1e-12);
  EXPECT_NEAR(r.ppl, std::exp(nll / 75), 1e-6 * r.ppl);
  EXPECT_NEAR(*r.base_ppl, std::exp(base_nll / 75), 1e-6 * *r.base_ppl);
  std::sort(kls.begin(), kls.end());
  EXPECT_NEAR(r.kl->max, kls.back(), 1e-6 * kls.back());
  EXPECT_NEAR(r.kl->p99, kls[73] + 0.26 * (kls[74] - kls[73]), 1e-6 * kls.back());

  // Against itself: zero divergence, full agreement, the same perplexity.
  const PerplexityResult self = perplexity(base, tok, path, {.ctx = 16, .progress = false, .kl_base = &base});
  EXPECT_NEAR(self.kl->mean, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(self.kl->top1_agreement, 1.0);
  EXPECT_DOUBLE_EQ(*self.base_ppl, self.ppl);
}

TEST(KlDivergence, BaseWithAnotherVocabularyIsRefused) {
  const auto model = random_model({.vocab = 259, .max_seq_len = 16}, 1);
  const auto other = random_model({.vocab = 300, .max_seq_len = 16}, 2);
  const auto short_ctx = random_model({.vocab = 259, .max_seq_len = 8}, 2);
  const auto path = write_text("vocab", std::string(40, 'x'));
  EXPECT_THROW(perplexity(model, ByteTokenizer(), path, {.progress = false, .kl_base = &other}), Error);
  EXPECT_THROW(perplexity(model, ByteTokenizer(), path, {.ctx = 16, .progress = false, .kl_base = &short_ctx}), Error);
}

TEST(Perplexity, MaxWindowsSpreadsWindowsOverTheFile) {
  std::vector<int32_t> tokens(40);
  for (int i = 0; i < 40; ++i) tokens[size_t(i)] = i;
  std::vector<int32_t> starts;
  const WindowLogits uniform = [&](std::span<const int32_t> window) {
    starts.push_back(window[0]);
    return Tensor::zeros({int64_t(window.size()), 50}, DType::F32);
  };
  // 10 windows of 4; 3 of them: w = floor(i · 10 / 3) = 0, 3, 6.
  const PerplexityResult r = perplexity(tokens, uniform, {.ctx = 4, .max_windows = 3, .progress = false});
  EXPECT_EQ(starts, (std::vector<int32_t>{0, 12, 24}));
  EXPECT_EQ(r.windows, 3);
  EXPECT_EQ(r.total_windows, 10);
  EXPECT_EQ(r.scored_tokens, 9);
  EXPECT_NEAR(r.ppl, 50.0, 1e-9);
  starts.clear();
  EXPECT_EQ(perplexity(tokens, uniform, {.ctx = 4, .max_windows = 20, .progress = false}).windows, 10);
  EXPECT_THROW(perplexity(tokens, uniform, {.ctx = 4, .max_windows = -1, .progress = false}), Error);
}

}  // namespace
}  // namespace bitfold::eval
