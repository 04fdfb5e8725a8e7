// Every fold of transform/fold.h on the bundled models and random models with biases and GQA:
// (1) exact: the folded model's logits equal the original's within FP32 rounding (relative error
// max |Δ| / max |logits| ≤ 1e-5); (2) effective: the site then carries what the fold says (X / s,
// X − z, X / Δ, split replicas x_k / n_k) — exactness alone would also hold for a fold that did
// nothing; (3) pure: the input model is untouched.
#include "transform/fold.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <numeric>

#include "core/parallel.h"
#include "transform/fold_fixtures.h"

namespace bitfold::transform {
namespace {

using namespace testing;  // NOLINT: the fixtures
using model::ModelConfig;

using Captured = std::map<std::pair<int, ActivationSite>, Tensor>;

// A clone of every fold site's tensor in a forward of `tokens`.
Captured capture_sites(const LlamaWeights& w, const std::vector<int32_t>& tokens) {
  Captured out;
  all_logits(w, tokens, [&](const model::ActivationPoint& p, Tensor& x) {
    for (ActivationSite s : kFoldSites)
      if (p.site == s) out[{p.layer, p.site}] = x.clone();
  });
  return out;
}

// max over (t, k) of |expected(t, k) − folded(t, k)| / max |original|, where expected maps the
// folded tensor's element back to the original's units.
double site_mismatch(const Tensor& folded, const Tensor& original,
                     const std::function<double(int64_t t, int64_t k, double folded)>& to_original,
                     const std::function<int64_t(int64_t k)>& source = {}) {
  const int64_t T = folded.dim(0), K = folded.dim(1), K0 = original.dim(1);
  double err = 0, scale = 0;
  for (int64_t i = 0; i < original.numel(); ++i)
    scale = std::max(scale, std::abs(double(original.f32()[i])));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t k0 = source ? source(k) : k;
      const double back = to_original(t, k, folded.f32()[t * K + k]);
      err = std::max(err, std::abs(back - double(original.f32()[t * K0 + k0])));
    }
  return err / scale;
}

// Per o_proj input channel, the value of a per-v-channel vector.
std::vector<float> expand_kv(const ModelConfig& c, const std::vector<float>& kv) {
  std::vector<float> q(size_t(c.q_dim()));
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) {
    const int64_t head = ch / c.head_dim, t = ch % c.head_dim;
    q[size_t(ch)] = kv[size_t((head / c.group_size()) * c.head_dim + t)];
  }
  return q;
}

// A bitwise fingerprint of every weight tensor, to prove inputs are not modified.
uint64_t fingerprint(const LlamaWeights& w) {
  uint64_t h = 1469598103934665603ull;
  const auto mix = [&](const Tensor& t) {
    if (!t.defined()) return;
    const auto* b = static_cast<const unsigned char*>(t.raw());
    for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  mix(w.token_embedding);
  mix(w.final_norm);
  mix(w.lm_head.weight);
  for (const auto& L : w.layers) {
    for (const Tensor* t : {&L.attn_norm, &L.ffn_norm, &L.attn_norm_bias, &L.ffn_norm_bias,
                            &L.attn_norm_channels, &L.ffn_norm_channels})
      mix(*t);
    for (const model::Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
      mix(l->weight);
      mix(l->bias);
    }
  }
  return h;
}

// The vector length a fold takes at a site: per v channel at o_proj's input.
int64_t fold_width(const LlamaWeights& w, int layer, ActivationSite site) {
  return site == ActivationSite::OProjInput ? w.config.kv_dim() : site_channels(w, layer, site);
}

// Per v channel, the union of the ranges of the o_proj input channels it feeds.
SiteRange kv_range(const ModelConfig& c, const SiteRange& per_q) {
  std::vector<float> neg_min(per_q.min.size());
  for (size_t j = 0; j < neg_min.size(); ++j) neg_min[j] = -per_q.min[j];
  SiteRange r;
  r.max = kv_group_max(c, per_q.max);
  r.min = kv_group_max(c, neg_min);
  for (float& e : r.min) e = -e;
  return r;
}

// The symmetric int4 step of each channel, Δ_j = max_t |x_tj| / 7 (per v channel at o_proj's
// input), as the QSM fold takes it.
std::vector<float> int4_steps(const ModelConfig& c, ActivationSite site, const SiteRange& range) {
  std::vector<float> d = range.absmax();
  if (site == ActivationSite::OProjInput) d = kv_group_max(c, d);
  for (float& e : d) e = std::max(e, 1e-6f) / 7.0f;
  return d;
}

// The suite runs beside other test processes on two shared cores: with one thread an OpenMP region
// never waits for a descheduled sibling (several times faster here).
class SingleThreaded : public ::testing::Environment {
 public:
  void SetUp() override { set_num_threads(1); }
};
const auto* const kSingleThreaded = ::testing::AddGlobalTestEnvironment(new SingleThreaded);

// Each test folds the model its parameter names and compares with the model as loaded: its
// fingerprint (a fold must leave its input untouched), the test tokens and their logits.
class Folds : public ::testing::TestWithParam<std::string> {
 protected:
  const LlamaWeights& w = fold_model(GetParam().c_str());
  const uint64_t before = fingerprint(w);
  const std::vector<int32_t> tokens = fold_tokens(w);
  const Tensor ref = all_logits(w, tokens);
};

// Every layer's `site` in `got` carries the original X (`orig`) combined channel by channel with
// that layer's fold vector v (per v channel at o_proj's input): back(x, v_k) maps a folded element
// x back to X's units.
void expect_sites_carry(const ModelConfig& c, const Captured& got, const Captured& orig,
                        ActivationSite site, const std::vector<std::vector<float>>& per_layer,
                        double (*back)(double x, double v), const char* what) {
  for (int l = 0; l < c.n_layers; ++l) {
    const std::vector<float>& v = per_layer[size_t(l)];
    const std::vector<float> per_channel = site == ActivationSite::OProjInput ? expand_kv(c, v) : v;
    const auto to_original = [&](int64_t, int64_t k, double x) {
      return back(x, per_channel[size_t(k)]);
    };
    EXPECT_LE(site_mismatch(got.at({l, site}), orig.at({l, site}), to_original), kExact)
        << "layer " << l << " " << model::site_name(site) << " does not carry " << what;
  }
}

TEST_P(Folds, ScaleSiteIsExactAndDividesTheSite) {
  const Captured orig = capture_sites(w, tokens);
  std::mt19937 rng(1);
  for (ActivationSite site : kFoldSites) {
    LlamaWeights f = w;
    std::vector<std::vector<float>> s(w.layers.size());
    for (int l = 0; l < w.config.n_layers; ++l) {
      s[size_t(l)] = log_uniform(size_t(fold_width(w, l, site)), rng);
      f = scale_site(f, l, site, s[size_t(l)]);
    }
    EXPECT_LE(logits_rel_error(all_logits(f, tokens), ref), kExact) << model::site_name(site);
    expect_sites_carry(w.config, capture_sites(f, tokens), orig, site, s,
                       [](double x, double s_k) { return x * s_k; }, "X / s");
  }
  EXPECT_EQ(fingerprint(w), before) << "scale_site modified its input";
}

TEST_P(Folds, ShiftSiteIsExactAndSubtractsFromTheSite) {
  const Captured orig = capture_sites(w, tokens);
  const SiteRanges ranges = site_ranges(w, tokens);
  std::mt19937 rng(2);
  for (ActivationSite site :
       {ActivationSite::AttnInput, ActivationSite::OProjInput, ActivationSite::MlpInput}) {
    LlamaWeights f = w;
    std::vector<std::vector<float>> z(w.layers.size());
    for (int l = 0; l < w.config.n_layers; ++l) {
      // Shifts inside each channel's range, as a channel centre would be.
      SiteRange r = ranges.at({l, site});
      if (site == ActivationSite::OProjInput) r = kv_range(w.config, r);
      z[size_t(l)] = uniform_between(r.min, r.max, rng);
      f = shift_site(f, l, site, z[size_t(l)]);
    }
    EXPECT_LE(logits_rel_error(all_logits(f, tokens), ref), kExact) << model::site_name(site);
    expect_sites_carry(w.config, capture_sites(f, tokens), orig, site, z,
                       [](double x, double z_k) { return x + z_k; }, "X − z");
  }
  EXPECT_EQ(fingerprint(w), before) << "shift_site modified its input";
}

TEST_P(Folds, FoldStepPutsEverySiteOnItsIntegerGrid) {
  // QSM with the symmetric int4 step of each channel, Δ_j = max_t |x_tj| / 7: the folded model is
  // exact and every site then carries X / Δ, inside [−7, 7] on the calibration tokens.
  const Captured orig = capture_sites(w, tokens);
  const SiteRanges ranges = site_ranges(w, tokens);
  LlamaWeights f = w;
  std::map<std::pair<int, ActivationSite>, std::vector<float>> step;
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site : kFoldSites) {
      const std::vector<float> d = int4_steps(w.config, site, ranges.at({l, site}));
      f = fold_step(f, l, site, d);
      step[{l, site}] = site == ActivationSite::OProjInput ? expand_kv(w.config, d) : d;
    }
  EXPECT_LE(logits_rel_error(all_logits(f, tokens), ref), kExact);
  for (const auto& [key, x] : capture_sites(f, tokens)) {
    const auto& d = step.at(key);
    EXPECT_LE(site_mismatch(x, orig.at(key),
                            [&](int64_t, int64_t k, double v) { return v * d[size_t(k)]; }),
              kExact)
        << "layer " << key.first << " " << model::site_name(key.second);
    float absmax = 0;
    for (int64_t i = 0; i < x.numel(); ++i) absmax = std::max(absmax, std::abs(x.f32()[i]));
    EXPECT_LE(absmax, 7.0f * (1 + 1e-5f))
        << "layer " << key.first << " " << model::site_name(key.second);
    EXPECT_GE(absmax, 7.0f * (1 - 1e-5f))
        << "layer " << key.first << " " << model::site_name(key.second);
  }
}

TEST_P(Folds, SplitChannelsIsExactAndCarriesReplicas) {
  const Captured orig = capture_sites(w, tokens);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> pick(1, 4);
  std::bernoulli_distribution split(0.2);
  for (ActivationSite site :
       {ActivationSite::AttnInput, ActivationSite::MlpInput, ActivationSite::DownProjInput}) {
    LlamaWeights f = w;
    std::vector<std::vector<int64_t>> source(w.layers.size());
    std::vector<std::vector<int>> mult(w.layers.size());
    for (int l = 0; l < w.config.n_layers; ++l) {
      const int64_t K = site_channels(w, l, site);
      auto& n = mult[size_t(l)];
      n.assign(size_t(K), 1);
      for (int& e : n) e = split(rng) ? pick(rng) : 1;
      n[size_t(K - 1)] = 3;  // at least one split
      f = split_channels(f, l, site, n);
      auto& src = source[size_t(l)];
      src.resize(size_t(K));
      std::iota(src.begin(), src.end(), 0);
      for (int64_t k = 0; k < K; ++k)
        for (int r = 1; r < n[size_t(k)]; ++r) src.push_back(k);
      EXPECT_EQ(site_channels(f, l, site), int64_t(src.size()));
    }
    EXPECT_LE(logits_rel_error(all_logits(f, tokens), ref), kExact) << model::site_name(site);
    const Captured got = capture_sites(f, tokens);
    for (int l = 0; l < w.config.n_layers; ++l) {
      const auto& src = source[size_t(l)];
      const auto& n = mult[size_t(l)];
      ASSERT_EQ(got.at({l, site}).dim(1), int64_t(src.size()));
      EXPECT_LE(site_mismatch(
                    got.at({l, site}), orig.at({l, site}),
                    [&](int64_t, int64_t k, double x) { return x * n[size_t(src[size_t(k)])]; },
                    [&](int64_t k) { return src[size_t(k)]; }),
                kExact)
          << "layer " << l << " " << model::site_name(site) << ": replicas are not x_k / n_k";
    }
  }
  EXPECT_EQ(fingerprint(w), before) << "split_channels modified its input";
}

TEST_P(Folds, ScaleQkIsExactWithRopePairsTied) {
  std::mt19937 rng(4);
  LlamaWeights f = w;
  for (int l = 0; l < w.config.n_layers; ++l) {
    const std::vector<float> s =
        tie_rope_pairs(w.config, log_uniform(size_t(w.config.kv_dim()), rng, 1e-2, 1e2));
    f = scale_qk(f, l, s);
    // k_proj rows carry the factor (the scores are not a hook site, so check the weights).
    const model::Linear &k0 = w.layers[size_t(l)].k, &k1 = f.layers[size_t(l)].k;
    const int64_t K = k0.in_features();
    for (int64_t r = 0; r < k0.out_features(); ++r)
      ASSERT_FLOAT_EQ(k1.weight.f32()[r * K], k0.weight.f32()[r * K] * s[size_t(r)]);
  }
  EXPECT_LE(logits_rel_error(all_logits(f, tokens), ref), kExact);
}

TEST_P(Folds, WholePipelinesAreExact) {
  // What the methods compose: shift (OS+ / symmetrization) → scale (OS+) → split (dimensional
  // reconstruction) → step (QSM), then scale_qk; ranges re-measured after each stage as a method
  // would. Every site ends on its integer grid.
  std::mt19937 rng(6);
  LlamaWeights f = w;
  SiteRanges ranges = site_ranges(f, tokens);
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site :
         {ActivationSite::AttnInput, ActivationSite::OProjInput, ActivationSite::MlpInput}) {
      SiteRange r = ranges.at({l, site});
      if (site == ActivationSite::OProjInput) r = kv_range(w.config, r);
      std::vector<float> centre(r.min.size());
      for (size_t j = 0; j < centre.size(); ++j) centre[j] = 0.5f * (r.min[j] + r.max[j]);
      f = shift_site(f, l, site, centre);
    }
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site : kFoldSites)
      f = scale_site(f, l, site, log_uniform(size_t(fold_width(f, l, site)), rng, 1e-2, 1e2));
  ranges = site_ranges(f, tokens);
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site :
         {ActivationSite::AttnInput, ActivationSite::MlpInput, ActivationSite::DownProjInput}) {
      // Split the channels whose range exceeds twice the median, as reconstruction would.
      std::vector<float> a = ranges.at({l, site}).absmax();
      std::vector<float> sorted = a;
      std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
      const float median = sorted[sorted.size() / 2];
      std::vector<int> n(a.size());
      for (size_t j = 0; j < a.size(); ++j)
        n[j] = std::clamp(int(std::ceil(a[j] / (2 * median))), 1, 6);
      f = split_channels(f, l, site, n);
    }
  ranges = site_ranges(f, tokens);
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site : kFoldSites) {
      const std::vector<float> d = int4_steps(w.config, site, ranges.at({l, site}));
      f = fold_step(f, l, site, d);
    }
  for (int l = 0; l < w.config.n_layers; ++l)
    f = scale_qk(f, l,
                 tie_rope_pairs(w.config, log_uniform(size_t(w.config.kv_dim()), rng, 0.1, 10)));
  const double err = logits_rel_error(all_logits(f, tokens), ref);
  EXPECT_LE(err, kExact);
  int64_t added = 0;
  for (int l = 0; l < w.config.n_layers; ++l)
    for (ActivationSite site : kFoldSites)
      added += site_channels(f, l, site) - site_channels(w, l, site);
  std::cout << "[ fold     ] " << GetParam() << ": shift, scale, split, step, q/k: logits error "
            << err << ", " << added << " channels added by splits\n";
  for (const auto& [key, x] : capture_sites(f, tokens)) {
    float absmax = 0;
    for (int64_t i = 0; i < x.numel(); ++i) absmax = std::max(absmax, std::abs(x.f32()[i]));
    // Rounding of the earlier layers' folds moves an element by ~1e-5 of its size.
    EXPECT_LE(absmax, 7.0f * (1 + 1e-4f))
        << "layer " << key.first << " " << model::site_name(key.second);
  }
  EXPECT_EQ(fingerprint(w), before) << "a fold modified its input";
}

INSTANTIATE_TEST_SUITE_P(Model, Folds, ::testing::ValuesIn(fold_model_names()),
                         [](const auto& param_info) { return param_info.param; });

// ---- errors and helpers -----------------------------------------------------------------------

#define EXPECT_CONTAINS(text, part)                                \
  do {                                                             \
    const std::string message_ = (text);                           \
    EXPECT_NE(message_.find(part), std::string::npos) << message_; \
  } while (0)

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Fold, RejectsWhatIsNotExact) {
  const LlamaWeights& w = fold_model("tiny_gqa");  // 4 heads on 2 KV heads of 12
  const ModelConfig& c = w.config;
  const std::vector<int> split(size_t(c.q_dim()), 2);
  EXPECT_CONTAINS(error_of([&] {
                    shift_site(w, 1, ActivationSite::DownProjInput,
                               std::vector<float>(size_t(c.hidden_dim), 0.5f));
                  }),
                  "layer 1 down_proj_input: a shift cannot be folded here");
  EXPECT_CONTAINS(error_of([&] { split_channels(w, 0, ActivationSite::OProjInput, split); }),
                  "layer 0 o_proj_input: channels cannot be split here");
  // Per o_proj input channel, the heads of a KV group must agree.
  std::vector<float> per_q(size_t(c.q_dim()), 1.0f);
  per_q[0] = 2.0f;
  EXPECT_CONTAINS(error_of([&] { scale_site(w, 0, ActivationSite::OProjInput, per_q); }),
                  "use kv_group_max");
  // ... and agreeing ones are accepted (equal to the kv_dim form).
  per_q[size_t(c.head_dim)] = 2.0f;  // head 1 shares KV head 0 with head 0
  const LlamaWeights a = scale_site(w, 0, ActivationSite::OProjInput, per_q);
  const LlamaWeights b = scale_site(w, 0, ActivationSite::OProjInput, kv_group_max(c, per_q));
  EXPECT_EQ(std::memcmp(a.layers[0].o.weight.raw(), b.layers[0].o.weight.raw(),
                        a.layers[0].o.weight.nbytes()),
            0);
  std::vector<float> qk(size_t(c.kv_dim()), 1.0f);
  qk[1] = 3.0f;
  EXPECT_CONTAINS(error_of([&] { scale_qk(w, 0, qk); }), "rotated together by RoPE");
}

TEST(Fold, RejectsBadVectors) {
  const LlamaWeights& w = fold_model("tiny_gqa");
  const ModelConfig& c = w.config;
  std::vector<float> s(size_t(c.dim), 1.0f);
  EXPECT_CONTAINS(error_of([&] {
                    scale_site(w, 0, ActivationSite::AttnInput, std::span(s).first(s.size() - 1));
                  }),
                  "scale_site: layer 0 attn_input: 47 values for 48 channels");
  for (float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    s[5] = bad;
    EXPECT_CONTAINS(error_of([&] { fold_step(w, 1, ActivationSite::MlpInput, s); }),
                    "fold_step: layer 1 mlp_input: channel 5 has factor");
  }
  s[5] = NAN;
  EXPECT_CONTAINS(error_of([&] { shift_site(w, 0, ActivationSite::AttnInput, s); }),
                  "channel 5 has value nan");
  s[5] = 1.0f;
  EXPECT_CONTAINS(error_of([&] { scale_site(w, 2, ActivationSite::AttnInput, s); }),
                  "layer 2 outside the model's 2 layers");
  EXPECT_CONTAINS(error_of([&] { scale_site(w, 0, ActivationSite::BlockInput, s); }),
                  "block_input: not a fold site");
  EXPECT_CONTAINS(
      error_of([&] { scale_site(w, 0, ActivationSite::OProjInput, std::span(s).first(30)); }),
      "30 values, expected one per v_proj output channel (24) or per o_proj input channel (48)");
  std::vector<int> n(size_t(c.hidden_dim), 1);
  n[7] = 0;
  EXPECT_CONTAINS(error_of([&] { split_channels(w, 0, ActivationSite::DownProjInput, n); }),
                  "channel 7 has multiplicity 0");
  // Every message is one line.
  for (float bad : {0.0f}) {
    s[5] = bad;
    EXPECT_EQ(error_of([&] { scale_site(w, 0, ActivationSite::AttnInput, s); }).find('\n'),
              std::string::npos);
  }
}

TEST(Fold, NoSplitLeavesTheModelAsItIs) {
  const LlamaWeights& w = fold_model("tiny_tied");
  const std::vector<int> ones(size_t(w.config.dim), 1);
  const LlamaWeights f = split_channels(w, 0, ActivationSite::AttnInput, ones);
  EXPECT_FALSE(f.layers[0].attn_norm_channels.defined());
  EXPECT_EQ(f.layers[0].q.weight.raw(), w.layers[0].q.weight.raw());
}

TEST(Fold, KvGroupMaxAndRopePairs) {
  ModelConfig c;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  // q channels: head h, dim t → value 10 h + t; KV head 0 takes heads 0, 1; KV head 1 heads 2, 3.
  std::vector<float> per_q(16);
  for (int h = 0; h < 4; ++h)
    for (int t = 0; t < 4; ++t) per_q[size_t(h * 4 + t)] = float(10 * h + t);
  EXPECT_EQ(kv_group_max(c, per_q), (std::vector<float>{10, 11, 12, 13, 30, 31, 32, 33}));
  const std::vector<float> s = {1, 5, 2, 3, 7, 1, 1, 8};
  // Pairs (0, 2), (1, 3) within each head of 4.
  EXPECT_EQ(tie_rope_pairs(c, s), (std::vector<float>{2, 5, 2, 5, 7, 8, 7, 8}));
}

}  // namespace
}  // namespace bitfold::transform
