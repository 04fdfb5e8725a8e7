#pragma once
// The Llama decoder forward pass: the F32 reference every quantized variant is measured against.
// Written on ops.h, so the same code runs on the CPU or the GPU (all tensors on one device).
//
//   x₀ = Embed(tokens)
//   per block ℓ:  h = x + W_o · Attn(RoPE(W_q n₁), RoPE(W_k n₁), W_v n₁),  n₁ = RMSNorm(x; γ₁)
//                 x = h + W_down (SiLU(W_gate n₂) ⊙ W_up n₂),              n₂ = RMSNorm(h; γ₂)
//   logits = W_lm · RMSNorm(x_L; γ_f)
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/weights.h"
#include "ops/ops.h"

namespace bitfold::model {

// Places where the forward pass shows an activation to a hook: each tensor just before it enters
// its linear layer(s) (what activation quantization quantizes, and where per-channel scales are
// folded), plus the residual stream at block boundaries (what block-wise calibration streams).
enum class ActivationSite : uint8_t {
  BlockInput,     // x [T, dim] entering block `layer`
  AttnInput,      // RMSNorm₁(x) [T, dim] → q_proj, k_proj, v_proj
  OProjInput,     // attention output [T, n_heads·head_dim] → o_proj
  MlpInput,       // RMSNorm₂(h) [T, dim] → gate_proj, up_proj
  DownProjInput,  // SiLU(gate) ⊙ up [T, hidden_dim] → down_proj
  BlockOutput,    // x [T, dim] leaving block `layer`
  LmHeadInput,    // final RMSNorm output [rows, dim] → lm_head; `layer` is n_layers
};
inline constexpr int kActivationSiteCount = 7;

// "block_input", "attn_input", "o_proj_input", "mlp_input", "down_proj_input", "block_output",
// "lm_head_input".
std::string_view site_name(ActivationSite site);
// The linears that read the site's tensor, spelled as in linear_names() ("self_attn.q_proj", ...)
// or "lm_head"; empty for the block boundaries.
std::span<const std::string_view> site_consumers(ActivationSite site);

struct ActivationPoint {
  ActivationSite site;
  int layer;      // block index; n_layers for LmHeadInput
  int start_pos;  // position of the tensor's first row
};

// Observer / mutator: called at every site with the activation about to be used. It may change
// values in place (fake quantization, smoothing); shape, dtype and device must stay (checked).
// The tensor is valid only during the call — its buffer is reused by later sites — so a hook that
// keeps it must clone it. An empty hook costs one branch per site.
using ActivationHook = std::function<void(const ActivationPoint& point, Tensor& x)>;

// Keys and values of every block for positions [0, max_seq), plus the RoPE table for them.
// A layer's [max_seq, kv_dim] K and V are allocated on first use (and can be released), so a
// cache driven block by block (calibration) holds only the layers in flight.
class KVCache {
 public:
  KVCache() = default;
  KVCache(const ModelConfig& config, int max_seq, Device device = Device::CPU);

  int max_seq() const { return max_seq_; }
  int n_layers() const { return int(keys_.size()); }
  Device device() const { return device_; }
  Tensor& keys(int layer);    // [max_seq, kv_dim]
  Tensor& values(int layer);  // [max_seq, kv_dim]
  const ops::RopeTable& rope() const { return rope_; }
  void release(int layer);

 private:
  void allocate(int layer);

  std::vector<Tensor> keys_, values_;
  ops::RopeTable rope_;
  int max_seq_ = 0;
  int64_t kv_dim_ = 0;
  Device device_ = Device::CPU;
};

enum class Logits : uint8_t {
  None,  // no final norm / lm_head (the residual stream is what is wanted)
  Last,  // the last position only: generation
  All,   // every position: perplexity, calibration of lm_head
};

// The embedding rows of `tokens`: x₀ [T, dim] F32 on the table's device.
Tensor embed(const LlamaWeights& weights, std::span<const int32_t> tokens);

// One decoder block on the residual stream x [T, dim] in place: the T tokens sit at positions
// [start_pos, start_pos + T); their K/V are written into `cache` for layer `layer_index`, and they
// attend to the cached positions before them. The public entry point for block-by-block work.
void forward_block(const ModelConfig& config, const LayerWeights& layer, int layer_index,
                   Tensor& x, int start_pos, KVCache& cache, const ActivationHook& hook = {});

// Final RMSNorm and lm_head of x [rows, dim] → logits [rows, vocab].
Tensor lm_head(const LlamaWeights& weights, const Tensor& x, int start_pos,
               const ActivationHook& hook = {});

// The whole model on T tokens at positions [start_pos, start_pos + T): a prefill when T > 1, a
// decode step when T = 1. Returns logits [T, vocab] (All), [1, vocab] (Last) or an undefined
// tensor (None). A sequence beyond the cache is a bitfold::Error.
Tensor forward(const LlamaWeights& weights, std::span<const int32_t> tokens, int start_pos,
               KVCache& cache, Logits logits = Logits::Last, const ActivationHook& hook = {});

}  // namespace bitfold::model
