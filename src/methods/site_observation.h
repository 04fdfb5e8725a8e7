#pragma once
// What the fold sites of one block saw over the calibration windows, in the form the folding
// methods need: per window and channel the min and max (from which every statistic of
// methods-reference §8.2 derives: global ranges, the first batch's ranges (OS+), the mean of
// per-sequence midpoints (OutlierTune), per-sequence-clipped maxima (OutlierTune's Llama code)),
// plus the activations themselves of the first windows, for output-error searches.
//
// Observations follow the folds: shift / divide / split change them exactly as the fold changes
// the site (transform/fold.h), so a method can fold site after site without running the block
// again.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama.h"
#include "quant/quantizer.h"

namespace bitfold::methods {

// The four linear-input sites of a block, in forward order.
inline constexpr std::array<model::ActivationSite, 4> kFoldSites = {
    model::ActivationSite::AttnInput, model::ActivationSite::OProjInput,
    model::ActivationSite::MlpInput, model::ActivationSite::DownProjInput};
// Index of a fold site in kFoldSites (0..3).
int fold_site_index(model::ActivationSite site);

class SiteObservation {
 public:
  SiteObservation() = default;
  explicit SiteObservation(model::ActivationSite site, int64_t sample_tokens)
      : site_(site), sample_budget_(sample_tokens) {}

  // Adds one window's tensor x [T, K] of the site: its channel ranges, and a copy while the
  // sample budget lasts. A non-finite value is an error naming the layer, site, token, channel.
  void add_window(const Tensor& x, int layer);

  model::ActivationSite site() const { return site_; }
  int64_t channels() const { return int64_t(window_min_.empty() ? 0 : window_min_[0].size()); }
  int windows() const { return int(window_min_.size()); }
  int64_t tokens() const { return tokens_; }
  // The kept activations: the first windows, [T, K] each, in the site's current units.
  const std::vector<Tensor>& samples() const { return samples_; }

  // Per-channel min / max over every window, or over the first `first_windows` (0: all).
  quant::ChannelStats range(int first_windows = 0) const;
  // max(|min|, |max|) per channel of range().
  std::vector<float> absmax(int first_windows = 0) const;
  // Mean over windows of each window's channel midpoint (max_t + min_t) / 2 (OutlierTune).
  std::vector<float> mean_midpoint() const;
  // Per-channel min / max over windows after clamping each window to `ratio` × that window's own
  // tensor-wide [min, max] (OutlierTune's Llama calibration, ratio 0.8; 1: range()).
  quant::ChannelStats window_clipped_range(float ratio) const;

  // The observation of the folded site (transform/fold.h), per channel of the site:
  void shift(std::span<const float> z);         // x − z
  void divide(std::span<const float> s);        // x / s, s > 0
  void split(std::span<const int> multiplicities);  // replicas x_k / n_k appended

 private:
  model::ActivationSite site_ = model::ActivationSite::AttnInput;
  int64_t sample_budget_ = 0;
  int64_t tokens_ = 0;
  std::vector<std::vector<float>> window_min_, window_max_;  // [window][channel]
  std::vector<Tensor> samples_;
};

// The four sites of one block.
struct BlockObservation {
  int layer = 0;
  std::array<SiteObservation, 4> sites;

  SiteObservation& at(model::ActivationSite site) { return sites[size_t(fold_site_index(site))]; }
  const SiteObservation& at(model::ActivationSite site) const {
    return sites[size_t(fold_site_index(site))];
  }
  // A hook recording every fold site of `layer` (others pass through untouched).
  model::ActivationHook hook();
};

// Runs `block` (as layer `layer`) on each window's block input [L, dim] at positions 0..L−1 and
// observes its fold sites, keeping up to `sample_tokens` tokens of activations per site. When
// `outputs` is given it receives the block outputs (the next block's inputs).
BlockObservation observe_block(const model::ModelConfig& config, const model::LayerWeights& block,
                               int layer, const std::vector<Tensor>& inputs,
                               int64_t sample_tokens, std::vector<Tensor>* outputs = nullptr);

}  // namespace bitfold::methods
