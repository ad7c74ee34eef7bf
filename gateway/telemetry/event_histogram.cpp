#include "telemetry/event_histogram.hpp"

#include <algorithm>
#include <limits>

namespace sluice::admin {

event_histogram::event_histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1)) {}

void event_histogram::Observe(double value) {
  // The first bucket whose upper bound is >= value (Prometheus' `le`); a NaN lands in
  // the first, as in prometheus-cpp (tests/telemetry/event_metrics_test.cpp).
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

prometheus::ClientMetric event_histogram::Collect() const {
  prometheus::ClientMetric m;
  std::uint64_t cumulative = 0;
  m.histogram.bucket.reserve(upper_bounds_.size() + 1);
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    m.histogram.bucket.push_back({cumulative, i == upper_bounds_.size()
                                                  ? std::numeric_limits<double>::infinity()
                                                  : upper_bounds_[i]});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum_.load(std::memory_order_relaxed);
  return m;
}

}  // namespace sluice::admin
