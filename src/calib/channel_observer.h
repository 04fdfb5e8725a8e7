#pragma once
// Per-channel statistics of one activation site over every calibration token (docs/
// quantization.md §2.2): min, max, absmax, mean (sums in double), and optionally a histogram of
// |x| for percentile estimates.
//
// Histogram: 32 bins per octave over |x| ∈ [2^-16, 2^16) (1024 bins, 4 KB per channel), a bin
// being the float's exponent and its top 5 mantissa bits; smaller magnitudes share the first bin,
// larger ones the last. A percentile is interpolated linearly inside its bin and clamped to the
// exact absmax, so its relative error is at most one bin width, 1/32 (3.1 %), for values inside
// the range; ranks are exact (counts, not samples).
#include <cstdint>
#include <vector>

#include "quant/quantizer.h"

namespace bitfold::calib {

struct ObserverOptions {
  bool histogram = false;
};

class ChannelObserver {
 public:
  static constexpr int kBinsPerOctave = 32;
  static constexpr int kMinExponent = -16;
  static constexpr int kOctaves = 32;
  static constexpr int kBins = kBinsPerOctave * kOctaves;

  ChannelObserver() = default;
  ChannelObserver(int64_t channels, ObserverOptions options = {});

  // Adds x [rows, channels] (row-major). A non-finite value adds nothing and returns its index in
  // x (row · channels + channel); otherwise returns −1.
  int64_t observe(const float* x, int64_t rows);

  int64_t channels() const { return int64_t(min_.size()); }
  int64_t count() const { return count_; }  // rows seen
  const std::vector<float>& min() const { return min_; }
  const std::vector<float>& max() const { return max_; }
  std::vector<float> absmax() const;
  std::vector<double> mean() const;
  // min/max as the quantizers take them.
  quant::ChannelStats stats() const;

  bool has_histogram() const { return !histogram_.empty(); }
  // The q-quantile (q in [0, 1]) of |x| in one channel, from the histogram (see above).
  double abs_percentile(int64_t channel, double q) const;
  // The same for every channel.
  std::vector<float> abs_percentiles(double q) const;

  // The statistics of x_j / s_j (an equivalent scaling applied after observing, s_j > 0): exact
  // for min, max and mean; a histogram cannot be rescaled exactly, so it is dropped (observe
  // again when percentiles are still needed).
  void divide_channels(const std::vector<float>& s);

  // Adds another observer's statistics (same channels and options).
  void merge(const ChannelObserver& other);

 private:
  std::vector<float> min_, max_;
  std::vector<double> sum_;
  std::vector<uint32_t> histogram_;  // [channels][kBins]
  int64_t count_ = 0;
};

// Summary of a channel range vector for reports: the largest value and its ratio to the median.
struct RangeSummary {
  float max = 0;
  float max_over_median = 0;
};
RangeSummary summarize(const std::vector<float>& absmax);

}  // namespace bitfold::calib
