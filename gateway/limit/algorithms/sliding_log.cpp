#include "limit/algorithms/sliding_log.hpp"

#include <algorithm>

namespace sluice::limit::sliding_log {

log::log(std::int64_t capacity)
    : capacity_(std::max<std::int64_t>(capacity, 1)), times_(new micros[capacity_]) {}

void log::push(micros t) {
  if (size_ == capacity_) drop_front(1);
  times_[(head_ + size_) % capacity_] = t;
  ++size_;
}

void log::drop_front(std::int64_t n) {
  n = std::min(n, size_);
  head_ = (head_ + n) % capacity_;
  size_ -= n;
}

void log::resize(std::int64_t capacity) {
  capacity = std::max<std::int64_t>(capacity, 1);
  if (capacity == capacity_) return;
  const std::int64_t keep = std::min(size_, capacity);
  std::unique_ptr<micros[]> times(new micros[capacity]);
  for (std::int64_t i = 0; i < keep; ++i) times[i] = at(size_ - keep + i);
  times_ = std::move(times);
  capacity_ = capacity;
  head_ = 0;
  size_ = keep;
}

namespace {

// Index of the oldest entry still inside the window (t > now - P); entries are sorted.
std::int64_t first_in_window(const log& entries, micros now, micros period) {
  std::int64_t lo = 0, hi = entries.size();
  while (lo < hi) {
    std::int64_t mid = (lo + hi) / 2;
    if (entries.at(mid) > now - period)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

}  // namespace

result evaluate(const limit_params& p, const log& entries, micros now, std::int64_t cost) {
  const std::int64_t first = first_in_window(entries, now, p.period);
  const std::int64_t used = entries.size() - first;
  const micros newest = entries.newest();

  result r{};
  r.verdict.limit = p.count;
  r.verdict.reset = used > 0 ? newest + p.period - now : 0;
  r.expires_at = used > 0 ? newest + p.period : now;

  if (cost > p.count) {
    r.verdict.cost_exceeds_limit = true;
    r.verdict.remaining = std::max<std::int64_t>(p.count - used, 0);
    r.verdict.retry_after = p.period;
    return r;
  }
  // A peek (cost 0) takes nothing, so it always passes.
  if (cost > 0 && used + cost > p.count) {
    // The oldest (used + cost - N) entries must leave the window first.
    const micros blocking = entries.at(first + used + cost - p.count - 1);
    r.verdict.remaining = std::max<std::int64_t>(p.count - used, 0);
    r.verdict.retry_after = blocking + p.period - now;
    return r;
  }
  r.verdict.allowed = true;
  r.verdict.remaining = std::max<std::int64_t>(p.count - used - cost, 0);
  if (cost > 0) {  // a peek adds no entry, so its reset and expiry stay those of the log
    const micros stamp = std::max(now, newest);
    r.verdict.reset = stamp + p.period - now;
    r.expires_at = stamp + p.period;
  }
  return r;
}

void commit(const limit_params& p, log& entries, micros now, std::int64_t cost) {
  if (entries.capacity() != p.count) entries.resize(p.count);
  const micros stamp = std::max(now, entries.newest());
  // Forget only what is outside the window ending at the newest entry, not at `now`:
  // after a peek far ahead, a clock stepping back must still see those entries.
  const micros newest = cost > 0 ? stamp : entries.newest();
  entries.drop_front(first_in_window(entries, newest, p.period));
  for (std::int64_t i = 0; i < cost; ++i) entries.push(stamp);
}

}  // namespace sluice::limit::sliding_log
