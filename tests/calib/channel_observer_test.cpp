// Channel observers against float64 references on random data at odd shapes: extremes and means
// over several calls, percentiles against exact sorted quantiles (within the documented bin
// width), rescaling, merging, and the refusal of non-finite values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "calib/channel_observer.h"

namespace bitfold::calib {
namespace {

std::vector<float> random_rows(int64_t rows, int64_t C, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * C));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < C; ++j) {
      // Channel j has its own scale and offset; channel 2 spans many octaves (log-normal).
      float v = normal(rng) * float(1 + j) + 0.1f * float(j);
      if (j == 2) v = std::exp(3.0f * normal(rng)) * (normal(rng) < 0 ? -1.0f : 1.0f);
      if (v == 0.0f) v = 0.5f;
      x[size_t(r * C + j)] = v;
    }
  return x;
}

TEST(ChannelObserver, ExtremesAndMeansMatchFloat64OverSeveralCalls) {
  for (int64_t C : {1, 5, 67, 130}) {
    ChannelObserver o(C);
    std::vector<double> lo(size_t(C), 1e300), hi(size_t(C), -1e300), sum(size_t(C), 0.0);
    int64_t rows_total = 0;
    for (int64_t rows : {1, 7, 33}) {
      const std::vector<float> x = random_rows(rows, C, uint32_t(C * 100 + rows));
      ASSERT_EQ(o.observe(x.data(), rows), -1);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < C; ++j) {
          const double v = x[size_t(r * C + j)];
          lo[size_t(j)] = std::min(lo[size_t(j)], v);
          hi[size_t(j)] = std::max(hi[size_t(j)], v);
          sum[size_t(j)] += v;
        }
      rows_total += rows;
    }
    EXPECT_EQ(o.count(), rows_total);
    const std::vector<float> absmax = o.absmax();
    const std::vector<double> mean = o.mean();
    const quant::ChannelStats stats = o.stats();
    for (int64_t j = 0; j < C; ++j) {
      EXPECT_EQ(double(o.min()[size_t(j)]), lo[size_t(j)]);
      EXPECT_EQ(double(o.max()[size_t(j)]), hi[size_t(j)]);
      EXPECT_EQ(double(absmax[size_t(j)]), std::max(-lo[size_t(j)], hi[size_t(j)]));
      EXPECT_NEAR(mean[size_t(j)], sum[size_t(j)] / double(rows_total), 1e-12 * (1 + std::fabs(sum[size_t(j)])));
      EXPECT_EQ(stats.min[size_t(j)], o.min()[size_t(j)]);
      EXPECT_EQ(stats.max[size_t(j)], o.max()[size_t(j)]);
    }
  }
}

TEST(ChannelObserver, PercentilesWithinOneBinOfTheExactQuantile) {
  const int64_t rows = 4001, C = 6;
  const std::vector<float> x = random_rows(rows, C, 9);
  ChannelObserver o(C, {.histogram = true});
  ASSERT_EQ(o.observe(x.data(), 2000), -1);
  ASSERT_EQ(o.observe(x.data() + 2000 * C, rows - 2000), -1);
  for (int64_t j = 0; j < C; ++j) {
    std::vector<double> a;
    for (int64_t r = 0; r < rows; ++r) a.push_back(std::fabs(double(x[size_t(r * C + j)])));
    std::sort(a.begin(), a.end());
    for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) {
      // The value of rank q·n; the estimate interpolates inside a bin 1/32 of its value wide.
      const double exact = a[size_t(std::ceil(q * double(rows))) - 1];
      const double estimate = o.abs_percentile(j, q);
      EXPECT_NEAR(estimate, exact, exact / 32.0 + 1e-12) << "channel " << j << " q " << q;
    }
    EXPECT_EQ(o.abs_percentile(j, 1.0), a.back());  // clamped to the exact absmax
  }
  EXPECT_EQ(o.abs_percentiles(0.5).size(), size_t(C));
}

TEST(ChannelObserver, NonFiniteValuesAreRefusedAndLeaveStatisticsAlone) {
  ChannelObserver o(3);
  const std::vector<float> good = {1, 2, 3};
  ASSERT_EQ(o.observe(good.data(), 1), -1);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const std::vector<float> x = {4, 5, 6, 7, bad, 9};
    EXPECT_EQ(o.observe(x.data(), 2), 4);
    EXPECT_EQ(o.count(), 1);
    EXPECT_EQ(o.max()[1], 2.0f);
  }
}

TEST(ChannelObserver, DividingChannelsRescalesExactlyAndDropsTheHistogram) {
  const std::vector<float> x = random_rows(20, 4, 3);
  ChannelObserver o(4, {.histogram = true});
  o.observe(x.data(), 20);
  const std::vector<float> lo = o.min(), hi = o.max();
  const std::vector<double> mean = o.mean();
  const std::vector<float> s = {2.0f, 0.5f, 3.0f, 1.0f};
  o.divide_channels(s);
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_EQ(o.min()[j], lo[j] / s[j]);
    EXPECT_EQ(o.max()[j], hi[j] / s[j]);
    EXPECT_NEAR(o.mean()[j], mean[j] / s[j], 1e-12);
  }
  EXPECT_FALSE(o.has_histogram());
}

TEST(ChannelObserver, MergeEqualsObservingBoth) {
  const std::vector<float> a = random_rows(10, 5, 1), b = random_rows(13, 5, 2);
  ChannelObserver both(5, {.histogram = true}), first(5, {.histogram = true}), second(5, {.histogram = true});
  both.observe(a.data(), 10);
  both.observe(b.data(), 13);
  first.observe(a.data(), 10);
  second.observe(b.data(), 13);
  first.merge(second);
  EXPECT_EQ(first.min(), both.min());
  EXPECT_EQ(first.max(), both.max());
  EXPECT_EQ(first.count(), both.count());
  for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(first.abs_percentile(j, 0.7), both.abs_percentile(j, 0.7));
}

TEST(RangeSummary, MaxAndRatioToTheMedian) {
  const RangeSummary r = summarize({1.0f, 4.0f, 2.0f, 8.0f, 3.0f});
  EXPECT_EQ(r.max, 8.0f);
  EXPECT_EQ(r.max_over_median, 8.0f / 3.0f);
}

}  // namespace
}  // namespace bitfold::calib
