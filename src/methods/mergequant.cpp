#include "methods/mergequant.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "core/error.h"
#include "methods/folding_method.h"
#include "methods/weight_rounding.h"
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
  if (!(options.clip_tolerance >= 0)) fail("mergequant: clip_tolerance {} < 0", options.clip_tolerance);
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
      best = std::min(best, e);
    }
    // The argmin, unless the least clipping of the grid is within the tolerance of it: a clip
    // must pay for the unseen tails it cuts.
    size_t argmin = 0, least = 0;
    for (size_t i = 0; i < options.clip_ratios.size(); ++i) {
      if (search.errors[i] < search.errors[argmin]) argmin = i;
      if (options.clip_ratios[i] > options.clip_ratios[least]) least = i;
    }
    search.best_ratio = search.errors[least] <= (1 + options.clip_tolerance) * best
                            ? options.clip_ratios[least]
                            : options.clip_ratios[argmin];
    // 3. QSM.
    quant::QuantSpec chosen = spec.activations;
    chosen.clip = search.best_ratio;
    input = fold_fitted_steps(c, layer, block, obs, chosen, range);
    if (searches) searches->push_back(std::move(search));
  }
  return inputs;
}

namespace {

class MergeQuant final : public FoldingMethod {
 public:
  MergeQuant(const MergeQuantOptions& options, int64_t sample_tokens)
      : FoldingMethod(sample_tokens), options_(options) {}
  std::string_view name() const override { return "mergequant"; }

  // Per-row weight clip on the site's rounded activations, then the optional low-rank path.
  std::shared_ptr<const quant::QuantizedLinear> quantize_linear(
      BlockContext& ctx, const LinearSlot& slot, const quant::QuantParams& input) override {
    const bool fold_site = slot.site != model::ActivationSite::LmHeadInput;
    const quant::QuantSpec& ws = slot.spec.weights;
    const bool clip = !options_.weight_clip_ratios.empty() &&
                      ws.granularity == quant::Granularity::OutputChannel;
    if (!fold_site || (!clip && options_.low_rank == 0))
      return Method::quantize_linear(ctx, slot, input);
    const SiteObservation& obs = observation().at(slot.site);
    const bool round_inputs = input.spec.quantized() && !input.spec.dynamic;
    const Tensor gram = input_gram(obs.samples(), round_inputs ? &input : nullptr);
    const Tensor w = quant::pre_execute_input_steps(slot.linear->weight, input);
    const quant::QuantParams wp = clip ? search_row_clip(w, ws, gram, options_.weight_clip_ratios)
                                       : quant::fit_params(ws, w);
    auto q = std::make_shared<const quant::QuantizedLinear>(input, wp, quant::quantize(w, wp),
                                                            slot.linear->bias, slot.name);
    if (options_.low_rank > 0) {
      const Tensor rounded = quant::fake_quantize(w, wp);
      Tensor e = Tensor::empty(w.shape(), DType::F32);
      for (int64_t i = 0; i < e.numel(); ++i) e.f32()[i] = w.f32()[i] - rounded.f32()[i];
      const int rank = int(std::min<int64_t>(options_.low_rank, std::min(w.dim(0), w.dim(1))));
      // Fitted on the unrounded inputs: the side path reads the same x as the GEMM's producer.
      const LowRank lr = fit_low_rank(e, input_gram(obs.samples()), rank);
      slot.linear->low_rank_a = lr.a;
      slot.linear->low_rank_b = lr.b;
    }
    return q;
  }

 protected:
  BlockInputs fold(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                   BlockObservation& observation, const BlockSpecs& specs) override {
    MergeQuantOptions o = options_;
    // A split changes K: with per-group weights the groups would no longer tile it.
    for (const SiteSpecs& s : specs)
      for (const quant::QuantSpec& w : s.weights)
        if (w.granularity == quant::Granularity::Group) o.split_budget = 0;
    return mergequant_block(o, c, layer, block, observation, specs);
  }

 private:
  MergeQuantOptions options_;
};

}  // namespace

std::unique_ptr<Method> make_mergequant(const nlohmann::json& h, const std::string& where) {
  check_hyperparameters(h, where, "mergequant",
                        {"split_budget", "split_percentile", "clip_ratios", "clip_tolerance",
                         "weight_clip_ratios", "low_rank", "shift", "qkv_loss", "sample_tokens"});
  MergeQuantOptions o;
  o.split_budget = number_hyperparameter(h, where, "split_budget", o.split_budget, 0, 10);
  o.split_percentile =
      number_hyperparameter(h, where, "split_percentile", o.split_percentile, 1e-6, 1);
  o.clip_ratios = ratios_hyperparameter(h, where, "clip_ratios", o.clip_ratios, false);
  o.clip_tolerance = number_hyperparameter(h, where, "clip_tolerance", o.clip_tolerance, 0, 10);
  o.weight_clip_ratios =
      ratios_hyperparameter(h, where, "weight_clip_ratios", o.weight_clip_ratios, true);
  o.low_rank = int(integer_hyperparameter(h, where, "low_rank", 0, 0, 4096));
  o.shift = bool_hyperparameter(h, where, "shift", o.shift);
  o.qkv_loss = string_hyperparameter(h, where, "qkv_loss", "attention", {"attention", "linear"}) ==
                       "attention"
                   ? SiteLoss::Attention
                   : SiteLoss::Linear;
  return std::make_unique<MergeQuant>(o, sample_tokens_hyperparameter(h, where));
}

}  // namespace bitfold::methods
