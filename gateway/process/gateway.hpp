// The running gateway: owns the limiter state, the current configuration
// snapshot, the decision backend (memory, or Redis with its client), the I/O
// workers, the listeners, the admin listener and the control thread (signals,
// reload, file watching, drain, periodic upkeep). Created once by main().
#pragma once

#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.hpp"
#include "admin/admin_server.hpp"
#include "config/defaults.hpp"
#include "config/schema.hpp"
#include "http/listener.hpp"
#include "http/session.hpp"
#include "identity/overrides.hpp"
#include "limit/memory_store.hpp"
#include "process/file_watcher.hpp"
#include "redis/client.hpp"
#include "redis/sentinel.hpp"
#include "rls/decider.hpp"
#include "rls/service.hpp"
#include "runtime/circuit_breaker.hpp"
#include "runtime/services.hpp"
#include "runtime/snapshot.hpp"
#include "store/decision_backend.hpp"
#include "store/redis_backend.hpp"
#include "store/runtime_entries.hpp"
#include "store/shared_load_factors.hpp"
#include "store/shared_penalties.hpp"
#include "telemetry/access_log.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/stats.hpp"
#include "util/open_files.hpp"

namespace sluice::app {

class gateway {
 public:
  // Binds every listener (throws std::runtime_error when one cannot be bound or
  // the upstream cannot be resolved).
  gateway(std::string config_path, config::loaded_config initial);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Serves until SIGTERM/SIGINT and a graceful drain; returns the exit code.
  int run();

  // Loads the configuration again and swaps it in when valid (SPEC 8).
  // Thread-safe; concurrent reloads are serialized.
  admin::reload_result reload();

  // Stops accepting, lets in-flight requests finish (up to server.drain_timeout),
  // then stops. Thread-safe; idempotent.
  void begin_drain();

 private:
  void start_upkeep();
  net::awaitable<void> upkeep();  // log flush, Redis probe, shared entries, limiter sweep
  void watch_signals();
  void watch_files(const config::server_config& server);
  // server.max_connections (derived from the open-file limit when 0); logged at start
  // and when a reload changes it.
  void apply_connection_limit(const config::server_config& server, bool at_start);

  std::string config_path_;
  std::uint64_t hash_seed_;
  std::uint64_t generation_ = 1;
  config::storage_backend backend_kind_;  // fixed at startup

  admin::metrics metrics_;
  admin::stats stats_;
  limit::memory_store store_;
  identity::memory_overrides overrides_;
  net::circuit_breaker breaker_;
  limit::penalty_box penalty_box_{config::defaults::penalty_max_keys};  // a scaling source
  limit::load_factors load_factors_;  // a scaling source, ticked by upkeep()
  limit::scaling_sources scaling_;    // load-aware limits and the penalty box add theirs
  std::unique_ptr<net::access_log> log_;
  std::unique_ptr<redis::client> redis_client_;        // only with storage.backend: redis
  std::unique_ptr<redis::router> redis_router_;        // where the backend's commands go
  std::unique_ptr<redis::sentinel_watcher> sentinel_;  // only with storage.redis.mode: sentinel
  std::unique_ptr<decision_backend> backend_;
  redis_backend* redis_backend_ = nullptr;  // backend_ when it is the Redis one
  std::unique_ptr<runtime_entries> entries_;
  std::unique_ptr<shared_load_factors> load_shares_;  // load_factors_' ticks, gauge, fleet
  std::unique_ptr<shared_penalties> penalties_;       // penalty_box_'s log, gauge and Redis sharing
  snapshot_holder snapshots_;
  admin::reload_history reloads_;
  std::atomic<bool> draining_{false};
  std::atomic<int> open_sessions_{0};
  open_file_limit open_files_;         // RLIMIT_NOFILE, raised at start
  net::connection_limit connections_;  // server.max_connections
  std::unique_ptr<services> services_;
  std::unique_ptr<rls::decider> rls_decider_;  // only with `rls` at start; gRPC and /json
  std::unique_ptr<admin::admin_api> admin_api_;
  std::unique_ptr<rls::rate_limit_service> rls_;  // only with `rls` at start

  net::asio::io_context control_;  // admin listener, signals, reload, upkeep
  std::vector<std::unique_ptr<net::worker>> workers_;
  struct client_acceptor {
    net::worker* worker;
    net::listener_info listener;
    std::unique_ptr<net::tcp::acceptor> acceptor;
  };
  std::vector<client_acceptor> acceptors_;
  std::vector<std::unique_ptr<net::tcp::acceptor>> admin_acceptors_;
  admin::admin_handler admin_handler_;
  admin::admin_peer_check admin_allows_;
  std::unique_ptr<file_watcher> watcher_;
  std::unique_ptr<net::asio::signal_set> signals_;
  std::mutex reload_mutex_;
  std::atomic<bool> drain_started_{false};
};

}  // namespace sluice::app
