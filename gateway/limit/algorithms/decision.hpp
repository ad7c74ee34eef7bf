// The outcome of one limit for one request, shared by the five rate-limit algorithms
// (and mirrored by decision.lua). Their parameters (limit_params, micros, the algorithm
// names) are in config/limit_params.hpp, where the config loader validates them.
#pragma once

#include <cstdint>

#include "config/limit_params.hpp"

namespace sluice::limit {

// The outcome of one limit for one request.
struct decision {
  bool allowed = false;
  bool cost_exceeds_limit = false;  // the cost can never fit in this limit
  std::int64_t limit = 0;           // capacity (buckets) or N (windows)
  std::int64_t remaining = 0;       // whole units left after this request (or now, if denied)
  micros reset = 0;                 // until fully replenished (buckets) / window end (windows)
  micros retry_after = 0;           // denied: smallest wait after which this request passes
  micros delay = 0;                 // leaky_bucket shaping: allowed, but hold this long first

  friend bool operator==(const decision&, const decision&) = default;
};

}  // namespace sluice::limit
