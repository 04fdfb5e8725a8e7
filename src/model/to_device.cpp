#include "model/to_device.h"

#include "core/error.h"

namespace bitfold::model {

namespace {

Tensor moved(const Tensor& t, Device device) { return t.defined() ? t.to(device) : Tensor(); }

// The integer engine (Linear::quantized) and KV-cache quantization are CPU-only so far: they
// travel with the copy, and a GPU copy of a model that has them is refused rather than run
// without them.
Linear moved(const Linear& l, Device device) {
  Linear out{moved(l.weight, device), moved(l.bias, device), l.quantized};
  out.low_rank_a = moved(l.low_rank_a, device);
  out.low_rank_b = moved(l.low_rank_b, device);
  return out;
}

bool has_quantization(const LlamaWeights& w) {
  if (w.lm_head.quantized) return true;
  for (const LayerWeights& l : w.layers)
    for (const Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
      if (lin->quantized || l.kv_quant) return true;
  // Folded norm biases / channel splits (docs/transforms.md) have no CUDA norm yet either.
  for (const LayerWeights& l : w.layers)
    if (l.has_folded_norm_extras()) return true;
  return false;
}

}  // namespace

LlamaWeights to_device(const LlamaWeights& w, Device device) {
  if (device != Device::CPU && has_quantization(w))
    fail("a quantized model runs on the CPU only for now (its integer linears and KV-cache "
         "quantization have no CUDA path yet): use --device cpu");
  LlamaWeights out;
  out.config = w.config;
  out.token_embedding = moved(w.token_embedding, device);
  out.layers.reserve(w.layers.size());
  for (const LayerWeights& l : w.layers) {
    LayerWeights d;
    d.attn_norm = moved(l.attn_norm, device);
    d.q = moved(l.q, device);
    d.k = moved(l.k, device);
    d.v = moved(l.v, device);
    d.o = moved(l.o, device);
    d.ffn_norm = moved(l.ffn_norm, device);
    d.gate = moved(l.gate, device);
    d.up = moved(l.up, device);
    d.down = moved(l.down, device);
    d.kv_quant = l.kv_quant;
    d.attn_norm_bias = moved(l.attn_norm_bias, device);
    d.attn_norm_channels = moved(l.attn_norm_channels, device);
    d.ffn_norm_bias = moved(l.ffn_norm_bias, device);
    d.ffn_norm_channels = moved(l.ffn_norm_channels, device);
    out.layers.push_back(std::move(d));
  }
  out.final_norm = moved(w.final_norm, device);
  const bool tied = w.lm_head.weight.defined() && w.token_embedding.defined() &&
                    w.lm_head.weight.raw() == w.token_embedding.raw() &&
                    w.lm_head.weight.shape() == w.token_embedding.shape() &&
                    w.lm_head.weight.dtype() == w.token_embedding.dtype();
  out.lm_head = tied ? Linear{out.token_embedding, moved(w.lm_head.bias, device), w.lm_head.quantized}
                     : moved(w.lm_head, device);
  return out;
}

}  // namespace bitfold::model
