#include "methods/osplus.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bitfold::methods {

using model::ActivationSite;

namespace {

// OS+'s quantizer for threshold t, as per-channel params in the site's units: scale
// s_j = max(1, a_j / t), then one per-tensor quantizer fitted on the scaled ranges.
quant::QuantParams composite_params(const quant::QuantSpec& spec, const quant::ChannelStats& range,
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

SiteInput static_rtn(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                     SiteObservation& obs, const quant::QuantSpec& spec) {
  return fold_input_steps(c, layer, block, obs, fit_site_steps(c, obs.site(), spec, obs.range()));
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
      input = static_rtn(c, layer, block, obs, spec.activations);
      continue;
    }
    const int first = options.first_windows;
    if (options.shift && site != ActivationSite::DownProjInput) {
      const quant::ChannelStats r = group_ranges(c, site, obs.range(first));
      std::vector<float> z(r.max.size());
      for (size_t j = 0; j < z.size(); ++j) z[j] = 0.5f * (r.min[j] + r.max[j]);
      fold_shift(c, layer, block, obs, z);
    }
    const std::vector<float> a = group_max(c, site, obs.absmax(first));
    const quant::ChannelStats range = group_ranges(c, site, obs.range(first));
    const SiteLoss loss = site == ActivationSite::AttnInput ? options.qkv_loss : default_loss(site);
    const SiteError error(c, block, site, obs.samples(), loss, spec.weights);
    ThresholdSearch search;
    search.site = site;
    search.thresholds = threshold_grid(a, options.candidates);
    double best = INFINITY;
    for (float t : search.thresholds) {
      const double e = error(composite_params(spec.activations, range, a, t));
      search.errors.push_back(e);
      if (e < best) {
        best = e;
        search.best = t;
      }
    }
    if (search.thresholds.empty()) {  // an all-zero site: nothing to scale
      input = static_rtn(c, layer, block, obs, spec.activations);
      continue;
    }
    std::vector<float> s(a.size());
    for (size_t j = 0; j < a.size(); ++j) s[j] = std::max(1.0f, a[j] / search.best);
    fold_scale(c, layer, block, obs, s);
    // The per-tensor quantizer of the scaled site, over every window.
    quant::QuantSpec per_tensor = spec.activations;
    per_tensor.granularity = quant::Granularity::Tensor;
    input = fold_input_steps(c, layer, block, obs, fit_site_steps(c, site, per_tensor, obs.range()));
    if (searches) searches->push_back(std::move(search));
  }
  return inputs;
}

}  // namespace bitfold::methods
