// The running gateway: owns the limiter state, the current configuration
// snapshot, the I/O workers, the listeners, the admin listener and the control
// thread (signals, reload, drain, periodic upkeep). Created once by main().
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "admin/admin_server.hpp"
#include "admin/metrics.hpp"
#include "app/decision_backend.hpp"
#include "app/services.hpp"
#include "app/snapshot.hpp"
#include "config/schema.hpp"
#include "http/access_log.hpp"
#include "http/circuit_breaker.hpp"
#include "http/session.hpp"
#include "identity/overrides.hpp"
#include "limit/memory_store.hpp"

namespace sluice::app {

struct reload_result {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line:col: field: message" lines
};

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
  reload_result reload();

  // Stops accepting, lets in-flight requests finish (up to server.drain_timeout),
  // then stops. Thread-safe; idempotent.
  void begin_drain();

 private:
  admin::admin_response handle_admin(const admin::admin_request& req);
  void start_upkeep();
  net::awaitable<void> upkeep();  // flushes the access log, sweeps idle limiter keys
  void watch_signals();

  std::string config_path_;
  std::uint64_t hash_seed_;
  std::uint64_t generation_ = 1;

  admin::metrics metrics_;
  limit::memory_store store_;
  identity::memory_overrides overrides_;
  net::circuit_breaker breaker_;
  std::unique_ptr<net::access_log> log_;
  memory_backend backend_;
  snapshot_holder snapshots_;
  std::atomic<bool> draining_{false};
  std::atomic<int> open_sessions_{0};
  services services_;

  net::asio::io_context control_;  // admin listener, signals, reload, upkeep
  std::vector<std::unique_ptr<net::worker>> workers_;
  std::vector<std::pair<net::worker*, std::unique_ptr<net::tcp::acceptor>>> acceptors_;
  std::vector<std::unique_ptr<net::tcp::acceptor>> admin_acceptors_;
  admin::admin_handler admin_handler_;
  std::unique_ptr<net::asio::signal_set> signals_;
  std::mutex reload_mutex_;
  std::atomic<bool> drain_started_{false};
};

}  // namespace sluice::app
