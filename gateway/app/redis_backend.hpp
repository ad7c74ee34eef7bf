// Decisions shared by several gateways through Redis (storage.backend: redis,
// SPEC 7): one FCALL of Sluice's Functions library per request (EVALSHA on a Redis
// without Functions) evaluates and charges every applicable limit atomically on the
// Redis clock. A server that lost the library (FUNCTION FLUSH, a restart, a failover
// to a replica that never had it) answers "Function not found": the library is loaded
// and that call sent again, once; a server that does not know FUNCTION (Redis < 7.0)
// switches this backend to the EVAL scripts for good (NOSCRIPT answered with EVAL).
// Both loads are counted (rate_limit_redis_code_loads_total) and logged.
// When Redis fails (timeout, refused, error reply)
// storage.on_error applies: `local` decides with the in-process store, `allow` lets
// the request through without limits, `deny` answers 503 storage_unavailable.
// After a few consecutive failures Redis is skipped entirely — no request waits
// for a timeout while it is known to be down — and the control thread probes it
// until it answers again.
//
// Owned by the gateway; thread-safe (atomics; settings swapped at reload).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/metrics.hpp"
#include "app/decision_backend.hpp"
#include "config/schema.hpp"
#include "redis/client.hpp"
#include "redis/decide_script.hpp"

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

  // The command for these limits; its head (args[0], args[1]) is run_decision()'s.
  static std::vector<std::string> decision_command(std::span<const redis::script_limit> limits,
                                                   bool peek);
  // Sends the decision (FCALL, or EVALSHA on a server without Functions; loading the
  // code again when the server lost it) and returns the reply's integers, or nullopt
  // on any failure (counted).
  net::awaitable<std::optional<std::vector<std::int64_t>>> run_decision(
      std::vector<std::string> args, bool peek);
  enum class load_outcome { loaded, unsupported, failed };
  // FUNCTION LOAD of the library. "Already exists" (another request or gateway loaded
  // it meanwhile: the name is the code's hash) counts as loaded, and only a load that
  // created it is counted and logged.
  net::awaitable<load_outcome> load_library();
  // Writes the command head (args[0], args[1]) for `via`.
  static void set_head(std::span<std::string_view> args, redis::decide_via via, bool peek);
  // From now on decisions use EVALSHA (the server has no Functions): logged once.
  void use_scripts(std::string_view why);
  store_verdict fallback(limit::evaluation& ev);
  void failed(std::string_view why);
  void succeeded();

  redis::client& client_;
  limit::memory_store& local_;
  admin::metrics& metrics_;
  std::atomic<std::shared_ptr<const settings>> settings_;
  // FCALL until the server shows it has no Functions; then EVALSHA until a restart.
  std::atomic<redis::decide_via> via_{redis::decide_via::function};
  std::atomic<std::int64_t> last_script_load_log_{0};  // steady seconds; one line a second
  std::atomic<int> consecutive_failures_{0};
  std::atomic<bool> degraded_{false};
  std::atomic<std::uint64_t> errors_{0};
};

}  // namespace sluice::app
