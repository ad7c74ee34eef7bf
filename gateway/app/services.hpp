// The process-wide parts a client session uses. Owned by the gateway (app::gateway);
// every member is thread-safe.
#pragma once

#include <atomic>

#include "admin/metrics.hpp"
#include "admin/stats.hpp"
#include "app/decision_backend.hpp"
#include "app/snapshot.hpp"
#include "http/access_log.hpp"
#include "http/circuit_breaker.hpp"
#include "identity/overrides.hpp"

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
