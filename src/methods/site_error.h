#pragma once
// The quantized-output error of one fold site's consumers on calibration activations
// (methods-reference §8.4): the objective of OS+'s threshold search and MergeQuant's adaptive
// clipping. For a candidate input quantizer (static steps Δ, zero-points) the consumers run as the
// integer engine would — the input rounded on its grid, each weight pre-executed W·diag(Δ) and
// rounded with its own spec (round to nearest) — and their outputs are compared with the FP
// outputs on the same inputs:
//
//   error = Σ ‖ŷ − y‖² / Σ ‖y‖²    (relative MSE, summed over the consumers' outputs)
//
// What "the outputs" are is the loss:
//   Linear     each consumer's output (q, k, v concatenated; o_proj; down_proj)
//   SiluMul    SiLU(gate) ⊙ up (gate/up)
//   Attention  softmax(RoPE(q) RoPE(k)ᵀ / √d) v per window, causal, GQA (OS+'s q/k/v objective)
#include <cstdint>
#include <vector>

#include "model/llama.h"
#include "quant/quantizer.h"

namespace bitfold::methods {

enum class SiteLoss : uint8_t { Linear, SiluMul, Attention };

// Attention at attn_input (what OS+ uses), SiLU·mul at mlp_input, the linear elsewhere.
SiteLoss default_loss(model::ActivationSite site);
// The consumers of a fold site in `block`: q, k, v | o | gate, up | down.
std::vector<const model::Linear*> site_consumers(const model::LayerWeights& block,
                                                 model::ActivationSite site);

class SiteError {
 public:
  // block: the FP block as folded so far; samples: the site's activations per window ([T, K],
  // positions 0..T−1) in the block's current units; weight_specs: one per consumer, in the order
  // of site_consumers (fp16: the consumer's weight is not rounded).
  SiteError(const model::ModelConfig& config, const model::LayerWeights& block,
            model::ActivationSite site, std::vector<Tensor> samples, SiteLoss loss,
            std::vector<quant::QuantSpec> weight_specs);

  // The relative error with the input quantized by `input` (static: Tensor or InputChannel steps
  // fitted for K columns) and each consumer's weight rounded to nearest on W·diag(Δ).
  double operator()(const quant::QuantParams& input) const;
  // The same with given weights for the consumers (already rounded, real units, [N, K] each):
  // e.g. a per-row weight clip; `input` still rounds the activations.
  double with_weights(const quant::QuantParams& input, const std::vector<Tensor>& weights) const;

  // Each consumer's weight rounded to nearest after pre-executing the input's steps, in real
  // units: Q(W·diag(Δ))·diag(Δ)⁻¹.
  std::vector<Tensor> rounded_weights(const quant::QuantParams& input) const;

  int64_t tokens() const;
  model::ActivationSite site() const { return site_; }

 private:
  std::vector<Tensor> outputs(const Tensor& x, const std::vector<Tensor>& weights) const;

  model::ModelConfig config_;
  model::ActivationSite site_;
  SiteLoss loss_;
  std::vector<model::Linear> consumers_;
  std::vector<quant::QuantSpec> weight_specs_;
  std::vector<Tensor> samples_;
  std::vector<std::vector<Tensor>> reference_;  // FP outputs per window
  double reference_energy_ = 0;
  ops::RopeTable rope_;
};

}  // namespace bitfold::methods
