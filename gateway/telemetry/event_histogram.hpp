// A Prometheus histogram for the request path: a relaxed atomic add for the bucket and
// one for the sum (a compare-exchange loop for a double, uncontended here).
// prometheus::Histogram (prometheus-cpp 1.0.1) takes a mutex and adds two doubles in
// compare-exchange loops, through the shared library: about 180 instructions per
// observation (callgrind), once for every decided request and once for every upstream
// answer. Collected by labelled_family and exposed exactly as prometheus-cpp's own:
// cumulative buckets ending with +Inf, the count and the sum.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace sluice::admin {

class event_histogram {
 public:
  static constexpr prometheus::MetricType metric_type = prometheus::MetricType::Histogram;

  // `upper_bounds` ascending; a last bucket (+Inf) takes the rest.
  explicit event_histogram(std::vector<double> upper_bounds);

  void Observe(double value);
  prometheus::ClientMetric Collect() const;

 private:
  const std::vector<double> upper_bounds_;
  const std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // [upper_bounds_.size() + 1]
  std::atomic<double> sum_{0};
};

}  // namespace sluice::admin
