#include "store/decision_backend.hpp"

#include <chrono>

namespace sluice::app {

limit::micros system_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool memory_backend::decide_now(limit::evaluation& ev, store_verdict& verdict) {
  verdict = store_.decide(ev.checks, ev.now, ev.decisions) ? store_verdict::admitted
                                                           : store_verdict::denied;
  return true;
}

net::awaitable<store_verdict> memory_backend::decide_async(limit::evaluation& ev) {
  store_verdict verdict;
  decide_now(ev, verdict);
  co_return verdict;
}

bool memory_backend::decide_keyed_now(keyed_decision& d, store_verdict& verdict) {
  // The checks' hashes already key their state (limit/rls_decision.cpp): names and
  // keys are the Redis backend's.
  verdict = store_.decide(d.checks, d.now, d.out) ? store_verdict::admitted : store_verdict::denied;
  return true;
}

net::awaitable<store_verdict> memory_backend::decide_keyed(keyed_decision& d) {
  store_verdict verdict;
  decide_keyed_now(d, verdict);
  co_return verdict;
}

net::awaitable<std::optional<limit::decision>> memory_backend::peek(
    const limit::compiled_limit& limit, const limit::limit_params& params, std::string key) {
  const limit::micros now = system_now_us();
  co_return store_.peek(limit::state_key(limit, key), limit::params_at(limit, params, now), now);
}

void finish_in_memory(limit::memory_store& store, const limit::evaluation& ev,
                      std::span<const std::int64_t> settled) {
  const limit::micros now = system_now_us();
  for (std::size_t i = 0; i < ev.checks.size(); ++i) {
    const limit::check& c = ev.checks[i];
    if (ev.holds(i)) store.release(c.key_hash, *c.params, now);
    if (ev.settles(i) && i < settled.size()) {
      store.settle(c.key_hash, *c.params, ev.now, c.cost, settled[i], now);
    }
  }
}

void memory_backend::finish(const limit::evaluation& ev, std::span<const std::int64_t> settled,
                            const net::asio::any_io_executor&) {
  finish_in_memory(store_, ev, settled);
}

net::awaitable<bool> memory_backend::reset(const limit::compiled_limit& limit, std::string key) {
  store_.reset(limit::state_key(limit, key));
  co_return true;
}

}  // namespace sluice::app
