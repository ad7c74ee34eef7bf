// concurrency: at most N requests of one key in flight at once (issue 14's in-flight
// limits). A request takes a slot when it is admitted and gives it back when its
// response has ended or its client left (release()); a slot that is never given back
// (a crashed gateway, a request that outlives it) is given up after the lease
// (limit_params::period), so capacity cannot leak forever.
//
// The verdict is a function of how many slots are held (verdict_for), shared by the
// memory store's state below and the Redis mirror (concurrency.lua), whose state is a
// sorted set with one member per held slot, scored by when its lease ends.
#pragma once

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::concurrency {

// A full key's 429 says to retry after a second: a slot may free at any moment, and
// nothing tells when.
inline constexpr micros retry_after = micros_per_second;

// The decision of a request of `cost` (1, or 0 for a peek) when `held` slots are held.
decision verdict_for(const limit_params& p, std::int64_t held, std::int64_t cost);

// The memory store's state: how many slots are held, and when they are given up
// (the lease from the latest acquisition: the memory store keeps one expiry per key).
struct state {
  std::int64_t held = 0;
  micros expires_at = 0;
  friend bool operator==(const state&, const state&) = default;
};
static_assert(sizeof(state) == 16);

struct result {
  decision verdict;
  state next;
  micros expires_at;  // when the state equals a fresh one (now: nothing held)
};

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost);

// Gives one slot back.
result release(const limit_params& p, const state& s, micros now);

}  // namespace sluice::limit::concurrency
