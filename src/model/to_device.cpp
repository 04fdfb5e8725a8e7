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

// A channel map after RMSNorm (docs/transforms.md) is read unchecked by the CUDA norm: check it
// here, on the host, before it moves.
void check_channel_map(const Tensor& channels, int64_t dim, const char* which) {
  if (!channels.defined() || !channels.is_cpu()) return;
  for (int64_t k = 0; k < channels.numel(); ++k) {
    const int32_t c = channels.data<int32_t>()[k];
    if (c < 0 || c >= dim) fail("{} channel map entry {} = {} outside [0, {})", which, k, c, dim);
  }
}

void check_movable(const LayerWeights& l, int64_t dim) {
  check_channel_map(l.attn_norm_channels, dim, "attention norm");
  check_channel_map(l.ffn_norm_channels, dim, "MLP norm");
}

}  // namespace

LayerWeights to_device(const LayerWeights& l, Device device) {
  if (l.attn_norm.defined()) check_movable(l, l.attn_norm.numel());
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
  for (const LayerWeights& l : w.layers) check_movable(l, w.config.dim);  // before any copy
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
