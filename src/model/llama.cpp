#include "model/llama.h"

#include <array>

#include "core/error.h"

namespace bitfold::model {

namespace {

// Shows `x` to the hook; a hook may change values, never the tensor itself.
void observe(const ActivationHook& hook, ActivationSite site, int layer, int start_pos, Tensor& x) {
  if (!hook) return;
  const Shape shape = x.shape();
  const DType dtype = x.dtype();
  const Device device = x.device();
  hook(ActivationPoint{site, layer, start_pos}, x);
  BITFOLD_CHECK(x.shape() == shape && x.dtype() == dtype && x.device() == device,
                "the activation hook at {} of layer {} replaced the tensor ({} {} → {} {})",
                site_name(site), layer, dtype_name(dtype), shape_str(shape),
                dtype_name(x.dtype()), shape_str(x.shape()));
}

Tensor activations(int64_t rows, int64_t cols, Device device) {
  return Tensor::empty({rows, cols}, DType::F32, device);
}

// RMSNorm into y [T, γ entries], with the folded norm bias and channel split when the block has
// them (LayerWeights); the plain op otherwise.
void block_norm(const Tensor& x, const Tensor& gamma, const Tensor& bias, const Tensor& channels,
                float eps, Tensor& y) {
  if (!bias.defined() && !channels.defined()) {
    ops::rmsnorm(x, gamma, eps, y);
  } else {
    ops::rmsnorm_gather_bias(x, channels, gamma, bias, eps, y);
  }
}

// y = x Wᵀ + b, through the integer engine when the layer is quantized.
void apply(const Linear& layer, const Tensor& x, Tensor& y) {
  if (layer.quantized) ops::quantized_linear(x, *layer.quantized, y);
  else ops::linear(x, layer.weight, layer.bias, y);
  if (layer.low_rank_a.defined()) {  // the rank-r side path: y += (x Aᵀ) Bᵀ
    Tensor ax = Tensor::empty({x.dim(0), layer.low_rank_a.dim(0)}, DType::F32, x.device());
    Tensor bax = Tensor::empty(y.shape(), DType::F32, y.device());
    ops::linear(x, layer.low_rank_a, Tensor(), ax);
    ops::linear(ax, layer.low_rank_b, Tensor(), bax);
    ops::add_inplace(y, bax);
  }
}

}  // namespace

std::string_view site_name(ActivationSite site) {
  switch (site) {
    case ActivationSite::BlockInput: return "block_input";
    case ActivationSite::AttnInput: return "attn_input";
    case ActivationSite::OProjInput: return "o_proj_input";
    case ActivationSite::MlpInput: return "mlp_input";
    case ActivationSite::DownProjInput: return "down_proj_input";
    case ActivationSite::BlockOutput: return "block_output";
    case ActivationSite::LmHeadInput: return "lm_head_input";
  }
  return "?";
}

std::span<const std::string_view> site_consumers(ActivationSite site) {
  static constexpr std::array<std::string_view, 3> qkv = {"self_attn.q_proj", "self_attn.k_proj",
                                                          "self_attn.v_proj"};
  static constexpr std::array<std::string_view, 1> o = {"self_attn.o_proj"};
  static constexpr std::array<std::string_view, 2> gate_up = {"mlp.gate_proj", "mlp.up_proj"};
  static constexpr std::array<std::string_view, 1> down = {"mlp.down_proj"};
  static constexpr std::array<std::string_view, 1> head = {"lm_head"};
  switch (site) {
    case ActivationSite::AttnInput: return qkv;
    case ActivationSite::OProjInput: return o;
    case ActivationSite::MlpInput: return gate_up;
    case ActivationSite::DownProjInput: return down;
    case ActivationSite::LmHeadInput: return head;
    case ActivationSite::BlockInput:
    case ActivationSite::BlockOutput: break;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// KV cache

KVCache::KVCache(const ModelConfig& config, int max_seq, Device device)
    : keys_(size_t(config.n_layers)),
      values_(size_t(config.n_layers)),
      max_seq_(max_seq),
      kv_dim_(config.kv_dim()),
      device_(device) {
  if (max_seq < 1) fail("a KV cache needs at least one position, got {}", max_seq);
  rope_ = ops::rope_table(config.head_dim, max_seq, config.rope_theta, device);
}

void KVCache::allocate(int layer) {
  BITFOLD_CHECK(layer >= 0 && layer < n_layers(), "KV cache layer {} of {}", layer, n_layers());
  if (!keys_[size_t(layer)].defined()) {
    keys_[size_t(layer)] = Tensor::empty({max_seq_, kv_dim_}, DType::F32, device_);
    values_[size_t(layer)] = Tensor::empty({max_seq_, kv_dim_}, DType::F32, device_);
  }
}

Tensor& KVCache::keys(int layer) {
  allocate(layer);
  return keys_[size_t(layer)];
}

Tensor& KVCache::values(int layer) {
  allocate(layer);
  return values_[size_t(layer)];
}

void KVCache::release(int layer) {
  BITFOLD_CHECK(layer >= 0 && layer < n_layers(), "KV cache layer {} of {}", layer, n_layers());
  keys_[size_t(layer)] = Tensor();
  values_[size_t(layer)] = Tensor();
}

// ---------------------------------------------------------------------------------------------
// Forward pass

Tensor embed(const LlamaWeights& weights, std::span<const int32_t> tokens) {
  Tensor x = activations(int64_t(tokens.size()), weights.config.dim,
                         weights.token_embedding.device());
  ops::embedding(weights.token_embedding, tokens, x);
  return x;
}

void forward_block(const ModelConfig& c, const LayerWeights& layer, int l, Tensor& x,
                   int start_pos, KVCache& cache, const ActivationHook& hook) {
  const int64_t T = x.dim(0);
  const Device dev = x.device();
  if (start_pos < 0 || start_pos + T > cache.max_seq())
    fail("positions [{}, {}) do not fit a KV cache of {} positions", start_pos, start_pos + T,
         cache.max_seq());
  observe(hook, ActivationSite::BlockInput, l, start_pos, x);

  // Attention: n₁ = RMSNorm(x; γ₁). (γ₁ has more than dim entries after a channel split.)
  Tensor xn = activations(T, layer.attn_norm.numel(), dev);
  block_norm(x, layer.attn_norm, layer.attn_norm_bias, layer.attn_norm_channels, c.norm_eps, xn);
  observe(hook, ActivationSite::AttnInput, l, start_pos, xn);

  // q, k, v projections; k and v are written straight into this layer's cache rows.
  Tensor q = activations(T, c.q_dim(), dev);
  Tensor k = cache.keys(l).slice_rows(start_pos, start_pos + T);
  Tensor v = cache.values(l).slice_rows(start_pos, start_pos + T);
  apply(layer.q, xn, q);
  apply(layer.k, xn, k);
  apply(layer.v, xn, v);

  // RoPE on q and k at their absolute positions.
  ops::rope(q, cache.rope(), start_pos);
  ops::rope(k, cache.rope(), start_pos);
  if (layer.kv_quant) {  // the cache stores keys after RoPE
    ops::fake_quantize(k, layer.kv_quant->key);
    ops::fake_quantize(v, layer.kv_quant->value);
  }

  // softmax(q kᵀ / √d) v over positions 0..start_pos+t, heads grouped over the KV heads.
  Tensor att = activations(T, c.q_dim(), dev);
  ops::attention(q, cache.keys(l), cache.values(l), c.n_heads, c.n_kv_heads, c.head_dim,
                 start_pos, att);
  observe(hook, ActivationSite::OProjInput, l, start_pos, att);

  // Output projection and residual: h = x + W_o att.
  Tensor proj = activations(T, c.dim, dev);
  apply(layer.o, att, proj);
  ops::add_inplace(x, proj);

  // FFN: n₂ = RMSNorm(h; γ₂).
  if (xn.dim(1) != layer.ffn_norm.numel()) xn = activations(T, layer.ffn_norm.numel(), dev);
  block_norm(x, layer.ffn_norm, layer.ffn_norm_bias, layer.ffn_norm_channels, c.norm_eps, xn);
  observe(hook, ActivationSite::MlpInput, l, start_pos, xn);

  // SwiGLU: SiLU(W_gate n₂) ⊙ (W_up n₂). (Wider than hidden_dim after a channel split.)
  Tensor gate = activations(T, layer.gate.out_features(), dev);
  Tensor up = activations(T, layer.up.out_features(), dev);
  apply(layer.gate, xn, gate);
  apply(layer.up, xn, up);
  ops::silu_mul(gate, up, gate);
  observe(hook, ActivationSite::DownProjInput, l, start_pos, gate);

  // Down projection and residual: x = h + W_down (…).
  apply(layer.down, gate, proj);
  ops::add_inplace(x, proj);
  observe(hook, ActivationSite::BlockOutput, l, start_pos, x);
}

Tensor lm_head(const LlamaWeights& weights, const Tensor& x, int start_pos,
               const ActivationHook& hook) {
  const ModelConfig& c = weights.config;
  Tensor xn = activations(x.dim(0), c.dim, x.device());
  ops::rmsnorm(x, weights.final_norm, c.norm_eps, xn);
  observe(hook, ActivationSite::LmHeadInput, c.n_layers, start_pos, xn);
  Tensor logits = activations(x.dim(0), weights.lm_head.out_features(), x.device());
  apply(weights.lm_head, xn, logits);
  return logits;
}

Tensor forward(const LlamaWeights& weights, std::span<const int32_t> tokens, int start_pos,
               KVCache& cache, Logits logits, const ActivationHook& hook) {
  const ModelConfig& c = weights.config;
  const int64_t T = int64_t(tokens.size());
  if (T == 0) fail("forward: no tokens");
  if (start_pos < 0 || start_pos + T > cache.max_seq())
    fail("a sequence of {} positions does not fit the KV cache of {} positions", start_pos + T,
         cache.max_seq());
  BITFOLD_CHECK(cache.n_layers() == c.n_layers, "KV cache of {} layers for a model of {}",
                cache.n_layers(), c.n_layers);

  Tensor x = embed(weights, tokens);
  for (int l = 0; l < c.n_layers; ++l)
    forward_block(c, weights.layers[size_t(l)], l, x, start_pos, cache, hook);

  switch (logits) {
    case Logits::None: return Tensor();
    case Logits::Last: return lm_head(weights, x.slice_rows(T - 1, T), start_pos + int(T) - 1, hook);
    case Logits::All: return lm_head(weights, x, start_pos, hook);
  }
  return Tensor();
}

}  // namespace bitfold::model
