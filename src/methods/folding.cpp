#include "methods/folding.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "fmt/format.h"
#include "methods/site_error.h"
#include "transform/fold.h"

namespace bitfold::methods {

using model::ActivationSite;

namespace {

// The local names of a site's consumers, in site_consumers order.
std::vector<std::string_view> consumer_names(ActivationSite site) {
  switch (site) {
    case ActivationSite::AttnInput:
      return {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    case ActivationSite::OProjInput: return {"self_attn.o_proj"};
    case ActivationSite::MlpInput: return {"mlp.gate_proj", "mlp.up_proj"};
    case ActivationSite::DownProjInput: return {"mlp.down_proj"};
    default: break;
  }
  BITFOLD_CHECK(false, "{} is not a fold site", model::site_name(site));
  return {};
}

// o_proj input channel → its v channel.
int64_t kv_channel(const model::ModelConfig& c, int64_t q_channel) {
  const int64_t head = q_channel / c.head_dim, t = q_channel % c.head_dim;
  return (head / c.group_size()) * c.head_dim + t;
}

}  // namespace

std::string linear_full_name(int layer, std::string_view local) {
  return fmt::format("model.layers.{}.{}", layer, local);
}

BlockSpecs block_specs(const quant::Recipe& recipe, int layer, const model::LayerWeights& block) {
  BlockSpecs specs;
  for (ActivationSite site : kFoldSites) {
    SiteSpecs& s = specs[size_t(fold_site_index(site))];
    const auto consumers = site_consumers(block, site);
    const auto names = consumer_names(site);
    for (size_t c = 0; c < names.size(); ++c) {
      const std::string name = linear_full_name(layer, names[c]);
      const quant::LayerQuant lq = recipe.for_linear(name, consumers[c]->in_features());
      if (c == 0) {
        s.activations = lq.activations;
      } else if (!(lq.activations == s.activations)) {
        fail("{}: {} and {} read one activation ({}) but the recipe quantizes it as {} and {}",
             recipe.source, linear_full_name(layer, names[0]), name, model::site_name(site),
             quant::describe(s.activations), quant::describe(lq.activations));
      }
      s.weights.push_back(lq.weights);
    }
  }
  return specs;
}

quant::ChannelStats group_ranges(const model::ModelConfig& c, ActivationSite site,
                                 const quant::ChannelStats& ranges) {
  if (site != ActivationSite::OProjInput || c.group_size() == 1) return ranges;
  BITFOLD_CHECK(ranges.channels() == c.q_dim(), "o_proj input ranges of {} for q_dim {}",
                ranges.channels(), c.q_dim());
  std::vector<float> lo(size_t(c.kv_dim()), INFINITY), hi(size_t(c.kv_dim()), -INFINITY);
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) {
    const size_t g = size_t(kv_channel(c, ch));
    lo[g] = std::min(lo[g], ranges.min[size_t(ch)]);
    hi[g] = std::max(hi[g], ranges.max[size_t(ch)]);
  }
  quant::ChannelStats out;
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) {
    out.min.push_back(lo[size_t(kv_channel(c, ch))]);
    out.max.push_back(hi[size_t(kv_channel(c, ch))]);
  }
  return out;
}

std::vector<float> group_max(const model::ModelConfig& c, ActivationSite site,
                             std::span<const float> v) {
  std::vector<float> out(v.begin(), v.end());
  if (site != ActivationSite::OProjInput || c.group_size() == 1) return out;
  const std::vector<float> kv = transform::kv_group_max(c, v);
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) out[size_t(ch)] = kv[size_t(kv_channel(c, ch))];
  return out;
}

quant::QuantParams fit_site_steps(const model::ModelConfig& c, ActivationSite site,
                                  const quant::QuantSpec& spec, const quant::ChannelStats& ranges) {
  BITFOLD_CHECK(spec.quantized() && !spec.dynamic, "static steps for {}", quant::describe(spec));
  const quant::ChannelStats r = group_ranges(c, site, ranges);
  if (spec.granularity == quant::Granularity::InputChannel) return quant::fit_params(spec, r);
  BITFOLD_CHECK(spec.granularity == quant::Granularity::Tensor,
                "fold sites take static per-tensor or per-channel steps, not {}",
                quant::describe(spec));
  const quant::QuantParams one = quant::fit_params(spec, r);
  quant::QuantParams p;
  p.spec = spec;
  p.spec.granularity = quant::Granularity::InputChannel;
  p.cols = r.channels();
  p.scale.assign(size_t(p.cols), one.scale[0]);
  if (!one.zero_point.empty()) p.zero_point.assign(size_t(p.cols), one.zero_point[0]);
  return p;
}

SiteInput fold_input_steps(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                           SiteObservation& observation, const quant::QuantParams& input) {
  BITFOLD_CHECK(input.spec.granularity == quant::Granularity::InputChannel && !input.spec.dynamic &&
                    input.cols == observation.channels(),
                "fold_input_steps: {} for {} channels", quant::describe(input.spec),
                observation.channels());
  block = transform::fold_step(c, layer, block, observation.site(), input.scale);
  observation.divide(input.scale);
  SiteInput folded;
  folded.params = input;
  folded.params.scale.assign(input.scale.size(), 1.0f);
  folded.folded = true;
  return folded;
}

SiteInput fold_fitted_steps(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                            SiteObservation& observation, const quant::QuantSpec& spec,
                            const quant::ChannelStats& ranges) {
  return fold_input_steps(c, layer, block, observation,
                          fit_site_steps(c, observation.site(), spec, ranges));
}

void fold_shift(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                SiteObservation& observation, std::span<const float> z) {
  block = transform::shift_site(c, layer, block, observation.site(), z);
  observation.shift(z);
}

void fold_scale(const model::ModelConfig& c, int layer, model::LayerWeights& block,
                SiteObservation& observation, std::span<const float> s) {
  block = transform::scale_site(c, layer, block, observation.site(), s);
  observation.divide(s);
}

bool is_folded_quantizer(const quant::QuantParams& p) {
  if (!p.spec.quantized() || p.spec.dynamic) return false;
  return std::all_of(p.scale.begin(), p.scale.end(), [](float s) { return s == 1.0f; });
}

}  // namespace bitfold::methods
