// Load-aware limits' control-thread side (issue 15): every tick it moves the factors
// (limit::load_factors::tick), sets rate_limit_adaptive_factor{limit}, logs a factor
// that moved more than 10% since its last log line, and with the Redis backend makes
// the fleet agree:
//
//   <key_prefix>adaptive:<limit>   a hash: field = this process's random id, value =
//                                  "<factor> <expiry in Redis ms>"
//
// One EVAL per adaptive limit and tick writes this gateway's factor (fresh for 2 s on
// the Redis clock, so gateway clocks do not matter), deletes expired fields (gateways
// that stopped), and returns the other gateways' fresh factors; the lowest of them and
// this gateway's own applies here. So every gateway applies the same factor within one
// tick of the most loaded one. The hash is one key: in a Redis Cluster it lives in the
// slot of its name. Without Redis, or while it is unreachable, each gateway applies
// its own factor (the fleet's values are dropped at the first tick that cannot read
// them) and nothing waits on Redis (the request path never touches it).
//
// Owned by the gateway; tick() runs on the control thread; readings() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "limit/load_factors.hpp"
#include "limit/policy.hpp"
#include "net/asio.hpp"
#include "redis/router.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::app {

class shared_load_factors {
 public:
  static constexpr limit::micros fresh_for = 2 * limit::micros_per_second;

  // `router` null: each gateway applies its own factors.
  shared_load_factors(limit::load_factors& factors, redis::router* router, std::string key_prefix);

  void set_key_prefix(std::string key_prefix) {  // any thread (a reload)
    key_prefix_.store(std::make_shared<const std::string>(std::move(key_prefix)));
  }

  // One tick for the adaptive limits of `pol` (which must outlive the call).
  net::awaitable<void> tick(const limit::policy& pol, admin::metrics& metrics);

  // What the last tick concluded, for /admin/stats and the dashboard.
  std::vector<limit::load_factors::reading> readings() const;

 private:
  limit::load_factors& factors_;
  redis::router* router_;
  std::atomic<std::shared_ptr<const std::string>> key_prefix_;
  std::string id_;  // this process's field in the hashes
  mutable std::mutex readings_mutex_;
  std::vector<limit::load_factors::reading> readings_;
};

}  // namespace sluice::app
