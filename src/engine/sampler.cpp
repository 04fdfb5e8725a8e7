#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace bitfold::engine {

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature))
    fail("temperature must be a finite number >= 0, got {}", options.temperature);
  if (options.top_k < 0) fail("top-k must be >= 0 (0 = off), got {}", options.top_k);
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f))
    fail("top-p must be in (0, 1] (1 = off), got {}", options.top_p);
}

float Sampler::uniform() { return float(rng_() >> 40) * (1.0f / 16777216.0f); }

int32_t argmax(std::span<const float> values) {
  BITFOLD_CHECK(!values.empty(), "argmax of nothing");
  return int32_t(std::max_element(values.begin(), values.end()) - values.begin());
}

int32_t Sampler::sample(std::span<const float> logits) {
  const int32_t vocab = int32_t(logits.size());
  BITFOLD_CHECK(vocab > 0, "sampling from empty logits");
  if (options_.temperature == 0.0f || options_.top_k == 1 || vocab == 1) return argmax(logits);

  // Softmax of logits / T.
  const float max = logits[size_t(argmax(logits))];
  const float inv_t = 1.0f / options_.temperature;
  candidates_.resize(size_t(vocab));
  double total = 0.0;
  for (int32_t i = 0; i < vocab; ++i) {
    const float p = std::exp((logits[size_t(i)] - max) * inv_t);
    candidates_[size_t(i)] = {p, i};
    total += p;
  }
  const auto more_likely = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };

  // Top-k: the k most likely, sorted.
  size_t keep = candidates_.size();
  bool sorted = false;
  if (options_.top_k > 0 && size_t(options_.top_k) < keep) {
    keep = size_t(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(keep),
                      candidates_.end(), more_likely);
    candidates_.resize(keep);
    total = 0.0;
    for (const auto& c : candidates_) total += c.first;
    sorted = true;
  }

  // Top-p: the shortest most-likely prefix whose mass reaches p of the (top-k) total.
  if (options_.top_p < 1.0f) {
    if (!sorted) {
      // A token below (1 - p) / (n - 1) of the mass can never be in the nucleus: drop those
      // before sorting (most of a 32k vocabulary).
      const double cutoff = (1.0 - options_.top_p) / double(candidates_.size() - 1) * total;
      std::erase_if(candidates_, [&](const auto& c) { return double(c.first) < cutoff; });
      std::sort(candidates_.begin(), candidates_.end(), more_likely);
    }
    double mass = 0.0;
    size_t n = 0;
    while (n < candidates_.size()) {
      mass += candidates_[n++].first;
      if (mass >= options_.top_p * total) break;
    }
    candidates_.resize(n);
    total = mass;
  }

  // Inverse CDF at a uniform draw.
  const double r = double(uniform()) * total;
  double cdf = 0.0;
  for (const auto& c : candidates_) {
    cdf += c.first;
    if (r < cdf) return c.second;
  }
  return candidates_.back().second;  // rounding left r at the very end
}

}  // namespace bitfold::engine
