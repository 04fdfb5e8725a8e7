#pragma once
// Outlier Suppression+ (Wei et al., arXiv 2304.09145; methods-reference §3) on one block, for
// static activation quantization:
//
//   shift   z_j = (max_j + min_j) / 2, the channel centre, folded (norm bias; v bias at o_proj).
//           Not at down_proj (not foldable): an asymmetric grid's zero-point does it there. By
//           default ("auto") the t search runs with and without the shift and the site keeps the
//           better (the official Llama code never shifts; the paper always does).
//   scale   s_j = max(1, a_j / t), a_j = max_t |x_tj − z_j|, folded (γ; v rows; up rows).
//   t       a 1-D search minimizing the consumers' quantized output error (site_error.h): q/k/v
//           through attention, gate/up through SiLU·mul, o/down linear.
//
// The quantizer OS+ pairs with its scaling is per tensor with range t: after s every channel lies
// in [−t, t]. Folded, scale and step make a per-channel static quantizer with steps
// Δ_j = s_j · t / qmax = max(a_j, t) / qmax — channels above t keep their own range (the weights
// absorb them), channels below t share the step of t. That is what bitfold runs for a recipe's
// static per-tensor or per-channel activations alike: a plain per-channel quantizer
// (Δ_j = a_j / qmax) is invariant under any channel scaling — W·diag(s)·diag(Δ/s) = W·diag(Δ) —
// so OS+'s scale would be a no-op there. The t grid is the quantiles of a: its smallest
// candidate is that per-channel quantizer, its largest the per-tensor one.
#include <cmath>
#include <cstdint>
#include <vector>

#include <memory>

#include "methods/folding.h"
#include "methods/method.h"
#include "methods/site_error.h"

namespace bitfold::methods {

enum class OsPlusShift : uint8_t { Off, On, Auto };

struct OsPlusOptions {
  // Shift, scale and search from the first windows only (the official code's first batch); the
  // final steps still cover every window. 0: every window (bitfold's default).
  int first_windows = 0;
  int candidates = 40;        // thresholds searched per site
  OsPlusShift shift = OsPlusShift::Auto;  // fold channel centres where foldable
  bool migrate_o_proj = true; // o_proj's input too (bitfold's extension; the official code: no)
  SiteLoss qkv_loss = SiteLoss::Attention;  // or Linear: the three outputs, cheaper
};

// OS+'s quantizer for threshold t, in the site's units: the scale s_j = max(1, a_j / t) and one
// per-tensor quantizer of `spec`'s format fitted on the scaled ranges, composed into per-channel
// steps s_j·Δ (and the per-tensor zero-point). a: per-channel max |x| of `range`.
quant::QuantParams osplus_quantizer(const quant::QuantSpec& spec, const quant::ChannelStats& range,
                                    const std::vector<float>& a, float t);

// One site's search, for reports and tests.
struct ThresholdSearch {
  model::ActivationSite site;
  std::vector<float> thresholds;  // candidates, increasing
  std::vector<double> errors;     // relative output error of each
  float best = 0;                 // the chosen t
  double best_error = INFINITY;   // its error
  bool shifted = false;           // the site was shifted first
};

// OS+ on one block: folds shifts and scales into `block` (and `observation`), then the static
// steps (QSM). Returns each site's input quantizer (step 1 where folded; dynamic or float sites
// as the recipe says). `searches` receives one entry per searched site.
BlockInputs osplus_block(const OsPlusOptions& options, const model::ModelConfig& config, int layer,
                         model::LayerWeights& block, BlockObservation& observation,
                         const BlockSpecs& specs, std::vector<ThresholdSearch>* searches = nullptr);

// The method for recipes (registry.cpp). Hyperparameters: "first_windows", "candidates",
// "shift", "migrate_o_proj", "qkv_loss" ("attention" | "linear"), "sample_tokens".
std::unique_ptr<Method> make_osplus(const nlohmann::json& hyperparameters, const std::string& where);

}  // namespace bitfold::methods
