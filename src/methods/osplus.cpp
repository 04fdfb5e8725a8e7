#include "methods/osplus.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/folding_method.h"

namespace bitfold::methods {

using model::ActivationSite;

quant::QuantParams osplus_quantizer(const quant::QuantSpec& spec, const quant::ChannelStats& range,
                                    const std::vector<float>& a, float t) {
  quant::QuantSpec per_tensor = spec;
  per_tensor.granularity = quant::Granularity::Tensor;
  quant::ChannelStats scaled = range;
  std::vector<float> s(a.size());
  for (size_t j = 0; j < a.size(); ++j) {
    s[j] = std::max(1.0f, a[j] / t);
    scaled.min[j] /= s[j];
    scaled.max[j] /= s[j];
  }
  const quant::QuantParams one = quant::fit_params(per_tensor, scaled);
  quant::QuantParams p;
  p.spec = spec;
  p.spec.granularity = quant::Granularity::InputChannel;
  p.cols = int64_t(a.size());
  p.scale.resize(a.size());
  for (size_t j = 0; j < a.size(); ++j) p.scale[j] = s[j] * one.scale[0];
  if (!one.zero_point.empty()) p.zero_point.assign(a.size(), one.zero_point[0]);
  return p;
}

namespace {

// Candidates: quantiles of the positive channel ranges, increasing and distinct.
std::vector<float> threshold_grid(const std::vector<float>& a, int count) {
  std::vector<float> sorted;
  for (float v : a)
    if (v > 0) sorted.push_back(v);
  std::sort(sorted.begin(), sorted.end());
  std::vector<float> grid;
  if (sorted.empty()) return grid;
  const int n = std::max(2, std::min<int>(count, int(sorted.size())));
  for (int k = 0; k < n; ++k) {
    const float t = sorted[size_t(std::lround(double(k) * double(sorted.size() - 1) / (n - 1)))];
    if (grid.empty() || t > grid.back()) grid.push_back(t);
  }
  return grid;
}

// The t search on the site as it is now (`block`, `obs`).
ThresholdSearch search_threshold(const OsPlusOptions& options, const model::ModelConfig& c,
                                 const model::LayerWeights& block, const SiteObservation& obs,
                                 const SiteSpecs& spec) {
  const ActivationSite site = obs.site();
  const int first = options.first_windows;
  const std::vector<float> a = group_max(c, site, obs.absmax(first));
  const quant::ChannelStats range = group_ranges(c, site, obs.range(first));
  const SiteLoss loss = site == ActivationSite::AttnInput ? options.qkv_loss : default_loss(site);
  const SiteError error(c, block, site, obs.samples(), loss, spec.weights);
  ThresholdSearch search;
  search.site = site;
  search.thresholds = threshold_grid(a, options.candidates);
  for (float t : search.thresholds) {
    const double e = error(osplus_quantizer(spec.activations, range, a, t));
    search.errors.push_back(e);
    if (e < search.best_error) {
      search.best_error = e;
      search.best = t;
    }
  }
  return search;
}

}  // namespace

BlockInputs osplus_block(const OsPlusOptions& options, const model::ModelConfig& c, int layer,
                         model::LayerWeights& block, BlockObservation& observation,
                         const BlockSpecs& specs, std::vector<ThresholdSearch>* searches) {
  BlockInputs inputs;
  for (ActivationSite site : kFoldSites) {
    const size_t idx = size_t(fold_site_index(site));
    const SiteSpecs& spec = specs[idx];
    SiteObservation& obs = observation.at(site);
    SiteInput& input = inputs[idx];
    input.params.spec = spec.activations;
    if (!spec.is_static()) continue;  // float, or dynamic: nothing to fold
    if (site == ActivationSite::OProjInput && !options.migrate_o_proj) {
      input = fold_fitted_steps(c, layer, block, obs, spec.activations, obs.range());
      continue;
    }
    ThresholdSearch search = search_threshold(options, c, block, obs, spec);
    if (options.shift != OsPlusShift::Off && site != ActivationSite::DownProjInput) {
      // The channel centres, folded; with Auto kept only when the search then does better.
      const quant::ChannelStats r = group_ranges(c, site, obs.range(options.first_windows));
      std::vector<float> z(r.max.size());
      for (size_t j = 0; j < z.size(); ++j) z[j] = 0.5f * (r.min[j] + r.max[j]);
      model::LayerWeights shifted_block = block;
      SiteObservation shifted_obs = obs;
      fold_shift(c, layer, shifted_block, shifted_obs, z);
      ThresholdSearch shifted = search_threshold(options, c, shifted_block, shifted_obs, spec);
      if (options.shift == OsPlusShift::On || shifted.best_error < search.best_error) {
        shifted.shifted = true;
        search = std::move(shifted);
        block = std::move(shifted_block);
        obs = std::move(shifted_obs);
      }
    }
    if (search.thresholds.empty()) {  // an all-zero site: nothing to scale
      input = fold_fitted_steps(c, layer, block, obs, spec.activations, obs.range());
      continue;
    }
    const std::vector<float> a = group_max(c, site, obs.absmax(options.first_windows));
    std::vector<float> s(a.size());
    for (size_t j = 0; j < a.size(); ++j) s[j] = std::max(1.0f, a[j] / search.best);
    fold_scale(c, layer, block, obs, s);
    // The per-tensor quantizer of the scaled site, over every window.
    quant::QuantSpec per_tensor = spec.activations;
    per_tensor.granularity = quant::Granularity::Tensor;
    input = fold_fitted_steps(c, layer, block, obs, per_tensor, obs.range());
    if (searches) searches->push_back(std::move(search));
  }
  return inputs;
}

std::unique_ptr<Method> make_osplus(const nlohmann::json& h, const std::string& where) {
  check_hyperparameters(h, where, "osplus",
                        {"first_windows", "candidates", "shift", "migrate_o_proj", "qkv_loss",
                         "sample_tokens"});
  OsPlusOptions o;
  o.first_windows = int(integer_hyperparameter(h, where, "first_windows", 0, 0, 1 << 20));
  o.candidates = int(integer_hyperparameter(h, where, "candidates", o.candidates, 1, 10000));
  if (h.contains("shift")) {
    const nlohmann::json& v = h["shift"];
    if (v.is_boolean()) o.shift = v.get<bool>() ? OsPlusShift::On : OsPlusShift::Off;
    else if (v == "auto") o.shift = OsPlusShift::Auto;
    else fail("{}.shift: expected true, false or \"auto\", got {}", where, v.dump());
  }
  o.migrate_o_proj = bool_hyperparameter(h, where, "migrate_o_proj", o.migrate_o_proj);
  o.qkv_loss = string_hyperparameter(h, where, "qkv_loss", "attention", {"attention", "linear"}) ==
                       "attention"
                   ? SiteLoss::Attention
                   : SiteLoss::Linear;
  return make_folding_method("osplus", sample_tokens_hyperparameter(h, where),
                             [o](const model::ModelConfig& c, int layer, model::LayerWeights& block,
                                 BlockObservation& observation, const BlockSpecs& specs) {
                               return osplus_block(o, c, layer, block, observation, specs);
                             });
}

}  // namespace bitfold::methods
