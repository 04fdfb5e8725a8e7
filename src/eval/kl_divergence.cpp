#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace bitfold::eval {

TokenComparison compare_distributions(const Tensor& base_logits, const Tensor& logits) {
  BITFOLD_CHECK(base_logits.rank() == 2 && base_logits.shape() == logits.shape(),
                "compare_distributions: logits {} vs base {}", shape_str(logits.shape()),
                shape_str(base_logits.shape()));
  BITFOLD_CHECK(base_logits.is_cpu() && logits.is_cpu(), "compare_distributions: CPU tensors only");
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  TokenComparison out;
  out.kl.resize(size_t(rows));
  out.same_top1.resize(size_t(rows));
  const float* base = base_logits.f32();
  const float* model = logits.f32();
  parallel_for(rows, [&](int64_t r) {
    const float* b = base + r * vocab;
    const float* m = model + r * vocab;
    // Argmax (first on ties, as torch's) and max of each row, then in one pass
    //   S_b = Σ e_v, e_v = exp(b_v − max_b);  D = Σ e_v (b_v − m_v);  S_m = Σ exp(m_v − max_m).
    // With p_b = e / S_b and Σ p_b = 1:  KL = Σ p_b (b − m) − lse_b + lse_m = D / S_b − lse_b + lse_m.
    int64_t arg_b = 0, arg_m = 0;
    for (int64_t v = 1; v < vocab; ++v) {
      if (b[v] > b[arg_b]) arg_b = v;
      if (m[v] > m[arg_m]) arg_m = v;
    }
    const double max_b = b[arg_b], max_m = m[arg_m];
    double sum_b = 0, sum_m = 0, weighted_diff = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      const double e = std::exp(double(b[v]) - max_b);
      sum_b += e;
      weighted_diff += e * (double(b[v]) - double(m[v]));
      sum_m += std::exp(double(m[v]) - max_m);
    }
    const double lse_b = max_b + std::log(sum_b), lse_m = max_m + std::log(sum_m);
    const double kl = weighted_diff / sum_b - lse_b + lse_m;
    out.kl[size_t(r)] = std::max(kl, 0.0);  // rounding can leave −1e-17 for identical rows
    out.same_top1[size_t(r)] = arg_b == arg_m;
  });
  return out;
}

void KlAccumulator::add(const TokenComparison& c) {
  kl_.insert(kl_.end(), c.kl.begin(), c.kl.end());
  for (uint8_t same : c.same_top1) agree_ += same;
}

double KlAccumulator::running_mean() const {
  double sum = 0;
  for (double v : kl_) sum += v;
  return kl_.empty() ? 0.0 : sum / double(kl_.size());
}

double quantile(std::vector<double>& values, double p) {
  BITFOLD_CHECK(!values.empty() && p >= 0 && p <= 1, "quantile of {} values at {}", values.size(), p);
  const double index = p * double(values.size() - 1);
  const size_t lo = size_t(std::floor(index));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + ptrdiff_t(lo), values.end());
  const double v_lo = values[lo];
  if (hi == lo) return v_lo;
  const double v_hi = *std::min_element(values.begin() + ptrdiff_t(lo) + 1, values.end());
  return v_lo + (index - double(lo)) * (v_hi - v_lo);
}

KlDivergence KlAccumulator::summary() const {
  KlDivergence s;
  s.tokens = tokens();
  if (kl_.empty()) return s;
  const double n = double(kl_.size());
  double sum = 0;
  for (double v : kl_) sum += v;
  s.mean = sum / n;
  double ss = 0;
  for (double v : kl_) ss += (v - s.mean) * (v - s.mean);
  s.mean_stderr = kl_.size() > 1 ? std::sqrt(ss / (n - 1) / n) : 0.0;
  std::vector<double> sorted = kl_;
  s.median = quantile(sorted, 0.5);
  s.p99 = quantile(sorted, 0.99);
  s.max = *std::max_element(kl_.begin(), kl_.end());
  s.top1_agreement = double(agree_) / n;
  return s;
}

}  // namespace bitfold::eval
