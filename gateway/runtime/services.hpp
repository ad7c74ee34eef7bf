// The process-wide parts a client session uses. Owned by the gateway (app::gateway);
// every member is thread-safe.
#pragma once

#include <atomic>

#include "identity/overrides.hpp"
#include "limit/load_factors.hpp"
#include "limit/penalty_box.hpp"
#include "limit/scaling.hpp"
#include "runtime/circuit_breaker.hpp"
#include "runtime/snapshot.hpp"
#include "store/decision_backend.hpp"
#include "telemetry/access_log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/stats.hpp"

namespace sluice::app {

struct services {
  snapshot_holder& snapshots;
  decision_backend& backend;
  identity::overrides& overrides;
  const limit::scaling_sources& scaling;  // factors of adaptive and penalized limits
  net::circuit_breaker& breaker;
  admin::metrics& metrics;
  admin::stats& stats;
  net::access_log& log;
  std::atomic<bool>& draining;
  std::atomic<int>& open_sessions;          // client connections, all workers
  limit::penalty_box* penalties = nullptr;  // told every decision (issue 15, penalty box)
  limit::load_factors* load = nullptr;      // told when adaptive limits' requests go upstream
};

}  // namespace sluice::app
