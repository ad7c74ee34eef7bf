// Sluice's own request-path metric types against prometheus-cpp's: the same
// observations give the same exposition data (buckets, count, sum, counter value), and
// increments from several threads are all counted.
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "telemetry/event_counter.hpp"
#include "telemetry/event_histogram.hpp"

namespace sluice::admin {
namespace {

const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.1, 1};

// Exposed with the types of the prometheus-cpp metrics they stand for.
static_assert(event_histogram::metric_type == prometheus::MetricType::Histogram);
static_assert(event_counter::metric_type == prometheus::MetricType::Counter);

TEST(EventHistogram, CollectsWhatPrometheusCppsHistogramCollects) {
  event_histogram mine(bounds);
  prometheus::Histogram theirs(bounds);
  // Below, on and between every bound, above the last, zero, negative, infinite, NaN.
  std::vector<double> values = {0,
                                -1,
                                1e-9,
                                5,
                                std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN()};
  for (double b : bounds) {
    values.push_back(b);
    values.push_back(std::nextafter(b, 0.0));
    values.push_back(std::nextafter(b, 10.0));
  }
  for (double v : values) {
    mine.Observe(v);
    theirs.Observe(v);
  }
  const auto a = mine.Collect().histogram;
  const auto b = theirs.Collect().histogram;
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_TRUE(std::isnan(a.sample_sum) && std::isnan(b.sample_sum));  // NaN was observed
  ASSERT_EQ(a.bucket.size(), b.bucket.size());
  for (std::size_t i = 0; i < a.bucket.size(); ++i) {
    EXPECT_EQ(a.bucket[i].cumulative_count, b.bucket[i].cumulative_count) << i;
    EXPECT_EQ(a.bucket[i].upper_bound, b.bucket[i].upper_bound) << i;
  }
}

TEST(EventHistogram, SumsLikePrometheusCpp) {
  event_histogram mine(bounds);
  prometheus::Histogram theirs(bounds);
  for (double v : {0.0004, 0.003, 0.02, 0.5, 7.0}) {
    mine.Observe(v);
    theirs.Observe(v);
  }
  EXPECT_DOUBLE_EQ(mine.Collect().histogram.sample_sum, theirs.Collect().histogram.sample_sum);
  EXPECT_EQ(mine.Collect().histogram.sample_count, 5u);
}

TEST(EventCounter, CountsEveryIncrementFromEveryThread) {
  event_counter counter;
  event_histogram histogram(bounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        counter.Increment();
        histogram.Observe(0.002);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter.Value(), 40'000);
  EXPECT_EQ(counter.Collect().counter.value, 40'000);
  const auto h = histogram.Collect().histogram;
  EXPECT_EQ(h.sample_count, 40'000u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 0u);
  EXPECT_EQ(h.bucket[1].cumulative_count, 40'000u);  // le 0.0025
  EXPECT_NEAR(h.sample_sum, 80.0, 1e-6);
}

}  // namespace
}  // namespace sluice::admin
