#pragma once
// MergeQuant (Wang et al., arXiv 2503.07654; methods-reference §1) on one block: static
// per-channel activation quantization at all four linear inputs, with the steps migrated into
// the producers (QSM) so that nothing but rounding runs around the GEMMs. The paper's text beyond
// its abstract is not available; the construction below is bitfold's reading (docs/methods.md).
//
// Per site, in order:
//   1. dimensional reconstruction (q/k/v, gate/up, down inputs; not o_proj's, whose channels are
//      head dimensions): QSM puts each channel's range a_j into weight column j, so a few wide
//      channels dominate every row's weight step. Channels wider than a target a* (the
//      `split_percentile` quantile of the ranges) are split into n_j replicas carrying x_j / n_j,
//      greedily (one replica at a time to the widest a_j / n_j) within a budget of
//      `split_budget`·K extra channels (transform::split_channels).
//   2. adaptive clipping: the activation steps Δ_j = ρ·a_j / qmax with ρ from `clip_ratios`
//      minimizing the consumers' quantized output error (site_error.h; q/k/v through attention,
//      gate/up through SiLU·mul), weights rounded under each candidate Δ.
//   3. QSM: Δ folded into the producer (γ / v rows / up rows) and the consumers' columns.
// After the block's folds, the weights are rounded per row with a clip searched per row on the
// site's rounded activations (weight_rounding.h), and optionally a rank-r correction is fitted.
#include <vector>

#include <memory>

#include "methods/folding.h"
#include "methods/method.h"
#include "methods/site_error.h"

namespace bitfold::methods {

struct MergeQuantOptions {
  double split_budget = 0.03;      // extra channels ≤ budget·K per site; 0: no reconstruction
  double split_percentile = 0.99;  // the target range a*: this quantile of the channel ranges
  std::vector<double> clip_ratios = {1.0,  0.95, 0.9,  0.85, 0.8,  0.75, 0.7, 0.65,
                                     0.6,  0.55, 0.5,  0.45, 0.4,  0.35, 0.3};
  // The argmin ratio wins unless the largest ratio (least clipping) is within (1 + tolerance) of
  // its error: the error is measured on the first sample_tokens tokens, and a static clip cuts
  // every unseen tail too (at W8A8 on pyshakes-57m the plain argmin, ρ = 0.95 almost everywhere,
  // made test KL 13 % worse than no clip; at W4A4 clipping pays several-fold).
  double clip_tolerance = 0.1;
  std::vector<double> weight_clip_ratios = {1.0,  0.975, 0.95, 0.925, 0.9, 0.875,
                                            0.85, 0.825, 0.8,  0.775, 0.75};  // empty: RTN
  int low_rank = 0;                // rank of the compensation; 0: none
  bool shift = false;              // fold channel centres first where foldable (OS+-style)
  SiteLoss qkv_loss = SiteLoss::Attention;
};

// The replicas of each channel (≥ 1): greedily one more to the channel with the largest
// a_j / n_j while that exceeds `target` and fewer than `budget` replicas were added.
std::vector<int> plan_split(const std::vector<float>& a, float target, int64_t budget);

struct ClipSearch {
  model::ActivationSite site;
  int64_t channels_added = 0;   // by reconstruction
  std::vector<double> errors;   // per clip ratio (MergeQuantOptions::clip_ratios)
  double best_ratio = 1;
};

BlockInputs mergequant_block(const MergeQuantOptions& options, const model::ModelConfig& config,
                             int layer, model::LayerWeights& block, BlockObservation& observation,
                             const BlockSpecs& specs, std::vector<ClipSearch>* searches = nullptr);

// The method for recipes (registry.cpp). Hyperparameters: "split_budget", "split_percentile",
// "clip_ratios", "clip_tolerance", "weight_clip_ratios" ([] = round to nearest), "low_rank",
// "shift", "qkv_loss", "sample_tokens".
std::unique_ptr<Method> make_mergequant(const nlohmann::json& hyperparameters,
                                        const std::string& where);

}  // namespace bitfold::methods
