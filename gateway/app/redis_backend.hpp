// Decisions shared by several gateways through Redis (storage.backend: redis,
// SPEC 7): one EVALSHA per request evaluates and charges every applicable limit
// atomically on the Redis clock. When Redis fails (timeout, refused, error reply)
// storage.on_error applies: `local` decides with the in-process store, `allow` lets
// the request through without limits, `deny` answers 503 storage_unavailable.
// After a few consecutive failures Redis is skipped entirely — no request waits
// for a timeout while it is known to be down — and the control thread probes it
// until it answers again.
//
// Owned by the gateway; thread-safe (atomics; settings swapped at reload).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "admin/metrics.hpp"
#include "app/decision_backend.hpp"
#include "config/schema.hpp"
#include "redis/client.hpp"

namespace sluice::app {

class redis_backend final : public decision_backend {
 public:
  redis_backend(redis::client& client, limit::memory_store& local, admin::metrics& metrics,
                const config::storage_config& storage);

  // Applies reloaded storage settings (on_error, key_prefix).
  void configure(const config::storage_config& storage);

  bool is_redis() const override { return true; }
  bool decide_now(limit::evaluation& ev, store_verdict& verdict) override;
  net::awaitable<store_verdict> decide_async(limit::evaluation& ev) override;
  net::awaitable<std::optional<limit::decision>> peek(const limit::compiled_limit& limit,
                                                      const limit::limit_params& params,
                                                      std::string key) override;
  net::awaitable<bool> reset(const limit::compiled_limit& limit, std::string key) override;
  storage_status status() const override;

  // While degraded, checks whether Redis decides again: one script call that writes
  // <key_prefix>probe (the control thread calls it a few times a second); a no-op
  // otherwise.
  net::awaitable<void> probe();

  // The Redis key of `key` under `limit`: <key_prefix><limit>:<key>.
  std::string redis_key(std::string_view limit_name, std::string_view key) const;

 private:
  struct settings {
    config::storage_error_mode on_error;
    std::string key_prefix;
  };

  // Sends EVALSHA (EVAL when the server lost the script) and returns the reply's
  // integers, or nullopt on any failure (counted).
  net::awaitable<std::optional<std::vector<std::int64_t>>> run_script(
      std::vector<std::string> args);
  store_verdict fallback(limit::evaluation& ev);
  void failed(std::string_view why);
  void succeeded();

  redis::client& client_;
  limit::memory_store& local_;
  admin::metrics& metrics_;
  std::atomic<std::shared_ptr<const settings>> settings_;
  const std::string sha_;  // SHA1 of the decision script, for EVALSHA
  std::atomic<int> consecutive_failures_{0};
  std::atomic<bool> degraded_{false};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace sluice::app
