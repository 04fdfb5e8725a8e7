#include "methods/mergequant.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "core/error.h"
#include "transform/fold.h"

namespace bitfold::methods {

using model::ActivationSite;

std::vector<int> plan_split(const std::vector<float>& a, float target, int64_t budget) {
  std::vector<int> n(a.size(), 1);
  using Entry = std::pair<float, size_t>;  // (a_j / n_j, j)
  std::priority_queue<Entry> widest;
  for (size_t j = 0; j < a.size(); ++j)
    if (a[j] > target) widest.push({a[j], j});
  for (int64_t added = 0; added < budget && !widest.empty(); ++added) {
    const auto [width, j] = widest.top();
    widest.pop();
    ++n[j];
    const float now = a[j] / float(n[j]);
    if (now > target) widest.push({now, j});
  }
  return n;
}

namespace {

float quantile(std::vector<float> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  return v[size_t(std::lround(pos))];
}

}  // namespace

BlockInputs mergequant_block(const MergeQuantOptions& options, const model::ModelConfig& c,
                             int layer, model::LayerWeights& block, BlockObservation& observation,
                             const BlockSpecs& specs, std::vector<ClipSearch>* searches) {
  if (!(options.split_budget >= 0)) fail("mergequant: split_budget {} < 0", options.split_budget);
  if (!(options.split_percentile > 0 && options.split_percentile <= 1))
    fail("mergequant: split_percentile {} outside (0, 1]", options.split_percentile);
  if (options.clip_ratios.empty()) fail("mergequant: no clip ratios");
  for (double r : options.clip_ratios)
    if (!(r > 0 && r <= 1)) fail("mergequant: clip ratio {} outside (0, 1]", r);
  BlockInputs inputs;
  for (ActivationSite site : kFoldSites) {
    const size_t idx = size_t(fold_site_index(site));
    const SiteSpecs& spec = specs[idx];
    SiteObservation& obs = observation.at(site);
    SiteInput& input = inputs[idx];
    input.params.spec = spec.activations;
    if (!spec.is_static()) continue;
    ClipSearch search;
    search.site = site;
    if (options.shift && site != ActivationSite::DownProjInput) {
      const quant::ChannelStats r = group_ranges(c, site, obs.range());
      std::vector<float> z(r.max.size());
      for (size_t j = 0; j < z.size(); ++j) z[j] = 0.5f * (r.min[j] + r.max[j]);
      fold_shift(c, layer, block, obs, z);
    }
    // 1. Dimensional reconstruction.
    if (options.split_budget > 0 && site != ActivationSite::OProjInput) {
      const std::vector<float> a = obs.absmax();
      const int64_t budget = int64_t(std::floor(options.split_budget * double(a.size())));
      const std::vector<int> n = plan_split(a, quantile(a, options.split_percentile), budget);
      const int64_t before = obs.channels();
      block = transform::split_channels(c, layer, block, site, n);
      obs.split(n);
      search.channels_added = obs.channels() - before;
    }
    // 2. Adaptive clipping of the activation steps.
    const SiteLoss loss = site == ActivationSite::AttnInput ? options.qkv_loss : default_loss(site);
    const SiteError error(c, block, site, obs.samples(), loss, spec.weights);
    const quant::ChannelStats range = obs.range();
    double best = INFINITY;
    for (double ratio : options.clip_ratios) {
      quant::QuantSpec clipped = spec.activations;
      clipped.clip = ratio;
      const double e = error(fit_site_steps(c, site, clipped, range));
      search.errors.push_back(e);
      if (e < best) {
        best = e;
        search.best_ratio = ratio;
      }
    }
    // 3. QSM.
    quant::QuantSpec chosen = spec.activations;
    chosen.clip = search.best_ratio;
    input = fold_input_steps(c, layer, block, obs, fit_site_steps(c, site, chosen, range));
    if (searches) searches->push_back(std::move(search));
  }
  return inputs;
}

}  // namespace bitfold::methods
