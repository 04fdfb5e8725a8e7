#pragma once
// Models and measurements shared by the fold tests: the bundled checkpoints, random models with
// biases and GQA, the logits error of a folded model against the original, per-channel ranges
// seen at the fold sites.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"
#include "model/loader.h"
#include "random_model.h"
#include "test_support.h"

namespace bitfold::transform::testing {

using model::ActivationSite;
using model::LlamaWeights;

inline constexpr ActivationSite kFoldSites[] = {
    ActivationSite::AttnInput, ActivationSite::OProjInput, ActivationSite::MlpInput,
    ActivationSite::DownProjInput};

// The models every fold is tested on: the four bundled checkpoints (GQA untied, tied, GQA
// llama2.c, the trained demo model) and two random ones with q/k/v/o biases (GQA, MQA).
inline const std::vector<std::string>& fold_model_names() {
  static const std::vector<std::string> names = {"tiny_gqa",        "tiny_tied",
                                                 "stories260K",     "pyshakes_15m_hf",
                                                 "random_gqa_bias", "random_mqa_bias"};
  return names;
}

// By `const char*`: GCC 13's -Wdangling-reference flags a reference returned from a call that
// took a temporary std::string (the cache outlives it; the heuristic cannot know).
inline const LlamaWeights& fold_model(const char* name_chars) {
  const std::string name = name_chars;
  static std::map<std::string, LlamaWeights> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  LlamaWeights w;
  using bitfold::testing::repo_path;
  if (name == "tiny_gqa")
    w = model::load_weights(repo_path("tests/data/golden/tiny-gqa"));
  else if (name == "tiny_tied")
    w = model::load_weights(repo_path("tests/data/golden/tiny-tied"));
  else if (name == "stories260K")
    w = model::load_weights(repo_path("models/stories260K/stories260K.bin"));
  else if (name == "pyshakes_15m_hf")
    w = model::load_weights(repo_path("models/pyshakes-15m-hf"));
  else if (name == "random_gqa_bias")
    w = bitfold::testing::random_model({"gqa_bias", 40, 66, 2, 4, 2, 10, 45, false, true}, 7);
  else if (name == "random_mqa_bias")
    w = bitfold::testing::random_model({"mqa_bias", 36, 50, 2, 3, 1, 12, 41, true, true}, 8);
  else
    ADD_FAILURE() << "unknown model " << name;
  return cache.emplace(name, std::move(w)).first->second;
}

inline std::vector<int32_t> fold_tokens(const LlamaWeights& w, int n = 21, uint32_t seed = 5) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, w.config.vocab_size - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& e : t) e = id(rng);
  return t;
}

inline Tensor all_logits(const LlamaWeights& w, const std::vector<int32_t>& tokens,
                         const model::ActivationHook& hook = {}) {
  model::KVCache cache(w.config, int(tokens.size()));
  return model::forward(w, tokens, 0, cache, model::Logits::All, hook);
}

// max |folded − original| / max |original| over every position and vocabulary entry.
inline double logits_rel_error(const Tensor& folded, const Tensor& original) {
  EXPECT_EQ(folded.shape(), original.shape());
  double err = 0, scale = 0;
  for (int64_t i = 0; i < original.numel(); ++i) {
    err = std::max(err, std::abs(double(folded.f32()[i]) - double(original.f32()[i])));
    scale = std::max(scale, std::abs(double(original.f32()[i])));
  }
  return err / scale;
}

// The fold tolerance of methods-reference §0.1.
inline constexpr double kExact = 1e-5;

// Per-channel min / max of each (layer, site) over a forward of `tokens`.
struct SiteRange {
  std::vector<float> min, max;
  std::vector<float> absmax() const {
    std::vector<float> a(max.size());
    for (size_t j = 0; j < a.size(); ++j) a[j] = std::max(std::abs(min[j]), std::abs(max[j]));
    return a;
  }
};
using SiteRanges = std::map<std::pair<int, ActivationSite>, SiteRange>;

inline SiteRanges site_ranges(const LlamaWeights& w, const std::vector<int32_t>& tokens) {
  SiteRanges ranges;
  all_logits(w, tokens, [&](const model::ActivationPoint& p, Tensor& x) {
    const int64_t T = x.dim(0), K = x.dim(1);
    SiteRange& r = ranges[{p.layer, p.site}];
    r.min.assign(size_t(K), INFINITY);
    r.max.assign(size_t(K), -INFINITY);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < K; ++j) {
        r.min[size_t(j)] = std::min(r.min[size_t(j)], x.f32()[t * K + j]);
        r.max[size_t(j)] = std::max(r.max[size_t(j)], x.f32()[t * K + j]);
      }
  });
  return ranges;
}

// Log-uniform in [lo, hi]: scales spanning orders of magnitude.
inline std::vector<float> log_uniform(size_t n, std::mt19937& rng, double lo = 1e-3,
                                      double hi = 1e3) {
  std::uniform_real_distribution<double> e(std::log(lo), std::log(hi));
  std::vector<float> v(n);
  for (float& x : v) x = float(std::exp(e(rng)));
  return v;
}

// Uniform in [lo, hi] per channel.
inline std::vector<float> uniform_between(const std::vector<float>& lo,
                                          const std::vector<float>& hi, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> v(lo.size());
  for (size_t j = 0; j < v.size(); ++j) v[j] = float(lo[j] + u(rng) * (double(hi[j]) - lo[j]));
  return v;
}

}  // namespace bitfold::transform::testing
