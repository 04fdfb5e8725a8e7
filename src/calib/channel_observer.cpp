#include "calib/channel_observer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"

namespace bitfold::calib {

namespace {

constexpr int64_t kChunk = 64;  // channels per parallel item
constexpr int64_t kParallelElements = 1 << 18;

// Histogram bin of |v| from its float bits: (exponent − kMinExponent)·32 + top 5 mantissa bits.
inline int bin_of(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits &= 0x7FFFFFFFu;
  const int exponent = int(bits >> 23) - 127;
  const int bin = (exponent - ChannelObserver::kMinExponent) * ChannelObserver::kBinsPerOctave +
                  int((bits >> 18) & 31u);
  return std::clamp(bin, 0, ChannelObserver::kBins - 1);
}

// Lower edge of a bin.
inline double bin_low(int bin) {
  const int octave = bin / ChannelObserver::kBinsPerOctave;
  const int sub = bin % ChannelObserver::kBinsPerOctave;
  return std::ldexp(1.0 + double(sub) / ChannelObserver::kBinsPerOctave,
                    octave + ChannelObserver::kMinExponent);
}

}  // namespace

ChannelObserver::ChannelObserver(int64_t channels, ObserverOptions options)
    : min_(size_t(channels), std::numeric_limits<float>::infinity()),
      max_(size_t(channels), -std::numeric_limits<float>::infinity()),
      sum_(size_t(channels), 0.0) {
  if (options.histogram) histogram_.assign(size_t(channels) * kBins, 0u);
}

int64_t ChannelObserver::observe(const float* x, int64_t rows) {
  const int64_t C = channels();
  // Finiteness first, so a bad tensor leaves the statistics untouched.
  for (int64_t i = 0; i < rows * C; ++i)
    if (!std::isfinite(x[i])) return i;
  const auto chunk_stats = [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk, end = std::min(C, begin + kChunk);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * C;
      for (int64_t j = begin; j < end; ++j) {
        const float v = row[j];
        min_[size_t(j)] = std::min(min_[size_t(j)], v);
        max_[size_t(j)] = std::max(max_[size_t(j)], v);
        sum_[size_t(j)] += double(v);
      }
      if (!histogram_.empty())
        for (int64_t j = begin; j < end; ++j) ++histogram_[size_t(j) * kBins + size_t(bin_of(row[j]))];
    }
  };
  const int64_t chunks = (C + kChunk - 1) / kChunk;
  // A parallel region costs more than it saves on small tensors, and far more when the machine is
  // oversubscribed (a region waits for a descheduled thread).
  if (rows * C < kParallelElements) {
    for (int64_t chunk = 0; chunk < chunks; ++chunk) chunk_stats(chunk);
  } else {
    parallel_for(chunks, chunk_stats);
  }
  count_ += rows;
  return -1;
}

std::vector<float> ChannelObserver::absmax() const {
  std::vector<float> a(min_.size());
  for (size_t j = 0; j < a.size(); ++j) a[j] = count_ > 0 ? std::max(-min_[j], max_[j]) : 0.0f;
  return a;
}

std::vector<double> ChannelObserver::mean() const {
  std::vector<double> m(sum_.size(), 0.0);
  if (count_ > 0)
    for (size_t j = 0; j < m.size(); ++j) m[j] = sum_[j] / double(count_);
  return m;
}

quant::ChannelStats ChannelObserver::stats() const {
  quant::ChannelStats s;
  if (count_ == 0) {
    s.min.assign(min_.size(), 0.0f);
    s.max.assign(max_.size(), 0.0f);
    return s;
  }
  s.min = min_;
  s.max = max_;
  return s;
}

double ChannelObserver::abs_percentile(int64_t channel, double q) const {
  BITFOLD_CHECK(has_histogram(), "abs_percentile without a histogram");
  BITFOLD_CHECK(channel >= 0 && channel < channels(), "channel {} of {}", channel, channels());
  if (count_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const uint32_t* h = histogram_.data() + size_t(channel) * kBins;
  const double target = q * double(count_);
  const double top = std::max(-double(min_[size_t(channel)]), double(max_[size_t(channel)]));
  double seen = 0;
  for (int b = 0; b < kBins; ++b) {
    if (h[b] == 0) continue;
    if (seen + h[b] >= target) {
      const double fraction = (target - seen) / double(h[b]);
      const double low = b == 0 ? 0.0 : bin_low(b);
      const double high = b + 1 < kBins ? bin_low(b + 1) : top;
      return std::min(top, low + fraction * (high - low));
    }
    seen += h[b];
  }
  return top;
}

std::vector<float> ChannelObserver::abs_percentiles(double q) const {
  std::vector<float> p(static_cast<size_t>(channels()));
  for (int64_t j = 0; j < channels(); ++j) p[size_t(j)] = float(abs_percentile(j, q));
  return p;
}

void ChannelObserver::divide_channels(const std::vector<float>& s) {
  BITFOLD_CHECK(int64_t(s.size()) == channels(), "{} scales for {} channels", s.size(), channels());
  for (size_t j = 0; j < s.size(); ++j) {
    BITFOLD_CHECK(s[j] > 0, "channel scale {} of channel {}", s[j], j);
    min_[j] /= s[j];
    max_[j] /= s[j];
    sum_[j] /= double(s[j]);
  }
  histogram_.clear();
}

void ChannelObserver::merge(const ChannelObserver& other) {
  BITFOLD_CHECK(other.channels() == channels() && other.has_histogram() == has_histogram(),
                "merging observers of different shapes");
  for (size_t j = 0; j < min_.size(); ++j) {
    min_[j] = std::min(min_[j], other.min_[j]);
    max_[j] = std::max(max_[j], other.max_[j]);
    sum_[j] += other.sum_[j];
  }
  for (size_t i = 0; i < histogram_.size(); ++i) histogram_[i] += other.histogram_[i];
  count_ += other.count_;
}

RangeSummary summarize(const std::vector<float>& absmax) {
  RangeSummary r;
  if (absmax.empty()) return r;
  std::vector<float> sorted = absmax;
  std::sort(sorted.begin(), sorted.end());
  r.max = sorted.back();
  const float median = sorted[sorted.size() / 2];
  r.max_over_median = median > 0 ? r.max / median : std::numeric_limits<float>::infinity();
  return r;
}

}  // namespace bitfold::calib
