// The in-process limiter state: a bounded, sharded table from key hash to algorithm
// state, and the all-or-nothing decision over several limits at once.
//
// Owned by the gateway (one per process, shared by every I/O thread and kept across
// reloads). Thread-safe: each shard has its own lock; a decision locks only the
// shards its keys live in, in ascending order, so concurrent decisions on different
// keys never wait for each other and decisions on the same key are serialized.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit {

// One limit to apply to one request.
struct check {
  std::uint64_t key_hash = 0;  // keyed hash of (limit identity, key string)
  const limit_params* params = nullptr;
  std::int64_t cost = 1;
  bool shadow = false;  // evaluated and charged when it allows, never denies
};

class memory_store {
 public:
  // `max_keys` bounds the tracked keys; `shards` = 0 picks a default (a power of two).
  explicit memory_store(std::uint64_t max_keys, unsigned shards = 0);
  ~memory_store();
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  // Evaluates every check at `now` and writes one decision per check into `out`
  // (out.size() == checks.size()). If every non-shadow check allows, charges every
  // check that allows and returns true; otherwise charges nothing and returns false.
  // A new key that finds its set or its shard's budget full takes the slot of the
  // state that turns fresh soonest (expired first); when every candidate outlives the
  // newcomer's own state, the newcomer is decided as fresh but not stored, so a flood
  // of new keys never hands an over-limit client a fresh bucket.
  bool decide(std::span<const check> checks, micros now, std::span<decision> out);

  // Starts loading the memory that a later decide() on this key will touch. Optional:
  // the table is far larger than the CPU caches, so a lookup costs one DRAM round trip
  // (~150 ns); a caller that knows its keys early (a batch, or a request whose limits
  // are known before other work) can overlap those round trips. No lock, no effect on
  // state.
  void prefetch(std::uint64_t key_hash) const;

  // The state of one key as a request of cost 0 would see it; charges nothing.
  decision peek(std::uint64_t key_hash, const limit_params& params, micros now);

  // Gives back one slot a concurrency limit's check took (limit::holds_in_flight), when
  // its request's response has ended. Returns whether the key held state to give back
  // from (a key forgotten meanwhile, by a reset or its lease, has nothing).
  bool release(std::uint64_t key_hash, const limit_params& params, micros now);

  // Settles a charge of `reserved` units at `charged_at` to `actual` (a cost from the
  // response, issue 14; bucket::settle(), fixed_window::settle()): token_bucket,
  // leaky_bucket and fixed_window. Returns whether the key's state changed.
  bool settle(std::uint64_t key_hash, const limit_params& params, micros charged_at,
              std::int64_t reserved, std::int64_t actual, micros now);

  // Forgets one key (admin reset). Returns whether it was tracked.
  bool reset(std::uint64_t key_hash);

  // Keys currently tracked (expired ones included until reclaimed).
  std::uint64_t size() const;

  // Reclaims keys whose state has become equal to a fresh one. Returns size().
  std::uint64_t sweep(micros now);

  std::uint64_t max_keys() const;

  // Bytes this store holds: the table (address space, mapped lazily), shard headers and
  // sliding_log entries. For benchmarks, tests and the admin page.
  std::uint64_t allocated_bytes() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::limit
