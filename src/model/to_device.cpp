#include "model/to_device.h"

namespace bitfold::model {

namespace {

Tensor moved(const Tensor& t, Device device) { return t.defined() ? t.to(device) : Tensor(); }

Linear moved(const Linear& l, Device device) {
  return Linear{moved(l.weight, device), moved(l.bias, device)};
}

}  // namespace

LlamaWeights to_device(const LlamaWeights& w, Device device) {
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
    out.layers.push_back(std::move(d));
  }
  out.final_norm = moved(w.final_norm, device);
  const bool tied = w.lm_head.weight.defined() && w.token_embedding.defined() &&
                    w.lm_head.weight.raw() == w.token_embedding.raw() &&
                    w.lm_head.weight.shape() == w.token_embedding.shape() &&
                    w.lm_head.weight.dtype() == w.token_embedding.dtype();
  out.lm_head = tied ? Linear{out.token_embedding, moved(w.lm_head.bias, device)}
                     : moved(w.lm_head, device);
  return out;
}

}  // namespace bitfold::model
