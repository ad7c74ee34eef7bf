// Exact local denials for the Redis backend (issue 9 part 3): what this gateway has
// learnt about the state of Redis keys from Redis's own answers, so that a request
// Redis would certainly deny is denied here, with the very decisions (and so headers)
// Redis would have given, without a round trip.
//
// Why it is exact. Every algorithm is monotone: without traffic a key only refills
// (debt drains, windows slide), and traffic only adds usage; so a request that a state
// S denies at time t is denied by every state with at least S's usage at any time up
// to t. An answer from Redis at Redis time `at` for cost c pins down S, or enough of it:
//   - token_bucket / leaky_bucket: the debt at `at` lies in a range [lo, hi] found by
//     inverting the pure algorithm (bucket::evaluate) on the answer's fields (one point
//     when the emission interval is a whole number of microseconds); a projection is
//     used only when lo and hi give the same decision, which every debt between them
//     then gives too (each field is monotone in the debt);
//   - fixed_window: window start and usage (exactly);
//   - sliding_window, sliding_log: the state exactly when it was empty before the
//     answer (then nothing older can matter) and followed from there through the
//     answers that charged it (a log as its count, oldest and newest entry: exact
//     until the oldest leaves the window), else only a "pinned" denial: denied for
//     cost c with remaining == c - 1 stays denied with the same remaining, reset and
//     retry_after counting down, until retry_after has passed (remaining never falls
//     without traffic and cannot reach c while c is denied).
// A later request is decided here only when every one of its limits projects to a
// known decision at the estimated Redis time and an enforced one denies; the pure
// algorithms compute the projections, so they are the decisions Redis would return.
// The estimated Redis time is `at` plus the local time elapsed since the request that
// taught it was *sent* (the answer was computed later than that, so the estimate is
// never behind Redis's clock), stretched by `drift_ppm` for clock-rate differences:
// a local denial never outlives Redis's.
//
// What makes knowledge stale is handled by its owner: each later answer for a key
// replaces or advances it (an answer older than what is known is ignored; a charge
// seen for a key the cache does not hold blocks learning older answers about keys of
// its set); answers sent before forget()/clear() are not learnt. Traffic through
// other gateways only adds usage, so it never makes a local denial wrong (only its
// remaining/retry_after lower than Redis's would be); an admin reset on another
// gateway does, for at most the retry_after the cache holds (see README).
//
// Keys are a 64-bit keyed hash of the Redis key (limit name + key text); an entry
// also records the limit parameters it was learnt under (a tier change or a reload
// that changes them makes it useless, and the next answer replaces it).
//
// Owned by the Redis backend; thread-safe: sharded, one mutex per shard, each held
// for one set lookup. Bounded: max_entries slots of 8-way sets; a new entry evicts
// the one whose knowledge turns into "fresh" soonest.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit {

// One limit of a request as the cache sees it.
struct cache_probe {
  std::uint64_t id = 0;  // the Redis key: cache_key_id(limit name hash, key text)
  const limit_params* params = nullptr;
  std::int64_t cost = 1;
  bool shadow = false;
};

// What one answer teaches about one key, or what the cache holds for it. Exposed for
// tests; the cache stores it with the key and parameters.
struct knowledge {
  enum class form : std::uint8_t {
    none,
    bucket,          // v[0..1]: debt range [lo, hi] at `at`, in 1/interval_den us
    fixed_window,    // v[0]: window start, v[1]: units used in it
    sliding_window,  // v[0]: window start, v[1]: current, v[2]: previous
    sliding_log,     // v[0] entries in the window, the oldest at v[1], the newest at v[2]
    pinned,          // denied: v[0] cost, v[1] remaining, v[2] reset, v[3] retry_after
  };
  form kind = form::none;
  micros at = 0;    // Redis time of the answer
  micros sent = 0;  // local time the request of that answer was sent
  std::int64_t v[4] = {0, 0, 0, 0};
};

// The state an answer at `at` for `cost` under `p` reveals (after the request, so
// charged when `charged`), or kind none.
knowledge learn(const limit_params& p, std::int64_t cost, const decision& d, bool charged,
                micros at);

// The decision Redis would give at Redis time `now` (>= k.at) for `cost`, if `k`
// determines it; nullopt otherwise.
std::optional<decision> project(const knowledge& k, const limit_params& p, micros now,
                                std::int64_t cost);

// The id of a Redis key: `limit_hash` = hash64(limit name, seed).
std::uint64_t cache_key_id(std::uint64_t limit_hash, std::string_view key_text);

class denial_cache {
 public:
  // max_entries >= 1. drift_ppm: elapsed local time is stretched by this many parts per
  // million (0 in tests with a fake clock shared with Redis).
  denial_cache(std::uint64_t max_entries, std::int64_t drift_ppm);
  ~denial_cache();
  denial_cache(const denial_cache&) = delete;
  denial_cache& operator=(const denial_cache&) = delete;

  // Before a round trip: when every probe's decision at the estimated Redis time is
  // known and an enforced probe denies, writes them to `out` (out.size() ==
  // probes.size()), that time to `redis_now`, and returns true.
  bool decide(std::span<const cache_probe> probes, micros local_now, std::span<decision> out,
              micros& redis_now) const;

  // After Redis answered a request sent at local time `sent`: `decisions` are its
  // per-limit answers at Redis time `redis_now`; `admitted` whether it was charged.
  void learn(std::span<const cache_probe> probes, std::span<const decision> decisions,
             bool admitted, micros redis_now, micros sent);

  // Forgets one key; answers to requests sent up to `local_now` are not learnt.
  void forget(std::uint64_t id, micros local_now);
  // Forgets everything; likewise.
  void clear(micros local_now);

  std::uint64_t size() const;
  std::uint64_t capacity() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::limit
