// The penalty box (issue 15): a key whose share of requests rejected by a limit with
// `penalty:` reaches `when.rejected_share` (over at least `when.min_requests` in the
// sliding `when.window`) gets that limit scaled by `factor` until now + `duration`.
//
// Counting. Per (limit, key) two counters (requests, rejections) over a two-bucket
// sliding window (the sliding_window algorithm's estimate: the previous window's
// count weighted by the share of it still inside the window, plus the current one):
// O(1) memory per key, exact at window boundaries, at most one window's weight off
// in between. "Rejected" is that limit's own decision: a request denied by that limit
// counts even when another limit denied it too; one denied only by another limit
// counts as a request of this one (it was not charged here). A shadow limit's own
// denials count as well (its penalty then scales a limit that enforces nothing).
// While a key is boxed its counters go on; the box is not extended, but a key still
// abusive when it ends is boxed again at its next rejection.
//
// Keys. Entries are found by the state key hash (limit::state_key: the limit's
// name, key parts, algorithm and shards, and the key text), so a penalty survives a
// reload exactly when the limit's counters do; a boxed entry also keeps the limit's
// name and the key text (at most max_key_bytes; longer keys are boxed but neither
// listed with their full text nor shared) for /admin/stats, DELETE and Redis.
//
// Memory. A fixed table of `capacity` entries in 8-way sets over 64 shards; a new key
// takes a free slot of its set, else the plain counter seen longest ago; when every
// slot of the set holds a live penalty a plain counter is not tracked, and a penalty
// (learnt from Redis) replaces the one that ends first. A live penalty never gives
// way to a plain counter.
//
// Thread-safe: one mutex per shard, held for one set lookup. Time comes in as `now`
// (the request's clock; tests pass a fake one). Owned by the gateway.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "limit/scaling.hpp"

namespace sluice::limit {

struct evaluation;

// The two-bucket sliding counter of one (limit, key). Pure; exposed for tests.
struct penalty_counter {
  micros start = 0;  // start of the current bucket (a multiple of the window)
  std::uint32_t requests = 0, rejected = 0;            // current bucket
  std::uint32_t prev_requests = 0, prev_rejected = 0;  // the bucket before it
  // Counts one request at `now` (>= the last one's time, else counted in the current bucket).
  void add(bool was_rejected, micros now, micros window);
  // The estimated requests and rejections in the window ending at `now`.
  double estimated_requests(micros now, micros window) const;
  double estimated_rejected(micros now, micros window) const;
};

class penalty_box final : public scaling_source {
 public:
  static constexpr std::size_t max_key_bytes = 512;

  // A boxed key as /admin/stats, the log and Redis see it.
  struct boxed {
    std::string limit;  // the limit's name
    std::string key;    // the key text
    std::uint64_t key_hash = 0;
    double factor = 1.0;
    micros expires_at = 0;
    bool whole_key = true;  // false: `key` is cut at max_key_bytes (not shared)
    bool shared = false;    // published to Redis, or learnt from it
  };

  explicit penalty_box(std::uint64_t capacity);
  ~penalty_box() override;
  penalty_box(const penalty_box&) = delete;
  penalty_box& operator=(const penalty_box&) = delete;

  // The factor of a boxed key of a limit with `penalty:`; 1.0 otherwise.
  double factor(const scaling_query& q) const override;

  // One decided request under `limit` (which has `penalty:`): counts it and boxes the
  // key when the threshold is reached. True when this request boxed it.
  bool observe(const compiled_limit& limit, std::uint64_t key_hash, std::string_view key,
               bool rejected, micros now);

  // observe() for every applied limit with a penalty of a concluded evaluation;
  // `on_boxed(limit index)` for each key boxed by it.
  void record(const evaluation& ev, const std::function<void(int)>& on_boxed);

  // A penalty boxed elsewhere (Redis): boxes the key until `expires_at` at `limit`'s
  // factor (a later expiry already held is kept). False when it could not be stored.
  bool learn(const compiled_limit& limit, std::uint64_t key_hash, std::string_view key,
             micros expires_at, micros now);

  // The penalty of `key_hash` is in Redis now (published by this gateway).
  void mark_shared(std::uint64_t key_hash);

  // Unboxes a live penalty; its counters start again. True when one was boxed.
  bool remove(std::uint64_t key_hash, micros now);

  // Live penalties, up to `max` (those ending last first).
  std::vector<boxed> list(micros now, std::size_t max) const;
  // Live penalties per limit name (every one, however many).
  std::vector<std::pair<std::string, std::uint64_t>> counts(micros now) const;

  // Keys boxed here since the last call (the control thread logs and publishes them);
  // at most max_pending are kept in between, `dropped` says how many more there were.
  static constexpr std::size_t max_pending = 256;
  std::vector<boxed> take_new(std::uint64_t& dropped);

  std::uint64_t capacity() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::limit
