#include "model/to_device.h"

#include "core/error.h"

namespace bitfold::model {

namespace {

Tensor moved(const Tensor& t, Device device) { return t.defined() ? t.to(device) : Tensor(); }

std::shared_ptr<const quant::QuantizedLinear> moved(
    const std::shared_ptr<const quant::QuantizedLinear>& q, Device device) {
  if (!q || q->device() == device) return q;
  return std::make_shared<const quant::QuantizedLinear>(q->to(device));
}

Linear moved(const Linear& l, Device device) {
  Linear out{moved(l.weight, device), moved(l.bias, device), moved(l.quantized, device)};
  out.low_rank_a = moved(l.low_rank_a, device);
  out.low_rank_b = moved(l.low_rank_b, device);
  return out;
}

// Folded norm biases / channel splits (docs/transforms.md) have no CUDA norm yet.
void check_movable(const LayerWeights& l, Device device) {
  if (device != Device::CPU && l.has_folded_norm_extras())
    fail("a model with folded norm biases or channel splits runs on the CPU only for now (no CUDA "
         "norm for them yet): use --device cpu");
}

}  // namespace

LayerWeights to_device(const LayerWeights& l, Device device) {
  check_movable(l, device);
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
  d.kv_quant = l.kv_quant;  // host steps: ops::fake_quantize uploads them per write
  d.attn_norm_bias = moved(l.attn_norm_bias, device);
  d.attn_norm_channels = moved(l.attn_norm_channels, device);
  d.ffn_norm_bias = moved(l.ffn_norm_bias, device);
  d.ffn_norm_channels = moved(l.ffn_norm_channels, device);
  return d;
}

LlamaWeights to_device(const LlamaWeights& w, Device device) {
  for (const LayerWeights& l : w.layers) check_movable(l, device);  // before any copy
  LlamaWeights out;
  out.config = w.config;
  out.token_embedding = moved(w.token_embedding, device);
  out.layers.reserve(w.layers.size());
  for (const LayerWeights& l : w.layers) out.layers.push_back(to_device(l, device));
  out.final_norm = moved(w.final_norm, device);
  const bool tied = w.lm_head.weight.defined() && w.token_embedding.defined() &&
                    w.lm_head.weight.raw() == w.token_embedding.raw() &&
                    w.lm_head.weight.shape() == w.token_embedding.shape() &&
                    w.lm_head.weight.dtype() == w.token_embedding.dtype();
  out.lm_head = tied ? Linear{out.token_embedding, moved(w.lm_head.bias, device),
                              moved(w.lm_head.quantized, device)}
                     : moved(w.lm_head, device);
  return out;
}

}  // namespace bitfold::model
