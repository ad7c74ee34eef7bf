// One complete, validated configuration as the request path uses it: the loaded
// config, the compiled policy, the resolved upstream and the metric handles.
// Built off the request path (startup, reload); immutable afterwards. Requests
// hold it through std::shared_ptr from their first step to their last, so a
// reload never changes the configuration under a running request (SPEC 8).
#pragma once

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/schema.hpp"
#include "limit/engine.hpp"
#include "limit/policy.hpp"
#include "limit/rls_decision.hpp"
#include "runtime/upstream_target.hpp"
#include "telemetry/metrics.hpp"
#include "tls/configured_contexts.hpp"

namespace sluice::app {

struct snapshot {
  snapshot(config::loaded_config cfg, std::uint64_t hash_seed, admin::metrics& m,
           net::upstream_target upstream_target,
           std::vector<std::shared_ptr<const tls::server_context>> tls_contexts);

  // The TLS context of `listen` entry `listener` (the acceptor's index at start), or
  // null when this configuration has no TLS there (listen changes take a restart).
  const std::shared_ptr<const tls::server_context>& tls_context(std::size_t listener) const;

  config::loaded_config config;
  limit::policy policy;
  net::upstream_target upstream;
  std::string upstream_host;  // Host for requests that arrive without one
  admin::route_metrics metrics;
  std::vector<cidr> trusted_proxies;
  limit::micros loaded_at = 0;
  // One per config.listen entry (tls/configured_contexts.hpp); null for plain HTTP.
  std::vector<std::shared_ptr<const tls::server_context>> tls_contexts;
  // The rate limit service's configuration compiled (null: no `rls`).
  std::shared_ptr<const limit::rls_policy> rls;
};

// Builds a snapshot, resolving the upstream host and loading the TLS contexts
// (tls/configured_contexts.hpp). Throws snapshot_error with "file:line:col: field: message" lines
// for certificates that cannot be used, std::runtime_error naming the upstream when it cannot be
// resolved.
struct snapshot_error : std::runtime_error {
  explicit snapshot_error(std::vector<config::config_error> e);
  std::vector<config::config_error> errors;
};
std::shared_ptr<const snapshot> build_snapshot(config::loaded_config cfg, std::uint64_t hash_seed,
                                               admin::metrics& m, std::uint64_t generation);

// The current snapshot. Thread-safe: readers copy the pointer, a reload swaps it.
class snapshot_holder {
 public:
  std::shared_ptr<const snapshot> get() const { return current_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const snapshot> s) {
    current_.store(std::move(s), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const snapshot>> current_;
};

// Counts a request the Redis backend's local denial cache denied in
// rate_limit_local_denials_total{scope} of the current snapshot's routes, when `ev` was
// evaluated against that snapshot's policy (store/redis_backend.hpp calls it).
void count_local_denial(const snapshot_holder& snapshots, const limit::evaluation& ev);

}  // namespace sluice::app
