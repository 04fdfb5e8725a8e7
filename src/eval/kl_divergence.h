#pragma once
// How far a model's next-token distribution is from a base model's, token by token — the
// comparison llama.cpp's perplexity tool makes with --kl-divergence: for each scored position,
//   KL(P_base ‖ P_model) = Σ_v p_base(v) · (log p_base(v) − log p_model(v))     (nats)
// with both log-softmaxes computed in double, and whether the two argmaxes agree (top-1
// agreement, llama.cpp's "same top p"). A quantized model is judged against its FP original this
// way: unlike perplexity, KL sees every change of the distribution, not only the target's share.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace bitfold::eval {

// Per-row comparison of logits [rows, vocab] (F32, CPU) of the base model and of the model.
struct TokenComparison {
  std::vector<double> kl;         // KL(P_base ‖ P_model) per row, nats, ≥ 0
  std::vector<uint8_t> same_top1; // 1 where argmax(base row) == argmax(model row)
};
TokenComparison compare_distributions(const Tensor& base_logits, const Tensor& logits);

struct KlDivergence {
  int64_t tokens = 0;
  double mean = 0;            // mean KL over the tokens, nats
  double mean_stderr = 0;     // standard error of that mean (sample sd / sqrt(n))
  double median = 0;
  double p99 = 0;             // 99th percentile (linear interpolation between order statistics)
  double max = 0;
  double top1_agreement = 0;  // fraction of tokens whose argmax agrees, in [0, 1]
};

// Collects the per-token values of many windows and summarizes them.
class KlAccumulator {
 public:
  void add(const TokenComparison& comparison);
  int64_t tokens() const { return int64_t(kl_.size()); }
  double running_mean() const;
  KlDivergence summary() const;

 private:
  std::vector<double> kl_;
  int64_t agree_ = 0;
};

// The p-quantile (p in [0, 1]) of `values` with linear interpolation between the two nearest
// order statistics (numpy's default): index p·(n − 1). `values` is reordered.
double quantile(std::vector<double>& values, double p);

}  // namespace bitfold::eval
