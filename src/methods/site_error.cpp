#include "methods/site_error.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace bitfold::methods {

using model::ActivationSite;

SiteLoss default_loss(ActivationSite site) {
  switch (site) {
    case ActivationSite::AttnInput: return SiteLoss::Attention;
    case ActivationSite::MlpInput: return SiteLoss::SiluMul;
    default: return SiteLoss::Linear;
  }
}

std::vector<const model::Linear*> site_consumers(const model::LayerWeights& b, ActivationSite site) {
  switch (site) {
    case ActivationSite::AttnInput: return {&b.q, &b.k, &b.v};
    case ActivationSite::OProjInput: return {&b.o};
    case ActivationSite::MlpInput: return {&b.gate, &b.up};
    case ActivationSite::DownProjInput: return {&b.down};
    default: break;
  }
  BITFOLD_CHECK(false, "{} is not a fold site", model::site_name(site));
  return {};
}

namespace {

double energy(const Tensor& t) {
  double e = 0;
  for (int64_t i = 0; i < t.numel(); ++i) e += double(t.f32()[i]) * double(t.f32()[i]);
  return e;
}

double squared_distance(const Tensor& a, const Tensor& b) {
  double e = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.f32()[i]) - double(b.f32()[i]);
    e += d * d;
  }
  return e;
}

}  // namespace

SiteError::SiteError(const model::ModelConfig& config, const model::LayerWeights& block,
                     ActivationSite site, std::vector<Tensor> samples, SiteLoss loss,
                     std::vector<quant::QuantSpec> weight_specs)
    : config_(config),
      site_(site),
      loss_(loss),
      weight_specs_(std::move(weight_specs)),
      samples_(std::move(samples)) {
  for (const model::Linear* l : site_consumers(block, site)) consumers_.push_back(*l);
  BITFOLD_CHECK(weight_specs_.size() == consumers_.size(), "{} weight specs for {} consumers",
                weight_specs_.size(), consumers_.size());
  BITFOLD_CHECK(loss != SiteLoss::Attention || site == ActivationSite::AttnInput,
                "the attention loss needs q, k, v");
  BITFOLD_CHECK(loss != SiteLoss::SiluMul || site == ActivationSite::MlpInput,
                "the SiLU·mul loss needs gate and up");
  BITFOLD_CHECK(!samples_.empty(), "no samples at {}", model::site_name(site));
  int max_t = 0;
  for (const Tensor& x : samples_) max_t = std::max(max_t, int(x.dim(0)));
  if (loss == SiteLoss::Attention)
    rope_ = ops::rope_table(config.head_dim, max_t, config.rope_theta);
  std::vector<Tensor> fp;
  for (const model::Linear& l : consumers_) fp.push_back(l.weight);
  for (const Tensor& x : samples_) {
    reference_.push_back(outputs(x, fp));
    for (const Tensor& y : reference_.back()) reference_energy_ += energy(y);
  }
  if (!(reference_energy_ > 0)) reference_energy_ = 1;  // all-zero outputs: absolute error
}

int64_t SiteError::tokens() const {
  int64_t n = 0;
  for (const Tensor& x : samples_) n += x.dim(0);
  return n;
}

std::vector<Tensor> SiteError::outputs(const Tensor& x, const std::vector<Tensor>& weights) const {
  const int64_t T = x.dim(0);
  std::vector<Tensor> y;
  for (size_t c = 0; c < consumers_.size(); ++c) {
    Tensor out = Tensor::empty({T, weights[c].dim(0)}, DType::F32);
    ops::linear(x, weights[c], consumers_[c].bias, out);
    y.push_back(std::move(out));
  }
  switch (loss_) {
    case SiteLoss::Linear: return y;
    case SiteLoss::SiluMul: ops::silu_mul(y[0], y[1], y[0]); return {y[0]};
    case SiteLoss::Attention: {
      ops::rope(y[0], rope_, 0);
      ops::rope(y[1], rope_, 0);
      Tensor att = Tensor::empty({T, config_.q_dim()}, DType::F32);
      ops::attention(y[0], y[1], y[2], config_.n_heads, config_.n_kv_heads, config_.head_dim, 0,
                     att);
      return {att};
    }
  }
  return y;
}

std::vector<Tensor> SiteError::rounded_weights(const quant::QuantParams& input) const {
  const int64_t K = consumers_[0].in_features();
  std::vector<float> step(static_cast<size_t>(K));
  for (int64_t j = 0; j < K; ++j) step[size_t(j)] = input.step(0, j);
  std::vector<Tensor> out;
  for (size_t c = 0; c < consumers_.size(); ++c) {
    const Tensor& w = consumers_[c].weight;
    if (!weight_specs_[c].quantized()) {
      out.push_back(w);
      continue;
    }
    // W' = W·diag(Δ), rounded per its spec, back to real units.
    const int64_t N = w.dim(0);
    Tensor pre = Tensor::empty({N, K}, DType::F32);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) pre.f32()[i * K + j] = w.f32()[i * K + j] * step[size_t(j)];
    Tensor q = quant::fake_quantize(pre, quant::fit_params(weight_specs_[c], pre));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < K; ++j) q.f32()[i * K + j] /= step[size_t(j)];
    out.push_back(std::move(q));
  }
  return out;
}

double SiteError::operator()(const quant::QuantParams& input) const {
  return with_weights(input, rounded_weights(input));
}

double SiteError::with_weights(const quant::QuantParams& input,
                               const std::vector<Tensor>& weights) const {
  BITFOLD_CHECK(!input.spec.dynamic, "SiteError takes static input quantizers");
  double err = 0;
  for (size_t w = 0; w < samples_.size(); ++w) {
    const Tensor xq = quant::fake_quantize(samples_[w], input);
    const std::vector<Tensor> y = outputs(xq, weights);
    for (size_t o = 0; o < y.size(); ++o) err += squared_distance(y[o], reference_[w][o]);
  }
  return err / reference_energy_;
}

}  // namespace bitfold::methods
