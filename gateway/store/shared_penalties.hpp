// The penalty box's control-thread side (issue 15): logs and counts keys boxed here,
// sets the boxed-keys gauge, and with the Redis backend shares penalties with every
// gateway, the way runtime_entries shares admin entries (the request path only reads
// the in-process box; Redis is touched once a second from the control thread).
//
//   <key_prefix>penalties   a sorted set: member "<limit>\0<key text>", score = the
//                           penalty's end in Unix milliseconds
//
// sync() (every second) publishes the keys boxed here since the last call (ZADD, then
// the ended ones and all beyond max_shared, those ending first, are trimmed), then
// reads the penalties still running (at most max_shared) and boxes them here too, at
// this gateway's own factor for that limit and for at most its own duration; a shared
// penalty missing from a complete read was removed elsewhere and is removed here. So
// a key boxed on one gateway is boxed on every other within about a second (the
// upkeep period), never on the request path. One key: in a Redis Cluster it lives in
// the slot of its name, read and written through that slot's master. Without Redis,
// or while it is unreachable, local boxes apply and nothing waits on it.
//
// Owned by the gateway; sync and remove run on the control thread (coroutines there);
// set_key_prefix is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "limit/penalty_box.hpp"
#include "limit/policy.hpp"
#include "net/asio.hpp"
#include "redis/router.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::app {

class shared_penalties {
 public:
  // Penalties read from Redis per sync, and kept in the sorted set.
  static constexpr std::size_t max_shared = 10'000;
  // "boxed" log lines per sync; more are summed up in one line.
  static constexpr std::size_t max_log_lines = 10;

  // `router` null: penalties stay in this process.
  shared_penalties(limit::penalty_box& box, redis::router* router, std::string key_prefix);

  void set_key_prefix(std::string key_prefix) {  // any thread (a reload)
    key_prefix_.store(std::make_shared<const std::string>(std::move(key_prefix)));
  }
  bool shared() const { return router_ != nullptr; }
  limit::penalty_box& box() { return box_; }

  // Logs and publishes what was boxed here, learns what was boxed elsewhere, and sets
  // rm's rate_limit_penalized_keys. `pol` and `rm` must outlive the call.
  net::awaitable<void> sync(const limit::policy& pol, const admin::route_metrics& rm,
                            limit::micros now);

  // DELETE /admin/penalties/<limit>/<key>: removes the penalty in Redis, then here.
  enum class removal { removed, not_boxed, unavailable };
  net::awaitable<removal> remove(const limit::compiled_limit& limit, std::string key,
                                 limit::micros now);

 private:
  std::string set_key() const { return *key_prefix_.load() + "penalties"; }

  limit::penalty_box& box_;
  redis::router* router_;
  std::atomic<std::shared_ptr<const std::string>> key_prefix_;
  // Bumped by every remove(): a read that overlapped one must not box the key again.
  std::uint64_t removals_ = 0;
};

// "<limit>\0<key>" and back (false when malformed).
std::string penalty_member(std::string_view limit, std::string_view key);
bool parse_penalty_member(std::string_view member, std::string_view& limit, std::string_view& key);

}  // namespace sluice::app
