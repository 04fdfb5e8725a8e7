#pragma once
// The tensors of a Hugging Face Llama-family checkpoint: name, the shape config.json implies, and
// where each lives in LlamaWeights. One list shared by the loader and the writer, so the two
// cannot disagree.
#include <fmt/format.h>

#include <string>

#include "model/weights.h"

namespace bitfold::model {

// Calls fn(name, expected_shape, tensor) for every tensor in file order: embedding, each layer's
// norms / projections (q/k/v biases when config.qkv_bias), final norm, and lm_head unless the
// embeddings are tied. `w.layers` must already have config.n_layers entries. `W` is LlamaWeights
// or const LlamaWeights; `tensor` is a reference into it.
template <class W, class Fn>
void for_each_hf_tensor(W& w, Fn&& fn) {
  const ModelConfig& c = w.config;
  const int64_t dim = c.dim, hidden = c.hidden_dim, vocab = c.vocab_size, q_dim = c.q_dim(),
                kv_dim = c.kv_dim();
  fn(std::string("model.embed_tokens.weight"), Shape{vocab, dim}, w.token_embedding);
  for (int l = 0; l < c.n_layers; ++l) {
    auto& layer = w.layers[size_t(l)];
    const auto name = [l](const char* suffix) {
      return fmt::format("model.layers.{}.{}", l, suffix);
    };
    fn(name("input_layernorm.weight"), Shape{dim}, layer.attn_norm);
    fn(name("self_attn.q_proj.weight"), Shape{q_dim, dim}, layer.q.weight);
    fn(name("self_attn.k_proj.weight"), Shape{kv_dim, dim}, layer.k.weight);
    fn(name("self_attn.v_proj.weight"), Shape{kv_dim, dim}, layer.v.weight);
    if (c.qkv_bias) {
      fn(name("self_attn.q_proj.bias"), Shape{q_dim}, layer.q.bias);
      fn(name("self_attn.k_proj.bias"), Shape{kv_dim}, layer.k.bias);
      fn(name("self_attn.v_proj.bias"), Shape{kv_dim}, layer.v.bias);
    }
    fn(name("self_attn.o_proj.weight"), Shape{dim, q_dim}, layer.o.weight);
    fn(name("post_attention_layernorm.weight"), Shape{dim}, layer.ffn_norm);
    fn(name("mlp.gate_proj.weight"), Shape{hidden, dim}, layer.gate.weight);
    fn(name("mlp.up_proj.weight"), Shape{hidden, dim}, layer.up.weight);
    fn(name("mlp.down_proj.weight"), Shape{dim, hidden}, layer.down.weight);
  }
  fn(std::string("model.norm.weight"), Shape{dim}, w.final_norm);
  if (!c.tied_embeddings) fn(std::string("lm_head.weight"), Shape{vocab, dim}, w.lm_head.weight);
}

}  // namespace bitfold::model
