#include "methods/site_observation.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bitfold::methods {

int fold_site_index(model::ActivationSite site) {
  for (size_t i = 0; i < kFoldSites.size(); ++i)
    if (kFoldSites[i] == site) return int(i);
  BITFOLD_CHECK(false, "{} is not a fold site", model::site_name(site));
  return -1;
}

void SiteObservation::add_window(const Tensor& x, int layer) {
  BITFOLD_CHECK(x.rank() == 2 && x.dtype() == DType::F32 && x.is_cpu(), "site tensor {}",
                shape_str(x.shape()));
  const int64_t T = x.dim(0), K = x.dim(1);
  BITFOLD_CHECK(window_min_.empty() || int64_t(window_min_[0].size()) == K,
                "site {} changed width: {} then {}", model::site_name(site_),
                window_min_[0].size(), K);
  std::vector<float> lo(size_t(K), INFINITY), hi(size_t(K), -INFINITY);
  const float* p = x.f32();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < K; ++j) {
      const float v = p[t * K + j];
      if (!std::isfinite(v))
        fail("calibration: layer {} {}: window {} token {} channel {} is {}", layer,
             model::site_name(site_), windows(), t, j, v);
      lo[size_t(j)] = std::min(lo[size_t(j)], v);
      hi[size_t(j)] = std::max(hi[size_t(j)], v);
    }
  window_min_.push_back(std::move(lo));
  window_max_.push_back(std::move(hi));
  if (tokens_ < sample_budget_) samples_.push_back(x.clone());
  tokens_ += T;
}

quant::ChannelStats SiteObservation::range(int first_windows) const {
  const int n = first_windows > 0 ? std::min(first_windows, windows()) : windows();
  BITFOLD_CHECK(n > 0, "site {} observed no window", model::site_name(site_));
  quant::ChannelStats s;
  s.min = window_min_[0];
  s.max = window_max_[0];
  for (int w = 1; w < n; ++w)
    for (size_t j = 0; j < s.min.size(); ++j) {
      s.min[j] = std::min(s.min[j], window_min_[size_t(w)][j]);
      s.max[j] = std::max(s.max[j], window_max_[size_t(w)][j]);
    }
  return s;
}

std::vector<float> SiteObservation::absmax(int first_windows) const {
  const quant::ChannelStats s = range(first_windows);
  std::vector<float> a(s.max.size());
  for (size_t j = 0; j < a.size(); ++j) a[j] = std::max(std::fabs(s.min[j]), std::fabs(s.max[j]));
  return a;
}

std::vector<float> SiteObservation::mean_midpoint() const {
  BITFOLD_CHECK(windows() > 0, "site {} observed no window", model::site_name(site_));
  std::vector<double> sum(size_t(channels()), 0.0);
  for (int w = 0; w < windows(); ++w)
    for (size_t j = 0; j < sum.size(); ++j)
      sum[j] += 0.5 * (double(window_min_[size_t(w)][j]) + double(window_max_[size_t(w)][j]));
  std::vector<float> out(sum.size());
  for (size_t j = 0; j < out.size(); ++j) out[j] = float(sum[j] / windows());
  return out;
}

quant::ChannelStats SiteObservation::window_clipped_range(float ratio) const {
  BITFOLD_CHECK(windows() > 0, "site {} observed no window", model::site_name(site_));
  quant::ChannelStats out;
  out.min.assign(size_t(channels()), INFINITY);
  out.max.assign(size_t(channels()), -INFINITY);
  for (int w = 0; w < windows(); ++w) {
    const auto& lo = window_min_[size_t(w)];
    const auto& hi = window_max_[size_t(w)];
    // clamp(x, r·min_tensor, r·max_tensor): a channel's extremes clamp the same way.
    const float tensor_lo = ratio * *std::min_element(lo.begin(), lo.end());
    const float tensor_hi = ratio * *std::max_element(hi.begin(), hi.end());
    for (size_t j = 0; j < out.min.size(); ++j) {
      out.min[j] = std::min(out.min[j], std::clamp(lo[j], tensor_lo, tensor_hi));
      out.max[j] = std::max(out.max[j], std::clamp(hi[j], tensor_lo, tensor_hi));
    }
  }
  return out;
}

void SiteObservation::shift(std::span<const float> z) {
  BITFOLD_CHECK(int64_t(z.size()) == channels(), "shift of {} for {} channels", z.size(),
                channels());
  for (int w = 0; w < windows(); ++w)
    for (size_t j = 0; j < z.size(); ++j) {
      window_min_[size_t(w)][j] -= z[j];
      window_max_[size_t(w)][j] -= z[j];
    }
  for (Tensor& x : samples_) {
    Tensor y = x.clone();
    const int64_t K = y.dim(1);
    for (int64_t i = 0; i < y.numel(); ++i) y.f32()[i] -= z[size_t(i % K)];
    x = y;
  }
}

void SiteObservation::divide(std::span<const float> s) {
  BITFOLD_CHECK(int64_t(s.size()) == channels(), "divide by {} for {} channels", s.size(),
                channels());
  for (int w = 0; w < windows(); ++w)
    for (size_t j = 0; j < s.size(); ++j) {
      window_min_[size_t(w)][j] /= s[j];
      window_max_[size_t(w)][j] /= s[j];
    }
  for (Tensor& x : samples_) {
    Tensor y = x.clone();
    const int64_t K = y.dim(1);
    for (int64_t i = 0; i < y.numel(); ++i) y.f32()[i] /= s[size_t(i % K)];
    x = y;
  }
}

void SiteObservation::split(std::span<const int> multiplicities) {
  const int64_t K = channels();
  BITFOLD_CHECK(int64_t(multiplicities.size()) == K, "split of {} for {} channels",
                multiplicities.size(), K);
  // The layout of transform::split_channels: channel k stays, its replicas are appended.
  std::vector<int64_t> source(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) source[size_t(k)] = k;
  for (int64_t k = 0; k < K; ++k)
    for (int r = 1; r < multiplicities[size_t(k)]; ++r) source.push_back(k);
  if (int64_t(source.size()) == K) return;
  const auto gather = [&](const std::vector<float>& v) {
    std::vector<float> out(source.size());
    for (size_t k = 0; k < source.size(); ++k)
      out[k] = v[size_t(source[k])] / float(multiplicities[size_t(source[k])]);
    return out;
  };
  for (int w = 0; w < windows(); ++w) {
    window_min_[size_t(w)] = gather(window_min_[size_t(w)]);
    window_max_[size_t(w)] = gather(window_max_[size_t(w)]);
  }
  for (Tensor& x : samples_) {
    const int64_t T = x.dim(0), K2 = int64_t(source.size());
    Tensor y = Tensor::empty({T, K2}, DType::F32);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K2; ++k)
        y.f32()[t * K2 + k] = x.f32()[t * K + source[size_t(k)]] /
                              float(multiplicities[size_t(source[size_t(k)])]);
    x = y;
  }
}

model::ActivationHook BlockObservation::hook() {
  return [this](const model::ActivationPoint& p, Tensor& x) {
    for (model::ActivationSite s : kFoldSites)
      if (p.site == s) at(s).add_window(x, layer);
  };
}

BlockObservation observe_block(const model::ModelConfig& config, const model::LayerWeights& block,
                               int layer, const std::vector<Tensor>& inputs,
                               int64_t sample_tokens, std::vector<Tensor>* outputs) {
  BlockObservation obs;
  obs.layer = layer;
  for (model::ActivationSite s : kFoldSites) obs.at(s) = SiteObservation(s, sample_tokens);
  if (outputs) outputs->clear();
  const model::ActivationHook hook = obs.hook();
  for (const Tensor& input : inputs) {
    model::KVCache cache(config, int(input.dim(0)));
    Tensor x = input.clone();
    model::forward_block(config, block, layer, x, 0, cache, hook);
    if (outputs) outputs->push_back(std::move(x));
  }
  return obs;
}

}  // namespace bitfold::methods
