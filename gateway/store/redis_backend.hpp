// Decisions shared by several gateways through Redis (storage.backend: redis,
// SPEC 7): one FCALL of Sluice's Functions library per request (EVALSHA on a Redis
// without Functions) evaluates and charges every applicable limit atomically on the
// Redis clock. Every command goes through a redis::router with the hash slot of its
// keys: one server (single, sentinel) or the slot's master (cluster).
//
// Keys: single and sentinel mode <key_prefix><limit>:<key> (as before: existing
// deployments keep their state); cluster mode <key_prefix>{<key>}:<limit>, the hash
// tag on the identity, so every limit keyed by one identity shares a slot. A request
// whose limits span slots (e.g. `global` plus a per-client limit) is decided by one
// call per slot, in parallel, admitted when every slot admits; when one denies (or
// fails), each slot that admitted gets the refund call (decide_script.hpp), sent at
// once without waiting for its reply: the 429 does not depend on it. A server that lost the library
// (FUNCTION FLUSH, a restart, a failover to a replica that never had it) answers "Function not
// found": the library is loaded and that call sent again, once; a server that does not know
// FUNCTION (Redis < 7.0) switches this backend to the EVAL scripts for good (NOSCRIPT answered with
// EVAL). Both loads are counted (rate_limit_redis_code_loads_total) and logged. When Redis fails
// (timeout, refused, error reply) storage.on_error applies: `local` decides with the in-process
// store, `allow` lets the request through without limits, `deny` answers 503 storage_unavailable.
// After a few consecutive failures Redis is skipped entirely — no request waits
// for a timeout while it is known to be down — and the control thread probes it
// until it answers again. All of this is per shard (router::shard_of): in cluster
// mode a dead master makes only the requests with a key in its slots follow
// on_error; the others keep deciding on Redis.
//
// Exact local denials (storage.redis.local_denials entries, limit/denial_cache.hpp):
// every answer teaches the cache what Redis holds for the request's keys; a request
// that Redis would certainly deny, with decisions the cache can compute exactly, is
// denied in decide_now() with no round trip. The cache forgets a key at its admin
// reset, everything when Redis (any shard) fails, comes back, lost the decision code (a restart
// or failover) or the key prefix changes; a tier change or reload that changes a
// limit's parameters makes what it learnt under the old ones unused.
//
// Local quota leases (a limit's `lease: { max_tokens, max_age }`, limit/lease_table.hpp):
// a request whose every limit is leased (unscaled) and holds a live lease with its cost
// left is admitted in decide_now() with no round trip, even while Redis is down (until
// the leases age out). Otherwise its single-slot round trip asks each leased limit for a
// top-up (up to max_tokens units charged with the request, when available) and keeps
// what Redis granted; a request whose limits span slots asks none. The control thread
// (probe(), every upkeep tick) gives the unspent units of aged-out leases back with the
// refund call, one per lease, never awaited by a request. The headers of a leased limit
// report as remaining Redis's remaining + what this gateway's lease holds.
// Counted: rate_limit_redis_calls_total{kind} (every call of the decision code:
// decide, peek, refund), rate_limit_lease_decisions_total (requests decided from
// leases), rate_limit_lease_tokens{limit} (units held now).
//
// Owned by the gateway; thread-safe (atomics; settings swapped at reload).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/schema.hpp"
#include "limit/denial_cache.hpp"
#include "limit/lease_table.hpp"
#include "redis/decide_script.hpp"
#include "redis/router.hpp"
#include "store/decision_backend.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::app {

class redis_backend final : public decision_backend {
 public:
  // Called for each request the local denial cache denies (rate_limit_local_denials_total
  // {scope}: the gateway resolves the scope through its current snapshot).
  using local_denial_counter = std::function<void(const limit::evaluation&)>;

  // The key layout follows storage.redis.mode as given here (a restart changes it).
  redis_backend(redis::router& router, limit::memory_store& local, admin::metrics& metrics,
                const config::storage_config& storage,
                local_denial_counter count_local_denial = {});

  // Applies reloaded storage settings (on_error, key_prefix; local_denials and mode
  // are read at construction only).
  void configure(const config::storage_config& storage);

  // Tests only, before the first request: `clock` replaces Redis TIME (sent as the
  // decision code's test-only "now" argument) and the local clock of the cache, so a
  // test replays traffic at chosen times. The cache then counts no clock drift.
  void use_clock_for_tests(std::function<limit::micros()> clock);

  // Requests denied from the local-denial cache since start; its entries (0: no cache).
  std::uint64_t local_denials() const { return local_denials_.load(std::memory_order_relaxed); }
  std::uint64_t local_denial_entries() const { return cache_ ? cache_->size() : 0; }
  // Requests decided from local leases since start; leases held now.
  std::uint64_t lease_decisions() const { return lease_decisions_.load(std::memory_order_relaxed); }
  std::size_t lease_entries() const { return leases_->size(); }

  bool is_redis() const override { return true; }
  bool decide_now(limit::evaluation& ev, store_verdict& verdict) override;
  net::awaitable<store_verdict> decide_async(limit::evaluation& ev) override;
  // Keyed decisions (the rate limit service) use neither the local-denial cache nor
  // leases; a multi-slot request in cluster mode is decided per slot, as the proxy's.
  bool decide_keyed_now(keyed_decision& d, store_verdict& verdict) override;
  net::awaitable<store_verdict> decide_keyed(keyed_decision& d) override;
  net::awaitable<std::optional<limit::decision>> peek(const limit::compiled_limit& limit,
                                                      const limit::limit_params& params,
                                                      std::string key) override;
  net::awaitable<bool> reset(const limit::compiled_limit& limit, std::string key) override;
  // One refund call per slot holding some of the request's concurrency slots or costs to
  // settle (decide_script.hpp: lease ids, "<reserved> <actual>"), spawned on `executor`.
  void finish(const limit::evaluation& ev, std::span<const std::int64_t> settled,
              const net::asio::any_io_executor& executor) override;
  storage_status status() const override;

  // For each degraded shard, checks whether it decides again: one script call that
  // writes <key_prefix>probe (cluster: <key_prefix>probe{<tag>}, the tag chosen to hash
  // to the slot that failed there, so the probe goes to that shard); a shard that no
  // longer serves that slot (a failover made another master its owner) is let go. The
  // control thread calls it a few times a second. Otherwise, with the local-denial
  // cache, reads <key_prefix>resets (in its own slot): an admin reset made on any
  // gateway (or Redis losing its keys) changes it, and the cache forgets everything.
  net::awaitable<void> probe();

  // The Redis key of `key` under `limit`: <key_prefix><limit>:<key>, or in cluster
  // mode <key_prefix>{<key>}:<limit>. An identity holding '{' or '}' (an API key) is
  // still one tag for one identity: the same text, the same slot.
  std::string redis_key(std::string_view limit_name, std::string_view key) const;
  // The slot that key is in (0 outside cluster mode: one server holds every key).
  std::uint16_t slot_of(std::string_view limit_name, std::string_view key) const;
  // The key the probe of `slot` writes.
  std::string probe_key(std::uint16_t slot) const;
  // How many shards are degraded now.
  int degraded_shards() const { return degraded_shards_.load(std::memory_order_acquire); }

 private:
  struct settings {
    config::storage_error_mode on_error;
    std::string key_prefix;
  };

  enum class call_kind { decide, peek, refund };
  // The command for these limits; its head (args[0], args[1]) is call_code()'s.
  // `now` (tests): the decision code's "now" argument.
  static std::vector<std::string> decision_command(std::span<const redis::script_limit> limits,
                                                   bool peek,
                                                   std::optional<limit::micros> now = {});
  // Sends a call of the decision code to `slot` (FCALL, or EVALSHA on a server
  // without Functions; loading the code again when that server lost it) and returns
  // its reply, or nullopt when there was none (counted).
  net::awaitable<std::optional<redis::reply>> call_code(std::uint16_t slot,
                                                        std::vector<std::string> args,
                                                        call_kind kind);
  // call_code() of a decide or peek, and the reply's integers; nullopt on any
  // failure (counted).
  net::awaitable<std::optional<std::vector<std::int64_t>>> run_decision(
      std::uint16_t slot, std::vector<std::string> args, bool peek);
  // A decide whose limits share `slot`, in one round trip: fills `out` (and `grants`,
  // one per limit, when the command asks for lease top-ups) and `decided_now` (Redis's
  // clock) and returns whether it admitted; nullopt when no usable answer came
  // (counted; `decided_now` is left as it was).
  net::awaitable<std::optional<bool>> decide_on_slot(std::uint16_t slot,
                                                     std::vector<std::string> args,
                                                     std::span<limit::decision> out,
                                                     std::span<std::int64_t> grants,
                                                     limit::micros& decided_now);
  // Each limit's slot (0 outside cluster mode) into `slots`; whether they are all one.
  bool slots_of(std::span<const redis::script_limit> limits,
                std::vector<std::uint16_t>& slots) const;
  // A request whose limits span slots: one decide per slot in parallel, refunds
  // where a slot admitted and the request is not. Fills `out` (in the request's order)
  // and `decided_now` (the clock of the slot that decided the outcome) and returns
  // whether it was admitted; nullopt when a slot gave no usable answer (on_error then
  // applies). `learn`: the proxy's evaluation the local-denial cache learns from (null:
  // none).
  net::awaitable<std::optional<bool>> decide_across_slots(
      std::vector<redis::script_limit> limits, std::vector<std::uint16_t> slots,
      std::span<limit::decision> out, limit::micros& decided_now, limit::micros sent,
      std::optional<limit::micros> now, const limit::evaluation* learn);
  // A request's limits, keyed as redis_key(name, key); a request holding concurrency
  // slots gets its lease id (ev.hold_id) here.
  std::vector<redis::script_limit> script_limits_of(limit::evaluation& ev);
  // A keyed decision's limits, keyed as redis_key(name, key).
  std::vector<redis::script_limit> script_limits_of(const keyed_decision& d) const;
  // Gives back what a decide on `slot` charged (args: a refund command, head blank;
  // `count` limits). Spawned, never awaited by a request.
  net::awaitable<void> refund(std::uint16_t slot, std::vector<std::string> args, std::size_t count);
  enum class load_outcome { loaded, unsupported, failed };
  // FUNCTION LOAD of the library on the server of `slot`. "Already exists" (another
  // request or gateway loaded it meanwhile: the name is the code's hash) counts as
  // loaded, and only a load that created it is counted and logged.
  net::awaitable<load_outcome> load_library(std::uint16_t slot);
  // Writes the command head (args[0], args[1]) for `via`.
  static void set_head(std::span<std::string_view> args, redis::decide_via via, call_kind kind);
  // From now on decisions use EVALSHA (the server has no Functions): logged once.
  void use_scripts(std::string_view why);
  // storage.on_error for a decision Redis did not make. `local` decides the checks in
  // the in-process store and `deny` answers unavailable; `allow` returns nullopt: each
  // fallback() says what letting it through means for its caller.
  std::optional<store_verdict> on_error(std::span<const limit::check> checks, limit::micros now,
                                        std::span<limit::decision> out);
  store_verdict fallback(limit::evaluation& ev);
  store_verdict fallback(keyed_decision& d);
  // A failed or succeeded round trip to the shard serving `slot`.
  void failed(std::uint16_t slot, std::string_view why);
  void succeeded(std::uint16_t slot);
  // Whether a request with keys in `slot` must follow on_error now (its shard is
  // degraded, or not connected: then counted as a failure).
  bool shard_down(std::uint16_t slot);

  // The local clock of the cache (steady microseconds, or the test clock).
  limit::micros local_now() const;
  // The cache's view of ev's limits (into a per-thread buffer: use before suspending).
  std::span<const limit::cache_probe> probes_of(const limit::evaluation& ev) const;
  // The cache's id of `key` under the limit named `name`.
  std::uint64_t cache_id(std::string_view name, std::string_view key) const;
  // Denies ev from the cache when it can (ev.decisions and ev.now filled, counted).
  bool deny_locally(limit::evaluation& ev);
  // Forgets everything the cache learnt (Redis failed, came back or lost its code).
  void forget_all();
  // ---- leases ----
  // The lease table's view of ev's limits when every one is leased and unscaled (into a
  // per-thread buffer), else empty.
  std::span<const limit::lease_probe> lease_probes_of(const limit::evaluation& ev) const;
  // Admits ev from its leases when it can (ev.decisions and ev.now filled, counted).
  bool take_leases(limit::evaluation& ev);
  // Queues unspent lease units for tend_leases() to give back (any thread).
  void return_leases(std::vector<limit::returned_lease> leases);
  // Control thread, every tick (probe()): gives back aged-out and queued leases with one
  // refund call each, spawned, and sets the gauge.
  net::awaitable<void> tend_leases();

  // probe()'s reading of <key_prefix>resets (control thread only).
  net::awaitable<void> watch_resets();
  static std::string new_resets_mark();

  // Failure state of one shard (router::shard_of; ids at or above max_shards share
  // the last entry). `slot`: the last slot that failed there, what the probe asks.
  struct shard_health {
    std::atomic<int> consecutive_failures{0};
    std::atomic<bool> degraded{false};
    std::atomic<std::uint16_t> slot{0};
  };
  static constexpr std::size_t max_shards = 1025;  // cluster_router::max_nodes + id 0
  shard_health& health_of(std::size_t shard) const;

  redis::router& router_;
  const bool cluster_keys_;  // storage.redis.mode cluster: <prefix>{<key>}:<limit>
  limit::memory_store& local_;
  admin::metrics& metrics_;
  local_denial_counter count_local_denial_;
  std::unique_ptr<limit::denial_cache> cache_;  // null: storage.redis.local_denials 0
  std::uint64_t cache_entries_ = 0;             // as configured at construction
  std::uint64_t cache_seed_ = 0;                // keys the cache ids (random per process)
  std::function<limit::micros()> test_clock_;
  std::atomic<std::uint64_t> local_denials_{0};
  std::optional<std::string> resets_seen_;  // watch_resets()' last reading
  std::atomic<std::shared_ptr<const settings>> settings_;
  // FCALL until the server shows it has no Functions; then EVALSHA until a restart.
  std::atomic<redis::decide_via> via_{redis::decide_via::function};
  std::atomic<std::int64_t> last_script_load_log_{0};  // steady seconds; one line a second
  std::unique_ptr<shard_health[]> shards_;
  std::atomic<std::size_t> highest_shard_{0};  // the highest shard id seen failing
  std::atomic<int> degraded_shards_{0};
  std::atomic<std::uint64_t> errors_{0};
  // Lease ids of concurrency slots: "<process id>:<sequence>", unique across gateways.
  std::string hold_prefix_;
  std::atomic<std::uint64_t> next_hold_{0};

  std::unique_ptr<limit::lease_table> leases_;
  std::mutex returns_mutex_;
  std::vector<limit::returned_lease> pending_returns_;  // guarded by returns_mutex_
  std::atomic<std::uint64_t> lease_decisions_{0};
  prometheus::Family<prometheus::Gauge>* lease_tokens_family_ = nullptr;
  std::unordered_map<std::string, prometheus::Gauge*> lease_tokens_;  // control thread only
  prometheus::Counter* lease_decisions_counter_ = nullptr;
  prometheus::Counter* calls_decide_ = nullptr;  // rate_limit_redis_calls_total{kind}
  prometheus::Counter* calls_peek_ = nullptr;
  prometheus::Counter* calls_refund_ = nullptr;
};

}  // namespace sluice::app
