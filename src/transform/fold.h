#pragma once
// Equivalent transforms folded into a Llama block's weights (methods-reference §0.1, §8.3): each
// changes what one activation site carries — scaled, shifted, put on a quantization grid, or with
// channels split — and changes its producer and consumers so that the block computes the same
// function. Nothing is added to the graph: the folds live in RMSNorm's γ (and the optional norm
// bias / channel map of LayerWeights), in linear weights and in linear biases.
//
// Sites are the activation sites of the forward (model/llama.h) that a per-channel factor can be
// folded across:
//   AttnInput      RMSNorm₁ → q_proj, k_proj, v_proj
//   MlpInput       RMSNorm₂ → gate_proj, up_proj
//   OProjInput     v_proj rows → (attention) → o_proj
//   DownProjInput  up_proj rows → (SiLU(gate) ⊙ ·) → down_proj
//
// Every fold comes in two forms: on one block (`config`, `layer` for messages, the block) — what a
// method's per-block transform calls — and on a whole model (the block `layer` of it). Both are
// pure: they return the block / model with the changed tensors freshly allocated and every other
// tensor shared with the input (which may be a read-only mapping of a checkpoint).
// Vectors are indexed by the site's channels; errors (wrong length, a factor that is not finite
// and positive, a fold that is not exact at that site) are bitfold::Error naming layer and site.
#include <span>
#include <vector>

#include "model/llama.h"
#include "model/weights.h"

namespace bitfold::transform {

using model::ActivationSite;
using model::LayerWeights;
using model::LlamaWeights;
using model::ModelConfig;

// Channels of the site's tensor: the width the consumers read (after any channel split).
int64_t site_channels(const LayerWeights& block, int layer, ActivationSite site);
int64_t site_channels(const LlamaWeights& weights, int layer, ActivationSite site);

// Equivalent scaling, X Wᵀ = (X diag(s)⁻¹)(W diag(s))ᵀ: the site then carries X / s.
//   AttnInput / MlpInput: γ ← γ / s (and the norm bias β ← β / s); q,k,v (gate,up) columns × s.
//   OProjInput: v_proj rows (and bias) ÷ s, o_proj columns × s. Attention mixes positions, not
//     channels, so it commutes with a per-channel factor; but with GQA one v channel feeds the
//     o_proj columns of every query head of its group, so s is given per v_proj output channel
//     (kv_dim entries), or per o_proj input channel (q_dim entries) equal across each group's
//     heads — kv_group_max makes it so.
//   DownProjInput: up_proj rows (and bias) ÷ s, down_proj columns × s: exact, since
//     SiLU(gate) ⊙ (u / s) = (SiLU(gate) ⊙ u) / s.
LayerWeights scale_site(const ModelConfig& config, int layer, const LayerWeights& block,
                        ActivationSite site, std::span<const float> s);
LlamaWeights scale_site(const LlamaWeights& weights, int layer, ActivationSite site,
                        std::span<const float> s);

// Equivalent shifting, X Wᵀ + b = (X − z) Wᵀ + (b + z Wᵀ): the site then carries X − z; the
// consumers' biases take z Wᵀ with their current weights (biases are created where absent).
//   AttnInput / MlpInput: the norm bias β ← β − z (RMSNorm has none; LayerWeights adds it).
//   OProjInput: v_proj bias −= z, o_proj bias += z Woᵀ: exact because every attention row is a
//     convex combination (Σ_j P_ij = 1), so P (V − z) = P V − z. z per v channel, as scale_site.
//   DownProjInput: an error — SiLU(g) ⊙ (u − z) ≠ SiLU(g) ⊙ u − z, nothing before down_proj can
//     subtract a constant. What to do instead: quantize down_proj's input asymmetrically (a
//     per-channel zero-point in the SiLU·mul → quantize producer), the zero-point's z Wᵀ being a
//     bias of the integer linear (docs/transforms.md).
LayerWeights shift_site(const ModelConfig& config, int layer, const LayerWeights& block,
                        ActivationSite site, std::span<const float> z);
LlamaWeights shift_site(const LlamaWeights& weights, int layer, ActivationSite site,
                        std::span<const float> z);

// Quantization Step Migration (MergeQuant's QSM; OutlierTune's pre-executed dequantization):
// the static per-channel activation step Δ folded like a scale — 1/Δ into the producer, Δ into
// the consumer columns — so the site then carries X / Δ, values on the integer grid up to the
// rounding the producer does; no quantize or dequantize op remains around the GEMM.
LayerWeights fold_step(const ModelConfig& config, int layer, const LayerWeights& block,
                       ActivationSite site, std::span<const float> step);
LlamaWeights fold_step(const LlamaWeights& weights, int layer, ActivationSite site,
                       std::span<const float> step);

// Dimensional reconstruction: channel k becomes multiplicities[k] ≥ 1 channels, each carrying
// x_k / n_k, the consumer's column k repeated into each. Channel k keeps its index; its n_k − 1
// replicas are appended after the existing channels, in channel order (so K' = K + Σ(n_k − 1)).
//   AttnInput / MlpInput: the norm's channel map (LayerWeights::attn_norm_channels) repeats the
//     source channel; γ and β of a replica are γ_k / n_k, β_k / n_k.
//   DownProjInput: gate_proj rows repeated, up_proj rows repeated and ÷ n_k (the product
//     SiLU(g_k) ⊙ u_k / n_k summed over the replicas is exact), down_proj columns repeated.
//   OProjInput: an error — v's channels are attention head dimensions shared with q and k.
LayerWeights split_channels(const ModelConfig& config, int layer, const LayerWeights& block,
                            ActivationSite site, std::span<const int> multiplicities);
LlamaWeights split_channels(const LlamaWeights& weights, int layer, ActivationSite site,
                            std::span<const int> multiplicities);

// q ↔ k scaling: q_proj rows ÷ s, k_proj rows × s (biases too), so q·kᵀ is unchanged — exact
// through RoPE only when s is equal on the two channels it rotates together (t and t + d/2 of a
// head, rotate-half layout). s has kv_dim entries (one per k channel; a q channel takes its KV
// head's), and must be so tied: tie_rope_pairs makes it so.
LayerWeights scale_qk(const ModelConfig& config, int layer, const LayerWeights& block,
                      std::span<const float> s);
LlamaWeights scale_qk(const LlamaWeights& weights, int layer, std::span<const float> s);

// Per o_proj input channel (q_dim) → per v channel (kv_dim): the max over the query heads that
// share each KV head (the scale that keeps every head's channel within range).
std::vector<float> kv_group_max(const model::ModelConfig& config, std::span<const float> per_q);
// s (kv_dim) with each RoPE pair (t, t + head_dim/2) set to the larger of the two.
std::vector<float> tie_rope_pairs(const model::ModelConfig& config, std::span<const float> s);

}  // namespace bitfold::transform
