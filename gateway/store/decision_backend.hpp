// Where decisions are stored: the in-process memory store, or Redis (several
// gateways). The session calls decide_now() first; a backend that needs a round
// trip returns false there and is awaited through decide_async(). The admin API
// peeks at and resets single keys through the same backend, so it sees what the
// gateway sees.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "limit/engine.hpp"
#include "limit/memory_store.hpp"
#include "net/asio.hpp"

namespace sluice::app {

enum class store_verdict { admitted, denied, unavailable };

// What the dashboard and /readyz say about the storage.
struct storage_status {
  std::string_view backend;  // "memory" | "redis"
  bool degraded = false;     // Redis unreachable: storage.on_error applies
  bool reachable = true;     // the shared storage answers (always true for memory)
  std::uint64_t errors = 0;  // failed round trips since start
};

// A decision that is not a proxy policy's: the rate limit service's descriptors
// (limit/rls_decision.hpp), each check naming its own state. Decided all-or-nothing, as
// one request (charge-each deciders pass one check at a time).
struct keyed_decision {
  std::span<const limit::check> checks;
  std::span<const std::string_view> names;  // per check: the state's name ("rls:<domain>:<unit>")
  std::span<const std::string> keys;        // per check: its key within that name
  std::span<limit::decision> out;           // per check
  limit::micros now = 0;                    // set by the caller; the clock the decision used after
  bool unchecked = false;                   // storage.on_error allow: admitted, nothing decided
};

class decision_backend {
 public:
  virtual ~decision_backend() = default;
  virtual bool is_redis() const = 0;

  // Decides ev.checks (ev.decisions filled) without waiting when the backend can;
  // returns false when a round trip is needed (then decide_async()).
  virtual bool decide_now(limit::evaluation& ev, store_verdict& verdict) = 0;
  virtual net::awaitable<store_verdict> decide_async(limit::evaluation& ev) = 0;

  // The same for a keyed decision: decide_keyed_now() first, decide_keyed() when it
  // returns false.
  virtual bool decide_keyed_now(keyed_decision& d, store_verdict& verdict) = 0;
  virtual net::awaitable<store_verdict> decide_keyed(keyed_decision& d) = 0;

  // The state of `key` under `limit` as a request of cost 0 would see it, charging
  // nothing; nullopt when the storage cannot be reached.
  virtual net::awaitable<std::optional<limit::decision>> peek(const limit::compiled_limit& limit,
                                                              const limit::limit_params& params,
                                                              std::string key) = 0;
  // Forgets `key` under `limit`; returns whether the storage could be reached.
  virtual net::awaitable<bool> reset(const limit::compiled_limit& limit, std::string key) = 0;

  // An admitted request's exchange has ended (its response relayed, failed, or its
  // client gone): gives back the slots it holds in concurrency limits
  // (evaluation::holds) and settles each cost from the response (evaluation::settles)
  // to `settled[check]` (per check of ev; equal to the check's cost: nothing to settle).
  // Once per admitted request, before `ev` is reused. Never waits: with Redis one call
  // per slot does both, sent and not awaited (one that fails leaves a slot to its lease
  // and a reserve as the cost).
  virtual void finish(const limit::evaluation& ev, std::span<const std::int64_t> settled,
                      const net::asio::any_io_executor& executor) = 0;

  virtual storage_status status() const = 0;
};

// The memory store as a backend. Owned by the gateway; thread-safe.
class memory_backend final : public decision_backend {
 public:
  explicit memory_backend(limit::memory_store& store) : store_(store) {}
  bool is_redis() const override { return false; }
  bool decide_now(limit::evaluation& ev, store_verdict& verdict) override;
  net::awaitable<store_verdict> decide_async(limit::evaluation& ev) override;
  bool decide_keyed_now(keyed_decision& d, store_verdict& verdict) override;
  net::awaitable<store_verdict> decide_keyed(keyed_decision& d) override;
  net::awaitable<std::optional<limit::decision>> peek(const limit::compiled_limit& limit,
                                                      const limit::limit_params& params,
                                                      std::string key) override;
  net::awaitable<bool> reset(const limit::compiled_limit& limit, std::string key) override;
  void finish(const limit::evaluation& ev, std::span<const std::int64_t> settled,
              const net::asio::any_io_executor& executor) override;
  storage_status status() const override { return {"memory", false, true, 0}; }

 private:
  limit::memory_store& store_;
};

// Unix time in microseconds (the memory backend's clock).
limit::micros system_now_us();

// decision_backend::finish() in the in-process store (the memory backend's, or the Redis
// backend's when it decided by storage.on_error: local).
void finish_in_memory(limit::memory_store& store, const limit::evaluation& ev,
                      std::span<const std::int64_t> settled);

}  // namespace sluice::app
