#pragma once
// What the folding methods (OS+, OutlierTune, MergeQuant) share: the recipe's specs per fold site,
// fitting static steps on a site's ranges (uniform within GQA groups at o_proj's input), and
// QSM — folding a static input quantizer's steps into the block, which leaves the consumers an
// input quantizer of step 1: rounding only, no scaling op at run time (docs/methods.md).
#include <array>
#include <span>
#include <vector>

#include "methods/site_observation.h"
#include "model/llama.h"
#include "quant/quantizer.h"
#include "quant/recipe.h"

namespace bitfold::methods {

// The recipe's specs at one fold site: its activation spec (the consumers must agree) and each
// consumer's weight spec, in site_consumers order.
struct SiteSpecs {
  quant::QuantSpec activations;
  std::vector<quant::QuantSpec> weights;
  bool quantized() const { return activations.quantized(); }
  bool is_static() const { return activations.quantized() && !activations.dynamic; }
};
using BlockSpecs = std::array<SiteSpecs, 4>;  // indexed like kFoldSites

// "model.layers.3.self_attn.q_proj" ...
std::string linear_full_name(int layer, std::string_view local);
// Throws when the consumers of one site have different activation specs (q/k/v, gate/up share
// one input and one producer).
BlockSpecs block_specs(const quant::Recipe& recipe, int layer, const model::LayerWeights& block);

// The consumers' activation quantizer at a site after a method's folds.
struct SiteInput {
  quant::QuantParams params;  // static (fitted, or step 1 when folded) or a dynamic spec
  bool folded = false;        // the steps live in the producer: every step is 1
};
using BlockInputs = std::array<SiteInput, 4>;

// At o_proj's input the channels of one KV group read one v channel: the union of their ranges
// (min of mins, max of maxes), given back per o_proj input channel. Other sites: unchanged.
quant::ChannelStats group_ranges(const model::ModelConfig& config, model::ActivationSite site,
                                 const quant::ChannelStats& ranges);
// Static steps of `spec` (Tensor or InputChannel granularity) fitted on the site's ranges (made
// uniform within GQA groups at o_proj's input), as InputChannel params with one step per channel.
quant::QuantParams fit_site_steps(const model::ModelConfig& config, model::ActivationSite site,
                                  const quant::QuantSpec& spec, const quant::ChannelStats& ranges);

// QSM: folds the steps of `input` (InputChannel, one per channel of the site) into the block
// (transform::fold_step) and the observation; returns the step-1 quantizer the consumers keep
// (zero-points of asymmetric grids stay: the integer engine makes them a bias).
SiteInput fold_input_steps(const model::ModelConfig& config, int layer, model::LayerWeights& block,
                           SiteObservation& observation, const quant::QuantParams& input);
// fit_site_steps then fold_input_steps: how every folding method ends a static site once it has
// chosen the ranges (global, window-clipped) and the spec (clip, granularity) of its steps.
SiteInput fold_fitted_steps(const model::ModelConfig& config, int layer, model::LayerWeights& block,
                            SiteObservation& observation, const quant::QuantSpec& spec,
                            const quant::ChannelStats& ranges);

// A channel shift folded into the block (transform::shift_site) and the observation. At o_proj's
// input `z` is per o_proj input channel and must be equal within each KV group.
void fold_shift(const model::ModelConfig& config, int layer, model::LayerWeights& block,
                SiteObservation& observation, std::span<const float> z);
// A channel scale folded the same way (x / s); at o_proj's input equal within each KV group.
void fold_scale(const model::ModelConfig& config, int layer, model::LayerWeights& block,
                SiteObservation& observation, std::span<const float> s);

// Per o_proj input channel, the value of its KV group (max over the group's channels).
std::vector<float> group_max(const model::ModelConfig& config, model::ActivationSite site,
                             std::span<const float> per_channel);

// True when every step is 1 and the quantizer is static: nothing but rounding at run time.
bool is_folded_quantizer(const quant::QuantParams& params);

}  // namespace bitfold::methods
