// SmoothQuant (Xiao et al., arXiv 2211.10438, eq. 4): per input channel j of the two
// RMSNorm-fed sites,
//   s_j = max|X_j|^α / max|W_:,j|^(1−α)
// with max|W_:,j| over all consumers of the site (q, k, v share s through γ1; gate, up through
// γ2). X diag(s)⁻¹ is folded into γ (γ ← γ/s), diag(s) into the weights (W ← W diag(s)): exact in
// real arithmetic. Both maxima are clamped to at least 1e-5 first, as the authors' code does, so a
// dead channel gets a finite s. α: hyperparameter "alpha", default 0.5 (docs/methods.md).
// The activation quantizer (static per tensor, static per channel or dynamic per token) is then
// fitted on the smoothed statistics.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "methods/method.h"

namespace bitfold::methods {

namespace {

constexpr float kFloor = 1e-5f;

// max_i |W_ij| over the rows of every consumer.
std::vector<float> weight_column_absmax(const std::vector<const model::Linear*>& consumers) {
  const int64_t K = consumers.front()->weight.dim(1);
  std::vector<float> m(size_t(K), 0.0f);
  for (const model::Linear* l : consumers) {
    const float* w = l->weight.f32();
    for (int64_t i = 0; i < l->weight.dim(0); ++i)
      for (int64_t j = 0; j < K; ++j) m[size_t(j)] = std::max(m[size_t(j)], std::fabs(w[i * K + j]));
  }
  return m;
}

// A copy of W with column j multiplied by s_j.
Tensor scale_columns(const Tensor& w, const std::vector<float>& s) {
  Tensor out = w.clone();
  const int64_t N = w.dim(0), K = w.dim(1);
  float* o = out.f32();
  parallel_for(N, [&](int64_t i) {
    for (int64_t j = 0; j < K; ++j) o[i * K + j] *= s[size_t(j)];
  });
  return out;
}

class SmoothQuant final : public Method {
 public:
  explicit SmoothQuant(double alpha) : alpha_(alpha) {}
  std::string_view name() const override { return "smoothquant"; }

  void transform(BlockContext& ctx) override {
    model::LayerWeights& b = ctx.block;
    smooth(ctx, model::ActivationSite::AttnInput, b.attn_norm, {&b.q, &b.k, &b.v});
    smooth(ctx, model::ActivationSite::MlpInput, b.ffn_norm, {&b.gate, &b.up});
  }

 private:
  void smooth(BlockContext& ctx, model::ActivationSite site, Tensor& gamma,
              const std::vector<model::Linear*>& consumers) {
    // A site none of whose consumers is quantized is left alone.
    bool any = false;
    for (const LinearSlot& s : ctx.linears) any = any || (s.site == site && s.quantized());
    if (!any) return;
    const std::vector<float> act = ctx.stats.at(site).absmax();
    const std::vector<float> wmax =
        weight_column_absmax(std::vector<const model::Linear*>(consumers.begin(), consumers.end()));
    std::vector<float> s(act.size());
    for (size_t j = 0; j < s.size(); ++j) {
      const double a = std::max(act[j], kFloor), w = std::max(wmax[j], kFloor);
      s[j] = float(std::pow(a, alpha_) / std::pow(w, 1.0 - alpha_));
      if (!(s[j] > 0) || !std::isfinite(s[j]))
        fail("smoothquant: layer {} {}: smoothing factor {} of channel {} is not a positive "
             "number (activation max {}, weight max {})",
             ctx.layer, model::site_name(site), s[j], j, a, w);
    }
    Tensor g = gamma.clone();
    for (size_t j = 0; j < s.size(); ++j) g.f32()[j] /= s[j];
    gamma = g;
    for (model::Linear* l : consumers) l->weight = scale_columns(l->weight, s);
    ctx.stats.at(site).divide_channels(s);
  }

  double alpha_;
};

}  // namespace

std::unique_ptr<Method> make_smoothquant(const nlohmann::json& hyperparameters,
                                         const std::string& where) {
  check_hyperparameters(hyperparameters, where, "smoothquant", {"alpha"});
  double alpha = 0.5;
  if (hyperparameters.contains("alpha")) {
    const nlohmann::json& a = hyperparameters["alpha"];
    if (!a.is_number()) fail("{}.alpha: expected a number, got {}", where, a.dump());
    alpha = a.get<double>();
    if (!(alpha >= 0 && alpha <= 1)) fail("{}.alpha: {} outside [0, 1]", where, alpha);
  }
  return std::make_unique<SmoothQuant>(alpha);
}

}  // namespace bitfold::methods
