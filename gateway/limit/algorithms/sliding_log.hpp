// sliding_log: the exact log of admitted units. A request of cost c passes when the
// units admitted in (now - P, now] plus c are at most N. Each admitted unit is one
// timestamp, so a key costs 8 bytes * N (N <= max_sliding_log_entries); use it for
// small, strict limits such as logins.
#pragma once

#include <cstdint>
#include <memory>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::sliding_log {

// A ring of admission times, oldest first, holding at most `capacity` entries.
// Owned by one store slot; not thread-safe (the store's shard lock guards it).
class log {
 public:
  explicit log(std::int64_t capacity);

  std::int64_t capacity() const { return capacity_; }
  std::int64_t size() const { return size_; }
  micros at(std::int64_t i) const { return times_[(head_ + i) % capacity_]; }  // 0 = oldest
  micros newest() const { return size_ == 0 ? 0 : at(size_ - 1); }

  void push(micros t);  // drops the oldest entry when full
  void drop_front(std::int64_t n);
  void resize(std::int64_t capacity);  // keeps the newest entries that fit

 private:
  std::int64_t capacity_;
  std::int64_t head_ = 0;
  std::int64_t size_ = 0;
  std::unique_ptr<micros[]> times_;
};

struct result {
  decision verdict;
  micros expires_at;  // when every entry has left the window (after a commit: of the new log)
};

// Decides without changing the log. An empty log is a fresh key.
result evaluate(const limit_params& p, const log& entries, micros now, std::int64_t cost);

// Records an admitted request: appends `cost` entries at `now` (never earlier than the
// newest entry: times stay sorted) and forgets entries outside the window ending at the
// newest entry.
void commit(const limit_params& p, log& entries, micros now, std::int64_t cost);

}  // namespace sluice::limit::sliding_log
