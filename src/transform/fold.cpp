#include "transform/fold.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "transform/weight_edit.h"

namespace bitfold::transform {

using model::LayerWeights;
using model::Linear;
using model::ModelConfig;

namespace {

void check_layer(std::string_view op, const LlamaWeights& w, int layer) {
  if (layer < 0 || layer >= int(w.layers.size()))
    fail("{}: layer {} outside the model's {} layers", op, layer, w.layers.size());
}

// Which v_proj output channel feeds o_proj input channel c (head h = c / hd of KV group h / G).
int64_t kv_channel_of(const ModelConfig& c, int64_t q_channel) {
  const int64_t head = q_channel / c.head_dim, t = q_channel % c.head_dim;
  return (head / c.group_size()) * c.head_dim + t;
}

// What a per-site vector must be: its length, and finite (positive too for factors).
void check_vector(std::string_view op, int layer, ActivationSite site, std::span<const float> v,
                  int64_t channels, bool positive) {
  if (int64_t(v.size()) != channels)
    fail("{}: layer {} {}: {} values for {} channels", op, layer, model::site_name(site), v.size(),
         channels);
  for (size_t k = 0; k < v.size(); ++k) {
    if (!std::isfinite(v[k]) || (positive && !(v[k] > 0.0f)))
      fail("{}: layer {} {}: channel {} has {} {} (must be finite{})", op, layer,
           model::site_name(site), k, positive ? "factor" : "value", v[k],
           positive ? " and > 0" : "");
  }
}

// The per-v-channel form (kv_dim) of an o_proj-site vector given per v channel or per o_proj
// input channel; in the latter form the heads of one KV group must agree (they read one v).
std::vector<float> per_kv_channel(std::string_view op, const ModelConfig& c, int layer,
                                  std::span<const float> v, bool positive) {
  const int64_t q_dim = c.q_dim(), kv_dim = c.kv_dim();
  if (int64_t(v.size()) == kv_dim) {
    check_vector(op, layer, ActivationSite::OProjInput, v, kv_dim, positive);
    return {v.begin(), v.end()};
  }
  if (int64_t(v.size()) != q_dim)
    fail(
        "{}: layer {} {}: {} values, expected one per v_proj output channel ({}) or per o_proj "
        "input channel ({})",
        op, layer, model::site_name(ActivationSite::OProjInput), v.size(), kv_dim, q_dim);
  check_vector(op, layer, ActivationSite::OProjInput, v, q_dim, positive);
  std::vector<float> kv(size_t(kv_dim), std::numeric_limits<float>::quiet_NaN());
  for (int64_t ch = 0; ch < q_dim; ++ch) {
    float& slot = kv[size_t(kv_channel_of(c, ch))];
    if (std::isnan(slot)) {
      slot = v[size_t(ch)];
    } else if (slot != v[size_t(ch)]) {
      fail(
          "{}: layer {} {}: o_proj input channel {} has {} but another query head of its KV "
          "group has {}; the heads of a group read one v_proj channel (use kv_group_max)",
          op, layer, model::site_name(ActivationSite::OProjInput), ch, v[size_t(ch)], slot);
    }
  }
  return kv;
}

// kv_dim → q_dim: each o_proj input channel gets its v channel's value.
std::vector<float> expand_to_q(const ModelConfig& c, std::span<const float> kv) {
  std::vector<float> q(size_t(c.q_dim()));
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) q[size_t(ch)] = kv[size_t(kv_channel_of(c, ch))];
  return q;
}

// The norm and its consumers at a norm-fed site.
struct NormSite {
  Tensor* gamma;
  Tensor* bias;
  Tensor* channels;
  std::vector<Linear*> consumers;
};

NormSite norm_site(LayerWeights& L, ActivationSite site) {
  if (site == ActivationSite::AttnInput)
    return {&L.attn_norm, &L.attn_norm_bias, &L.attn_norm_channels, {&L.q, &L.k, &L.v}};
  return {&L.ffn_norm, &L.ffn_norm_bias, &L.ffn_norm_channels, {&L.gate, &L.up}};
}

[[noreturn]] void not_a_site(std::string_view op, int layer, ActivationSite site) {
  fail("{}: layer {} {}: not a fold site (attn_input, mlp_input, o_proj_input, down_proj_input)",
       op, layer, model::site_name(site));
}

LayerWeights scale_impl(std::string_view op, const ModelConfig& c, int layer,
                        const LayerWeights& block, ActivationSite site, std::span<const float> s) {
  const int64_t K = site_channels(block, layer, site);
  LayerWeights L = block;
  switch (site) {
    case ActivationSite::AttnInput:
    case ActivationSite::MlpInput: {
      check_vector(op, layer, site, s, K, true);
      NormSite n = norm_site(L, site);
      *n.gamma = detail::divide_rows(*n.gamma, s);
      if (n.bias->defined()) *n.bias = detail::divide_rows(*n.bias, s);
      for (Linear* consumer : n.consumers)
        consumer->weight = detail::scale_columns(consumer->weight, s);
      break;
    }
    case ActivationSite::OProjInput: {
      const std::vector<float> kv = per_kv_channel(op, c, layer, s, true);
      L.v.weight = detail::divide_rows(L.v.weight, kv);
      if (L.v.bias.defined()) L.v.bias = detail::divide_rows(L.v.bias, kv);
      L.o.weight = detail::scale_columns(L.o.weight, expand_to_q(c, kv));
      break;
    }
    case ActivationSite::DownProjInput:
      check_vector(op, layer, site, s, K, true);
      L.up.weight = detail::divide_rows(L.up.weight, s);
      if (L.up.bias.defined()) L.up.bias = detail::divide_rows(L.up.bias, s);
      L.down.weight = detail::scale_columns(L.down.weight, s);
      break;
    default: not_a_site(op, layer, site);
  }
  return L;
}

// -v (or, with a base vector, base − v) as a new [n] tensor.
Tensor minus(const Tensor& base, std::span<const float> v) {
  Tensor out = Tensor::empty({int64_t(v.size())}, DType::F32);
  for (size_t k = 0; k < v.size(); ++k)
    out.f32()[k] = (base.defined() ? base.f32()[k] : 0.0f) - v[k];
  return out;
}

}  // namespace

int64_t site_channels(const LayerWeights& L, int layer, ActivationSite site) {
  switch (site) {
    case ActivationSite::AttnInput:
      BITFOLD_CHECK(L.attn_norm.numel() == L.q.in_features(), "layer {}: γ₁ {} for q_proj {}",
                    layer, shape_str(L.attn_norm.shape()), shape_str(L.q.weight.shape()));
      return L.q.in_features();
    case ActivationSite::MlpInput:
      BITFOLD_CHECK(L.ffn_norm.numel() == L.gate.in_features(), "layer {}: γ₂ {} for gate_proj {}",
                    layer, shape_str(L.ffn_norm.shape()), shape_str(L.gate.weight.shape()));
      return L.gate.in_features();
    case ActivationSite::OProjInput: return L.o.in_features();
    case ActivationSite::DownProjInput: return L.down.in_features();
    default: not_a_site("site_channels", layer, site);
  }
}

int64_t site_channels(const LlamaWeights& w, int layer, ActivationSite site) {
  check_layer("site_channels", w, layer);
  return site_channels(w.layers[size_t(layer)], layer, site);
}

LayerWeights scale_site(const ModelConfig& c, int layer, const LayerWeights& block,
                        ActivationSite site, std::span<const float> s) {
  return scale_impl("scale_site", c, layer, block, site, s);
}

LayerWeights fold_step(const ModelConfig& c, int layer, const LayerWeights& block,
                       ActivationSite site, std::span<const float> step) {
  return scale_impl("fold_step", c, layer, block, site, step);
}

LayerWeights shift_site(const ModelConfig& c, int layer, const LayerWeights& block,
                        ActivationSite site, std::span<const float> z) {
  constexpr std::string_view op = "shift_site";
  const int64_t K = site_channels(block, layer, site);
  LayerWeights L = block;
  switch (site) {
    case ActivationSite::AttnInput:
    case ActivationSite::MlpInput: {
      check_vector(op, layer, site, z, K, false);
      NormSite n = norm_site(L, site);
      for (Linear* consumer : n.consumers) consumer->bias = detail::bias_plus_shift(*consumer, z);
      *n.bias = minus(*n.bias, z);
      break;
    }
    case ActivationSite::OProjInput: {
      const std::vector<float> kv = per_kv_channel(op, c, layer, z, false);
      L.o.bias = detail::bias_plus_shift(L.o, expand_to_q(c, kv));
      L.v.bias = minus(L.v.bias, kv);
      break;
    }
    case ActivationSite::DownProjInput:
      fail(
          "{}: layer {} {}: a shift cannot be folded here: SiLU(gate) ⊙ (up − z) is not "
          "SiLU(gate) ⊙ up − z; give down_proj's input a zero-point instead (asymmetric "
          "activation quantization, bias z·Wᵀ in the integer linear)",
          op, layer, model::site_name(site));
    default: not_a_site(op, layer, site);
  }
  return L;
}

LayerWeights scale_qk(const ModelConfig& c, int layer, const LayerWeights& block,
                      std::span<const float> s) {
  constexpr std::string_view op = "scale_qk";
  if (int64_t(s.size()) != c.kv_dim())
    fail("{}: layer {}: {} factors, expected one per k_proj output channel ({})", op, layer,
         s.size(), c.kv_dim());
  for (size_t k = 0; k < s.size(); ++k)
    if (!std::isfinite(s[k]) || !(s[k] > 0.0f))
      fail("{}: layer {}: channel {} has factor {} (must be finite and > 0)", op, layer, k, s[k]);
  const int half = c.head_dim / 2;
  for (int64_t k = 0; k < c.kv_dim(); ++k)
    if (k % c.head_dim < half && s[size_t(k)] != s[size_t(k + half)])
      fail(
          "{}: layer {}: channels {} and {} are rotated together by RoPE but have factors {} and "
          "{} (use tie_rope_pairs)",
          op, layer, k, k + half, s[size_t(k)], s[size_t(k + half)]);
  LayerWeights L = block;
  const std::vector<float> per_q = expand_to_q(c, s);
  L.q.weight = detail::divide_rows(L.q.weight, per_q);
  if (L.q.bias.defined()) L.q.bias = detail::divide_rows(L.q.bias, per_q);
  L.k.weight = detail::multiply_rows(L.k.weight, s);
  if (L.k.bias.defined()) L.k.bias = detail::multiply_rows(L.k.bias, s);
  return L;
}

LayerWeights split_channels(const ModelConfig&, int layer, const LayerWeights& block,
                            ActivationSite site, std::span<const int> multiplicities) {
  constexpr std::string_view op = "split_channels";
  if (site == ActivationSite::OProjInput)
    fail(
        "{}: layer {} {}: channels cannot be split here: v_proj's outputs are attention head "
        "dimensions shared with q and k",
        op, layer, model::site_name(site));
  const int64_t K = site_channels(block, layer, site);
  if (int64_t(multiplicities.size()) != K)
    fail("{}: layer {} {}: {} multiplicities for {} channels", op, layer, model::site_name(site),
         multiplicities.size(), K);
  // source[k'] = the channel replica k' copies; channel k stays at k, replicas are appended.
  std::vector<int64_t> source(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    const int n = multiplicities[size_t(k)];
    if (n < 1)
      fail("{}: layer {} {}: channel {} has multiplicity {} (must be ≥ 1)", op, layer,
           model::site_name(site), k, n);
    source[size_t(k)] = k;
  }
  for (int64_t k = 0; k < K; ++k)
    for (int r = 1; r < multiplicities[size_t(k)]; ++r) source.push_back(k);
  if (int64_t(source.size()) == K) return block;  // nothing split: the model stays as it is
  if (source.size() > size_t(std::numeric_limits<int32_t>::max()))
    fail("{}: layer {} {}: {} channels after the split", op, layer, model::site_name(site),
         source.size());
  std::vector<float> divisor(source.size());
  for (size_t k = 0; k < source.size(); ++k) divisor[k] = float(multiplicities[size_t(source[k])]);

  LayerWeights L = block;
  switch (site) {
    case ActivationSite::AttnInput:
    case ActivationSite::MlpInput: {
      NormSite n = norm_site(L, site);
      Tensor channels = Tensor::empty({int64_t(source.size())}, DType::I32);
      for (size_t k = 0; k < source.size(); ++k)
        channels.data<int32_t>()[k] =
            n.channels->defined() ? n.channels->data<int32_t>()[source[k]] : int32_t(source[k]);
      *n.channels = channels;
      *n.gamma = detail::gather_rows(*n.gamma, source, divisor);
      if (n.bias->defined()) *n.bias = detail::gather_rows(*n.bias, source, divisor);
      for (Linear* c : n.consumers) c->weight = detail::gather_columns(c->weight, source);
      break;
    }
    case ActivationSite::DownProjInput:
      L.gate.weight = detail::gather_rows(L.gate.weight, source);
      if (L.gate.bias.defined()) L.gate.bias = detail::gather_rows(L.gate.bias, source);
      L.up.weight = detail::gather_rows(L.up.weight, source, divisor);
      if (L.up.bias.defined()) L.up.bias = detail::gather_rows(L.up.bias, source, divisor);
      L.down.weight = detail::gather_columns(L.down.weight, source);
      break;
    default: not_a_site(op, layer, site);
  }
  return L;
}

// ---- whole-model forms ------------------------------------------------------------------------

namespace {

template <class Fold>
LlamaWeights with_block(std::string_view op, const LlamaWeights& w, int layer, Fold&& fold) {
  check_layer(op, w, layer);
  LlamaWeights out = w;
  out.layers[size_t(layer)] = fold(w.config, layer, w.layers[size_t(layer)]);
  return out;
}

}  // namespace

LlamaWeights scale_site(const LlamaWeights& w, int layer, ActivationSite site,
                        std::span<const float> s) {
  return with_block("scale_site", w, layer,
                    [&](auto& c, int l, auto& b) { return scale_site(c, l, b, site, s); });
}

LlamaWeights shift_site(const LlamaWeights& w, int layer, ActivationSite site,
                        std::span<const float> z) {
  return with_block("shift_site", w, layer,
                    [&](auto& c, int l, auto& b) { return shift_site(c, l, b, site, z); });
}

LlamaWeights fold_step(const LlamaWeights& w, int layer, ActivationSite site,
                       std::span<const float> step) {
  return with_block("fold_step", w, layer,
                    [&](auto& c, int l, auto& b) { return fold_step(c, l, b, site, step); });
}

LlamaWeights split_channels(const LlamaWeights& w, int layer, ActivationSite site,
                            std::span<const int> multiplicities) {
  return with_block("split_channels", w, layer, [&](auto& c, int l, auto& b) {
    return split_channels(c, l, b, site, multiplicities);
  });
}

LlamaWeights scale_qk(const LlamaWeights& w, int layer, std::span<const float> s) {
  return with_block("scale_qk", w, layer,
                    [&](auto& c, int l, auto& b) { return scale_qk(c, l, b, s); });
}

std::vector<float> kv_group_max(const ModelConfig& c, std::span<const float> per_q) {
  BITFOLD_CHECK(int64_t(per_q.size()) == c.q_dim(), "kv_group_max: {} values for q_dim {}",
                per_q.size(), c.q_dim());
  std::vector<float> kv(size_t(c.kv_dim()), -std::numeric_limits<float>::infinity());
  for (int64_t ch = 0; ch < c.q_dim(); ++ch) {
    float& slot = kv[size_t(kv_channel_of(c, ch))];
    slot = std::max(slot, per_q[size_t(ch)]);
  }
  return kv;
}

std::vector<float> tie_rope_pairs(const ModelConfig& c, std::span<const float> s) {
  BITFOLD_CHECK(int64_t(s.size()) == c.kv_dim(), "tie_rope_pairs: {} values for kv_dim {}",
                s.size(), c.kv_dim());
  std::vector<float> out(s.begin(), s.end());
  const int half = c.head_dim / 2;
  for (int64_t k = 0; k < c.kv_dim(); ++k)
    if (k % c.head_dim < half)
      out[size_t(k)] = out[size_t(k + half)] = std::max(s[size_t(k)], s[size_t(k + half)]);
  return out;
}

}  // namespace bitfold::transform
