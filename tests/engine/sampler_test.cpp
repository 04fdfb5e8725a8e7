#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "engine/sampler.h"

namespace bitfold::engine {
namespace {

std::vector<float> log_probs(std::vector<double> p) {
  std::vector<float> l;
  for (double e : p) l.push_back(float(std::log(e)));
  return l;
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> f(logits.size());
  for (int i = 0; i < draws; ++i) f[size_t(s.sample(logits))] += 1.0 / draws;
  return f;
}

TEST(Sampler, GreedyIsArgmax) {
  Sampler s({.temperature = 0.0f});
  const std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f, 1.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(logits), 1);  // first of the ties
  Sampler k1({.temperature = 1.0f, .top_k = 1, .top_p = 1.0f});
  EXPECT_EQ(k1.sample(logits), 1);
}

TEST(Sampler, SamplesTheSoftmaxDistribution) {
  // A fixed seed makes this deterministic; 40000 draws put each frequency within ~0.005.
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 7});
  const auto f = frequencies(s, log_probs({0.5, 0.3, 0.15, 0.05}), 40000);
  EXPECT_NEAR(f[0], 0.5, 0.015);
  EXPECT_NEAR(f[1], 0.3, 0.015);
  EXPECT_NEAR(f[2], 0.15, 0.015);
  EXPECT_NEAR(f[3], 0.05, 0.015);
}

TEST(Sampler, TemperatureSharpens) {
  // T = 0.5 squares the probabilities before renormalising: 0.6/0.4 → 0.36/0.16 → 0.692/0.308.
  Sampler s({.temperature = 0.5f, .top_k = 0, .top_p = 1.0f, .seed = 3});
  const auto f = frequencies(s, log_probs({0.6, 0.4}), 40000);
  EXPECT_NEAR(f[0], 0.36 / 0.52, 0.015);
}

TEST(Sampler, TopKAndTopPTruncate) {
  const auto logits = log_probs({0.4, 0.3, 0.2, 0.1});
  Sampler k2({.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .seed = 1});
  const auto f = frequencies(k2, logits, 20000);
  EXPECT_EQ(f[2] + f[3], 0.0);
  EXPECT_NEAR(f[0], 0.4 / 0.7, 0.02);
  // p = 0.65: {0.4, 0.3} is the smallest set reaching it.
  Sampler p({.temperature = 1.0f, .top_k = 0, .top_p = 0.65f, .seed = 2});
  const auto g = frequencies(p, logits, 20000);
  EXPECT_EQ(g[2] + g[3], 0.0);
  EXPECT_GT(g[1], 0.3);
  // p small: only the most likely token.
  Sampler tiny({.temperature = 1.0f, .top_k = 0, .top_p = 0.01f, .seed = 3});
  EXPECT_NEAR(frequencies(tiny, logits, 1000)[0], 1.0, 1e-9);
  // Both: top-k first, then p of what is left (0.4/0.9 < 0.5 ≤ 0.7/0.9).
  Sampler both({.temperature = 1.0f, .top_k = 3, .top_p = 0.5f, .seed = 4});
  const auto h = frequencies(both, logits, 20000);
  EXPECT_EQ(h[2] + h[3], 0.0);
  EXPECT_GT(h[1], 0.3);
}

TEST(Sampler, SeedReproduces) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i))) * 3.0f;
  auto run = [&](uint64_t seed) {
    Sampler s({.temperature = 0.9f, .top_k = 50, .top_p = 0.95f, .seed = seed});
    std::vector<int32_t> ids;
    for (int i = 0; i < 50; ++i) ids.push_back(s.sample(logits));
    return ids;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(Sampler({.temperature = -1.0f}), Error);
  EXPECT_THROW(Sampler({.temperature = NAN}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = -1}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = 0, .top_p = 0.0f}), Error);
  EXPECT_THROW(Sampler({.temperature = 1.0f, .top_k = 0, .top_p = 1.5f}), Error);
}

}  // namespace
}  // namespace bitfold::engine
