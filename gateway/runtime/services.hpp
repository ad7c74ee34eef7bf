// The process-wide parts a client session uses. Owned by the gateway (app::gateway);
// every member is thread-safe.
#pragma once

#include <atomic>

#include "identity/overrides.hpp"
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
  net::circuit_breaker& breaker;
  admin::metrics& metrics;
  admin::stats& stats;
  net::access_log& log;
  std::atomic<bool>& draining;
  std::atomic<int>& open_sessions;  // client connections, all workers
};

}  // namespace sluice::app
