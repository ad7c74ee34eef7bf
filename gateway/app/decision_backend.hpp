// Where decisions are stored: the in-process memory store, or Redis (several
// gateways). The session calls decide_now() first; a backend that needs a round
// trip returns false there and is awaited through decide_async().
#pragma once

#include <optional>

#include "http/net.hpp"
#include "limit/engine.hpp"
#include "limit/memory_store.hpp"

namespace sluice::app {

enum class store_verdict { admitted, denied, unavailable };

class decision_backend {
 public:
  virtual ~decision_backend() = default;
  virtual bool is_redis() const = 0;
  // Decides without waiting when the backend can; returns false otherwise.
  virtual bool decide_now(limit::evaluation& ev, store_verdict& verdict) = 0;
  virtual net::awaitable<store_verdict> decide_async(limit::evaluation& ev) = 0;
};

// The memory store as a backend. Owned by the gateway; thread-safe.
class memory_backend final : public decision_backend {
 public:
  explicit memory_backend(limit::memory_store& store) : store_(store) {}
  bool is_redis() const override { return false; }
  bool decide_now(limit::evaluation& ev, store_verdict& verdict) override {
    verdict = store_.decide(ev.checks, ev.now, ev.decisions) ? store_verdict::admitted
                                                             : store_verdict::denied;
    return true;
  }
  net::awaitable<store_verdict> decide_async(limit::evaluation& ev) override {
    store_verdict v;
    decide_now(ev, v);
    co_return v;
  }

 private:
  limit::memory_store& store_;
};

}  // namespace sluice::app
