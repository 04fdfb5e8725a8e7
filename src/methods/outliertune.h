#pragma once
// OutlierTune (Wang et al., arXiv 2406.18832; methods-reference §2) on one block: per-channel
// static activation quantization with the dequantization pre-executed into the weights, after
// symmetrization.
//
//   symmetrize  z_j = mean over calibration sequences of the sequence's channel midpoint
//               (max_t + min_t) / 2 — the released code's statistic — folded as a shift (norm bias;
//               v bias at o_proj). Channels with |z_j| < τ·max|z| keep z_j = 0 (the code's τ).
//   steps       Δ_j = a_j / qmax with a_j the channel's max |x − z| — at the norm-fed sites after
//               clamping every sequence to `window_clip` × its own tensor-wide extremes (the Llama
//               code: 0.8) — folded into the producer (QSM = pre-executed dequantization): the
//               consumers round only.
//
// Two variants: `faithful` (the released code) is static per channel only at the norm-fed sites
// (q/k/v, gate/up) and quantizes o_proj / down_proj inputs per token at run time (dynamic, same
// format); `fully static` uses the same steps at o_proj (v rows, uniform per GQA group) and
// down_proj (up rows; no shift there — an asymmetric grid's zero-point instead).
#include <memory>

#include "methods/folding.h"
#include "methods/method.h"

namespace bitfold::methods {

struct OutlierTuneOptions {
  bool fully_static = false;  // false: the released code's per-token o_proj / down_proj inputs
  float window_clip = 0.8f;   // 1: no clamp
  bool symmetrize = true;
  float shift_threshold = 0;  // τ ∈ [0, 1)
};

BlockInputs outliertune_block(const OutlierTuneOptions& options, const model::ModelConfig& config,
                              int layer, model::LayerWeights& block, BlockObservation& observation,
                              const BlockSpecs& specs);

// The method for recipes (registry.cpp). Hyperparameters: "variant" ("faithful" | "static"),
// "window_clip", "symmetrize", "shift_threshold".
std::unique_ptr<Method> make_outliertune(const nlohmann::json& hyperparameters,
                                         const std::string& where);

}  // namespace bitfold::methods
