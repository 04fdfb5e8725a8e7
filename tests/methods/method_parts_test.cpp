// The parts the folding methods are built from, each against a brute-force float64 computation
// or an exact property: site observations (statistics, and their behaviour under the folds),
// the site output error, OS+'s quantizer, split planning, the row clip search, the Gram matrix
// and the low-rank fit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/parallel.h"
#include "methods/mergequant.h"
#include "methods/osplus.h"
#include "methods/site_error.h"
#include "methods/site_observation.h"
#include "methods/weight_rounding.h"
#include "model/loader.h"
#include "quant/recipe.h"
#include "random_model.h"
#include "test_support.h"
#include "transform/fold.h"

namespace bitfold::methods {
namespace {

using model::ActivationSite;
using bitfold::testing::random_tensor;

quant::QuantSpec spec(const char* format, quant::Granularity g) {
  quant::QuantSpec s;
  s.format = quant::parse_format(format);
  s.granularity = g;
  return s;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return err / std::max(scale, 1e-30);
}

// ---- SiteObservation ----------------------------------------------------------------------------

TEST(SiteObservation, StatisticsMatchBruteForce) {
  std::mt19937 rng(1);
  SiteObservation obs(ActivationSite::MlpInput, 30);
  std::vector<Tensor> windows;
  for (int w = 0; w < 5; ++w) {
    windows.push_back(random_tensor({16, 7}, rng, float(w + 1)));
    obs.add_window(windows.back(), 0);
  }
  EXPECT_EQ(obs.windows(), 5);
  EXPECT_EQ(obs.tokens(), 80);
  EXPECT_EQ(obs.samples().size(), 2u);  // the budget of 30 tokens is reached in the second window
  for (int first : {0, 1, 3}) {
    const quant::ChannelStats r = obs.range(first);
    const int n = first ? first : 5;
    for (int64_t j = 0; j < 7; ++j) {
      float lo = INFINITY, hi = -INFINITY;
      for (int w = 0; w < n; ++w)
        for (int64_t t = 0; t < 16; ++t) {
          lo = std::min(lo, windows[size_t(w)].f32()[t * 7 + j]);
          hi = std::max(hi, windows[size_t(w)].f32()[t * 7 + j]);
        }
      EXPECT_EQ(r.min[size_t(j)], lo);
      EXPECT_EQ(r.max[size_t(j)], hi);
    }
  }
  // Mean of per-window midpoints, and OutlierTune's per-window clamp to 0.8 × its extremes.
  const std::vector<float> mid = obs.mean_midpoint();
  const quant::ChannelStats clipped = obs.window_clipped_range(0.8f);
  for (int64_t j = 0; j < 7; ++j) {
    double sum = 0;
    float lo = INFINITY, hi = -INFINITY;
    for (const Tensor& x : windows) {
      float wlo = INFINITY, whi = -INFINITY, tlo = INFINITY, thi = -INFINITY;
      for (int64_t i = 0; i < x.numel(); ++i) {
        tlo = std::min(tlo, x.f32()[i]);
        thi = std::max(thi, x.f32()[i]);
      }
      for (int64_t t = 0; t < 16; ++t) {
        const float v = x.f32()[t * 7 + j];
        wlo = std::min(wlo, v);
        whi = std::max(whi, v);
        const float c = std::clamp(v, 0.8f * tlo, 0.8f * thi);
        lo = std::min(lo, c);
        hi = std::max(hi, c);
      }
      sum += 0.5 * (double(wlo) + double(whi));
    }
    EXPECT_NEAR(mid[size_t(j)], sum / 5, 1e-6);
    EXPECT_EQ(clipped.min[size_t(j)], lo);
    EXPECT_EQ(clipped.max[size_t(j)], hi);
  }
}

TEST(SiteObservation, FollowsTheFoldsLikeObservingTheFoldedBlock) {
  // Fold a shift, a scale and a split into a block and into its observation: observing the folded
  // block gives the same statistics and samples.
  set_num_threads(1);
  const model::LlamaWeights w =
      bitfold::testing::random_model({"gqa", 24, 40, 1, 4, 2, 6, 31, false, true}, 2);
  std::mt19937 rng(2);
  std::vector<Tensor> inputs = {random_tensor({9, 24}, rng), random_tensor({11, 24}, rng)};
  for (ActivationSite site : kFoldSites) {
    BlockObservation obs = observe_block(w.config, w.layers[0], 0, inputs, 1000);
    model::LayerWeights b = w.layers[0];
    SiteObservation& o = obs.at(site);
    const int64_t K = o.channels();
    std::vector<float> s(static_cast<size_t>(K)), z(static_cast<size_t>(K));
    std::uniform_real_distribution<float> u(0.2f, 3.0f);
    for (int64_t j = 0; j < K; ++j) {
      s[size_t(j)] = u(rng);
      z[size_t(j)] = u(rng) - 1.5f;
    }
    if (site == ActivationSite::OProjInput) {  // uniform within KV groups
      s = group_max(w.config, site, s);
      z = group_max(w.config, site, z);
    }
    if (site != ActivationSite::DownProjInput) {
      b = transform::shift_site(w.config, 0, b, site, z);
      o.shift(z);
    }
    b = transform::scale_site(w.config, 0, b, site, s);
    o.divide(s);
    if (site != ActivationSite::OProjInput) {
      std::vector<int> n(static_cast<size_t>(K), 1);
      n[1] = 3;
      n[size_t(K - 1)] = 2;
      b = transform::split_channels(w.config, 0, b, site, n);
      o.split(n);
    }
    const BlockObservation again = observe_block(w.config, b, 0, inputs, 1000);
    const SiteObservation& a = again.at(site);
    ASSERT_EQ(a.channels(), o.channels()) << model::site_name(site);
    EXPECT_LT(max_rel(o.range().min, a.range().min), 1e-5) << model::site_name(site);
    EXPECT_LT(max_rel(o.range().max, a.range().max), 1e-5) << model::site_name(site);
    for (size_t i = 0; i < a.samples().size(); ++i) {
      const Tensor& x = o.samples()[i];
      const Tensor& y = a.samples()[i];
      EXPECT_LT(max_rel({x.f32(), x.f32() + x.numel()}, {y.f32(), y.f32() + y.numel()}), 1e-5);
    }
  }
}

// ---- SiteError ----------------------------------------------------------------------------------

TEST(SiteError, LinearAndSiluMulLossesMatchFloat64) {
  const model::LlamaWeights w =
      bitfold::testing::random_model({"m", 20, 33, 1, 4, 4, 5, 31, false, true}, 3);
  std::mt19937 rng(3);
  const quant::QuantSpec act = spec("int4", quant::Granularity::InputChannel);
  const quant::QuantSpec wspec = spec("int3", quant::Granularity::OutputChannel);
  for (ActivationSite site : {ActivationSite::DownProjInput, ActivationSite::MlpInput}) {
    const model::LayerWeights& b = w.layers[0];
    const auto consumers = site_consumers(b, site);
    const int64_t K = consumers[0]->in_features();
    std::vector<Tensor> samples = {random_tensor({7, K}, rng, 2.0f), random_tensor({5, K}, rng)};
    const std::vector<quant::QuantSpec> wspecs(consumers.size(), wspec);
    const SiteLoss loss = default_loss(site);
    const SiteError error(w.config, b, site, samples, loss, wspecs);
    quant::ChannelStats stats;
    for (int64_t j = 0; j < K; ++j) {
      stats.min.push_back(-1.5f);
      stats.max.push_back(1.0f + float(j % 3));
    }
    const quant::QuantParams input = quant::fit_params(act, stats);
    // Brute force: W' = W diag(Δ) rounded, back to real units; x rounded; outputs in double.
    std::vector<Tensor> rounded;
    for (const model::Linear* l : consumers) {
      Tensor pre = l->weight.clone();
      for (int64_t i = 0; i < pre.numel(); ++i) pre.f32()[i] *= input.scale[size_t(i % K)];
      Tensor q = quant::fake_quantize(pre, quant::fit_params(wspec, pre));
      for (int64_t i = 0; i < q.numel(); ++i) q.f32()[i] /= input.scale[size_t(i % K)];
      rounded.push_back(q);
    }
    double err = 0, ref = 0;
    for (const Tensor& x : samples) {
      const Tensor xq = quant::fake_quantize(x, input);
      const int64_t T = x.dim(0);
      const auto out = [&](const Tensor& in, const Tensor& wt, const model::Linear& l, int64_t t,
                           int64_t n) {
        double s = l.bias.defined() ? l.bias.f32()[n] : 0.0;
        for (int64_t k = 0; k < K; ++k) s += double(in.f32()[t * K + k]) * wt.f32()[n * K + k];
        return s;
      };
      for (int64_t t = 0; t < T; ++t) {
        if (loss == SiteLoss::Linear) {
          for (int64_t n = 0; n < consumers[0]->out_features(); ++n) {
            const double y = out(x, consumers[0]->weight, *consumers[0], t, n);
            const double yq = out(xq, rounded[0], *consumers[0], t, n);
            err += (yq - y) * (yq - y);
            ref += y * y;
          }
        } else {
          for (int64_t n = 0; n < consumers[0]->out_features(); ++n) {
            const auto silu = [](double v) { return v / (1 + std::exp(-v)); };
            const double y = silu(out(x, consumers[0]->weight, *consumers[0], t, n)) *
                             out(x, consumers[1]->weight, *consumers[1], t, n);
            const double yq = silu(out(xq, rounded[0], *consumers[0], t, n)) *
                              out(xq, rounded[1], *consumers[1], t, n);
            err += (yq - y) * (yq - y);
            ref += y * y;
          }
        }
      }
    }
    EXPECT_NEAR(error(input), err / ref, 1e-4 * err / ref) << model::site_name(site);
    EXPECT_GT(error(input), 0);
  }
}

TEST(SiteError, PerChannelStaticQuantizationIgnoresChannelScales) {
  // The reason OS+ pairs its scale with a per-tensor quantizer (osplus.h): with per-channel steps
  // fitted on the scaled ranges, a folded channel scale changes nothing (here through attention).
  set_num_threads(1);
  const model::LlamaWeights w =
      bitfold::testing::random_model({"gqa", 24, 40, 1, 4, 2, 6, 31, false, false}, 4);
  std::mt19937 rng(4);
  std::vector<Tensor> inputs = {random_tensor({12, 24}, rng)};
  const BlockObservation obs = observe_block(w.config, w.layers[0], 0, inputs, 1000);
  const ActivationSite site = ActivationSite::AttnInput;
  const quant::QuantSpec act = spec("int4", quant::Granularity::InputChannel);
  const std::vector<quant::QuantSpec> ws(3, spec("int4", quant::Granularity::OutputChannel));
  const SiteError plain(w.config, w.layers[0], site, obs.at(site).samples(), SiteLoss::Attention, ws);
  const double e0 = plain(quant::fit_params(act, obs.at(site).range()));

  std::vector<float> s(24);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  for (float& e : s) e = std::exp(u(rng));
  const model::LayerWeights scaled = transform::scale_site(w.config, 0, w.layers[0], site, s);
  SiteObservation o = obs.at(site);
  o.divide(s);
  const SiteError after(w.config, scaled, site, o.samples(), SiteLoss::Attention, ws);
  EXPECT_NEAR(after(quant::fit_params(act, o.range())), e0, 1e-4 * e0);
  // ... whereas a per-tensor quantizer does see the scale.
  const quant::QuantSpec tensor = spec("int4", quant::Granularity::Tensor);
  EXPECT_GT(std::abs(after(fit_site_steps(w.config, site, tensor, o.range())) -
                     plain(fit_site_steps(w.config, site, tensor, obs.at(site).range()))),
            1e-3 * e0);
}

// ---- OS+ --------------------------------------------------------------------------------------

TEST(OsPlus, ThresholdGridEndsAreTheChannelAndTensorQuantizers) {
  quant::ChannelStats r;
  r.min = {-1.0f, -0.2f, -8.0f, -0.5f};
  r.max = {0.5f, 0.3f, 6.0f, 2.0f};
  std::vector<float> a = {1.0f, 0.3f, 8.0f, 2.0f};
  const quant::QuantSpec sym = spec("int4", quant::Granularity::InputChannel);
  // t = min a: every channel scaled to t, one step t/7 → the per-channel steps a_j / 7.
  const quant::QuantParams low = osplus_quantizer(sym, r, a, 0.3f);
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(low.scale[j], a[j] / 7, 1e-6) << j;
  // t = max a: nothing scaled → the per-tensor step 8/7 everywhere.
  const quant::QuantParams high = osplus_quantizer(sym, r, a, 8.0f);
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(high.scale[j], 8.0f / 7, 1e-6) << j;
  // Between: Δ_j = max(a_j, t) / 7.
  const quant::QuantParams mid = osplus_quantizer(sym, r, a, 1.5f);
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(mid.scale[j], std::max(a[j], 1.5f) / 7, 1e-6) << j;
  // An asymmetric grid keeps one zero-point for the whole (scaled) tensor.
  const quant::QuantParams asym = osplus_quantizer(spec("uint4", quant::Granularity::InputChannel), r, a, 1.5f);
  ASSERT_EQ(asym.zero_point.size(), 4u);
  EXPECT_EQ(asym.zero_point[0], asym.zero_point[3]);
}

// ---- MergeQuant -------------------------------------------------------------------------------

TEST(MergeQuant, SplitPlanIsGreedyWithinTheBudget) {
  const std::vector<float> a = {10.0f, 3.0f, 1.0f};
  EXPECT_EQ(plan_split(a, 2.0f, 100), (std::vector<int>{5, 2, 1}));  // all ≤ target
  EXPECT_EQ(plan_split(a, 2.0f, 3), (std::vector<int>{4, 1, 1}));    // 10 → 5 → 3.3 → 2.5
  EXPECT_EQ(plan_split(a, 2.0f, 0), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(plan_split(a, 20.0f, 10), (std::vector<int>{1, 1, 1}));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 5.0f);
  std::vector<float> big(200);
  for (float& e : big) e = std::exp(u(rng));
  const std::vector<int> n = plan_split(big, 10.0f, 40);
  int added = 0;
  float widest = 0;
  for (size_t j = 0; j < big.size(); ++j) {
    added += n[j] - 1;
    widest = std::max(widest, big[j] / float(n[j]));
  }
  EXPECT_EQ(added, 40);
  // Greedy on the widest is optimal for the widest remaining: one fewer replica anywhere and
  // moving it to the widest channel cannot lower it further.
  for (size_t j = 0; j < big.size(); ++j) {
    if (n[j] > 1) {
      EXPECT_GE(big[j] / float(n[j] - 1), widest - 1e-4f);
    }
  }
}

TEST(MergeQuant, ClipChoiceIsNoClipWhenWithinTheToleranceElseTheArgmin) {
  set_num_threads(1);
  const model::LlamaWeights w =
      bitfold::testing::random_model({"gqa", 24, 40, 1, 4, 2, 6, 31, false, false}, 3);
  std::mt19937 rng(4);
  // A few large values, so that clipping them pays at 4 bits.
  std::vector<Tensor> inputs = {random_tensor({13, 24}, rng), random_tensor({17, 24}, rng)};
  inputs[0].f32()[5] = 9.0f;
  inputs[1].f32()[30] = -7.0f;
  quant::RecipeFlags f;
  f.method = "mergequant";
  f.weights = f.activations = "4";
  const quant::Recipe recipe = quant::recipe_from_flags(f);
  const BlockSpecs specs = block_specs(recipe, 0, w.layers[0]);
  const auto run = [&](double tolerance) {
    MergeQuantOptions o;
    o.split_budget = 0;
    o.clip_tolerance = tolerance;
    BlockObservation obs = observe_block(w.config, w.layers[0], 0, inputs, 1000);
    model::LayerWeights b = w.layers[0];
    std::vector<ClipSearch> searches;
    mergequant_block(o, w.config, 0, b, obs, specs, &searches);
    return searches;
  };
  const std::vector<ClipSearch> exact = run(0), tolerant = run(0.25);
  ASSERT_EQ(exact.size(), 4u);
  ASSERT_EQ(tolerant.size(), 4u);
  const std::vector<double> ratios = MergeQuantOptions{}.clip_ratios;
  bool differs = false;
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(exact[i].errors.size(), ratios.size());
    const double best = *std::min_element(exact[i].errors.begin(), exact[i].errors.end());
    double argmin_ratio = 0;
    for (size_t k = 0; k < ratios.size(); ++k)
      if (exact[i].errors[k] == best) argmin_ratio = std::max(argmin_ratio, ratios[k]);
    EXPECT_EQ(exact[i].best_ratio, argmin_ratio) << i;
    // ratios[0] = 1: no clip, kept when within 25 % of the best; the argmin otherwise.
    EXPECT_EQ(tolerant[i].errors, exact[i].errors) << i;
    EXPECT_EQ(tolerant[i].best_ratio, exact[i].errors[0] <= 1.25 * best ? 1.0 : argmin_ratio) << i;
    EXPECT_GE(tolerant[i].best_ratio, exact[i].best_ratio) << i;
    differs = differs || tolerant[i].best_ratio != exact[i].best_ratio;
  }
  EXPECT_TRUE(differs) << "the tolerance never mattered: the test does not test it";
}

// ---- weight rounding ----------------------------------------------------------------------------

TEST(WeightRounding, GramIsXtX) {
  std::mt19937 rng(6);
  const std::vector<Tensor> xs = {random_tensor({5, 6}, rng), random_tensor({3, 6}, rng)};
  const Tensor h = input_gram(xs);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 6; ++j) {
      double s = 0;
      for (const Tensor& x : xs)
        for (int64_t t = 0; t < x.dim(0); ++t) s += double(x.f32()[t * 6 + i]) * x.f32()[t * 6 + j];
      EXPECT_NEAR(h.f32()[i * 6 + j], s, 1e-5 * std::max(1.0, std::abs(s)));
    }
}

TEST(WeightRounding, RowClipSearchNeverLosesToRoundToNearest) {
  std::mt19937 rng(7);
  Tensor w = random_tensor({17, 40}, rng);
  for (int64_t i = 0; i < 17; ++i) w.f32()[i * 40 + (i % 40)] *= 8.0f;  // one outlier per row
  const Tensor gram = input_gram({random_tensor({64, 40}, rng)});
  const quant::QuantSpec ws = spec("int3", quant::Granularity::OutputChannel);
  const std::vector<double> ratios = {1.0, 0.9, 0.8, 0.7, 0.6};
  const quant::QuantParams best = search_row_clip(w, ws, gram, ratios);
  const auto errors = [&](const quant::QuantParams& p) {
    Tensor e = quant::fake_quantize(w, p);
    for (int64_t i = 0; i < e.numel(); ++i) e.f32()[i] = w.f32()[i] - e.f32()[i];
    return row_errors(e, gram);
  };
  const std::vector<double> searched = errors(best), rtn = errors(quant::fit_params(ws, w));
  int better = 0;
  for (size_t i = 0; i < rtn.size(); ++i) {
    EXPECT_LE(searched[i], rtn[i] * (1 + 1e-9)) << "row " << i;
    better += searched[i] < rtn[i] * 0.999;
  }
  EXPECT_GT(better, 0);
}

TEST(WeightRounding, LowRankRecoversARankRError) {
  std::mt19937 rng(8);
  const int64_t N = 23, K = 31, R = 3;
  const Tensor b = random_tensor({N, R}, rng), a = random_tensor({R, K}, rng);
  Tensor e = Tensor::zeros({N, K}, DType::F32);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t r = 0; r < R; ++r) e.f32()[i * K + k] += b.f32()[i * R + r] * a.f32()[r * K + k];
  const Tensor gram = input_gram({random_tensor({80, K}, rng)});
  const LowRank exact = fit_low_rank(e, gram, int(R), 30);
  EXPECT_LT(exact.error_after, 1e-6 * exact.error_before);
  // A full-rank error: more rank, less error.
  const Tensor noise = random_tensor({N, K}, rng);
  double last = INFINITY;
  for (int rank : {1, 4, 12}) {
    const LowRank lr = fit_low_rank(noise, gram, rank, 20);
    EXPECT_LT(lr.error_after, lr.error_before) << rank;
    EXPECT_LT(lr.error_after, last) << rank;
    last = lr.error_after;
  }
}

}  // namespace
}  // namespace bitfold::methods
