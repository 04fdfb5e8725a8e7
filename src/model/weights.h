#pragma once
// Weights of a Llama decoder in the in-memory layout every other layer of bitfold assumes:
// - row-major [out, in] linear weights, as in Hugging Face (Y = X Wᵀ + b);
// - q/k rows in Hugging Face "rotate-half" RoPE order (llama2.c / Meta checkpoints, which pair
//   interleaved rows, are permuted on load), so RoPE has one implementation;
// - F32 on the device the model runs on.
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "quant/quantized_linear.h"

namespace bitfold::model {

struct Linear {
  Tensor weight;  // [out, in]; may be undefined when `quantized` is set (a quantized checkpoint)
  Tensor bias;    // [out], undefined when the layer has none
  // Set: the forward runs this layer through the integer engine (ops::quantized_linear) and
  // ignores `weight` and `bias` (the quantized layer carries its own bias).
  std::shared_ptr<const quant::QuantizedLinear> quantized;

  int64_t out_features() const { return weight.defined() ? weight.dim(0) : quantized->out_features(); }
  int64_t in_features() const { return weight.defined() ? weight.dim(1) : quantized->in_features(); }
};

// Quantization of the KV cache (docs/quantization.md §1.4): keys after RoPE and values, as
// written into the cache, are rounded to these grids (static per-head or per-tensor steps fitted
// for [*, kv_dim], or dynamic per-token specs fitted at every write).
struct KvCacheQuant {
  quant::QuantParams key, value;
};

struct LayerWeights {
  Tensor attn_norm;  // [dim] RMSNorm γ before attention
  Linear q, k, v, o;
  Tensor ffn_norm;   // [dim] RMSNorm γ before the MLP
  Linear gate, up, down;
  std::shared_ptr<const KvCacheQuant> kv_quant;  // unset: the cache holds F32 values
};

struct LlamaWeights {
  ModelConfig config;
  Tensor token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  Tensor final_norm;       // [dim]
  Linear lm_head;          // [vocab, dim]; shares storage with token_embedding when tied
};

// Names of the seven linears of a block, in Hugging Face spelling ("self_attn.q_proj", ...), for
// messages, recipes and checkpoints.
const std::vector<std::string>& linear_names();

}  // namespace bitfold::model
