#include "methods/outliertune.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "methods/folding_method.h"

namespace bitfold::methods {

using model::ActivationSite;

namespace {

bool norm_fed(ActivationSite site) {
  return site == ActivationSite::AttnInput || site == ActivationSite::MlpInput;
}

// Per o_proj input channel, the mean of its KV group's values (a shift must be uniform there).
std::vector<float> group_mean(const model::ModelConfig& c, ActivationSite site,
                              const std::vector<float>& v) {
  if (site != ActivationSite::OProjInput || c.group_size() == 1) return v;
  const int G = c.group_size(), hd = c.head_dim;
  std::vector<float> out(v.size());
  for (int kvh = 0; kvh < c.n_kv_heads; ++kvh)
    for (int t = 0; t < hd; ++t) {
      double sum = 0;
      for (int h = kvh * G; h < (kvh + 1) * G; ++h) sum += v[size_t(h * hd + t)];
      for (int h = kvh * G; h < (kvh + 1) * G; ++h) out[size_t(h * hd + t)] = float(sum / G);
    }
  return out;
}

}  // namespace

BlockInputs outliertune_block(const OutlierTuneOptions& options, const model::ModelConfig& c,
                              int layer, model::LayerWeights& block, BlockObservation& observation,
                              const BlockSpecs& specs) {
  if (!(options.window_clip > 0 && options.window_clip <= 1))
    fail("outliertune: window_clip {} outside (0, 1]", options.window_clip);
  if (!(options.shift_threshold >= 0 && options.shift_threshold < 1))
    fail("outliertune: shift_threshold {} outside [0, 1)", options.shift_threshold);
  BlockInputs inputs;
  for (ActivationSite site : kFoldSites) {
    const size_t idx = size_t(fold_site_index(site));
    const SiteSpecs& spec = specs[idx];
    SiteObservation& obs = observation.at(site);
    SiteInput& input = inputs[idx];
    input.params.spec = spec.activations;
    if (!spec.is_static()) continue;
    if (!norm_fed(site) && !options.fully_static) {
      // The released code: per-token dynamic quantization of o_proj / down_proj inputs.
      input.params.spec.granularity = quant::Granularity::Token;
      input.params.spec.dynamic = true;
      continue;
    }
    if (options.symmetrize && site != ActivationSite::DownProjInput) {
      std::vector<float> z = group_mean(c, site, obs.mean_midpoint());
      float zmax = 0;
      for (float v : z) zmax = std::max(zmax, std::fabs(v));
      for (float& v : z)
        if (std::fabs(v) < options.shift_threshold * zmax) v = 0;
      fold_shift(c, layer, block, obs, z);
    }
    // The released code clips only the statistics of its static (norm-fed) sites; the static
    // variant's o_proj / down_proj steps cover their whole range (down_proj's outlier channels
    // are what a clip there would cut).
    const float clip = norm_fed(site) ? options.window_clip : 1.0f;
    input =
        fold_fitted_steps(c, layer, block, obs, spec.activations, obs.window_clipped_range(clip));
  }
  return inputs;
}

std::unique_ptr<Method> make_outliertune(const nlohmann::json& h, const std::string& where) {
  check_hyperparameters(h, where, "outliertune",
                        {"variant", "window_clip", "symmetrize", "shift_threshold"});
  OutlierTuneOptions o;
  o.fully_static =
      string_hyperparameter(h, where, "variant", "faithful", {"faithful", "static"}) == "static";
  o.window_clip = float(number_hyperparameter(h, where, "window_clip", o.window_clip, 1e-6, 1));
  o.symmetrize = bool_hyperparameter(h, where, "symmetrize", o.symmetrize);
  o.shift_threshold =
      float(number_hyperparameter(h, where, "shift_threshold", o.shift_threshold, 0, 0.999999));
  const int64_t sample_tokens = 1;  // statistics only: no samples needed
  return make_folding_method("outliertune", sample_tokens,
                             [o](const model::ModelConfig& c, int layer, model::LayerWeights& block,
                                 BlockObservation& observation, const BlockSpecs& specs) {
                               return outliertune_block(o, c, layer, block, observation, specs);
                             });
}

}  // namespace bitfold::methods
