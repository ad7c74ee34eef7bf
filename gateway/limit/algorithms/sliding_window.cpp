#include "limit/algorithms/sliding_window.hpp"

namespace sluice::limit::sliding_window {
namespace {

constexpr micros us_per_ms = 1000;

// Smallest elapsed-ms into a window at which previous * (P - el) <= room * P holds.
std::int64_t first_passing_ms(std::int64_t previous, std::int64_t room, std::int64_t period_ms) {
  if (previous == 0) return 0;
  std::int64_t target = period_ms - (room * period_ms) / previous;
  return target < 0 ? 0 : target;
}

}  // namespace

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost) {
  const micros period = p.period;
  const std::int64_t period_ms = period / us_per_ms;
  micros start = now - now % period;
  // The window the stored counts belong to under these params: a state written with
  // another period (reload, tier change) is counted in the window that contains it.
  const micros stored = s.window_start - s.window_start % period;
  if (stored > start) start = stored;  // clock stepped back
  const micros elapsed = now > start ? now - start : 0;
  const std::int64_t elapsed_ms = elapsed / us_per_ms;

  std::int64_t current = 0, previous = 0;
  if (stored == start) {
    current = s.current;
    previous = s.previous;
  } else if (stored == start - period) {
    previous = s.current;
  }

  // Weighted usage in "unit-milliseconds"; N * period_ms is the capacity.
  const std::int64_t capacity = p.count * period_ms;
  const std::int64_t carried = previous * (period_ms - elapsed_ms);
  auto remaining_of = [&](std::int64_t cur) {
    std::int64_t left = capacity - carried - cur * period_ms;
    return left <= 0 ? 0 : left / period_ms;
  };
  auto until_empty = [&](std::int64_t cur) -> micros {
    if (cur > 0) return start + 2 * period - now;
    if (previous > 0) return start + period - now;
    return 0;
  };

  result r{};
  r.verdict.limit = p.count;
  r.next = s;

  if (cost > p.count) {
    r.verdict.cost_exceeds_limit = true;
    r.verdict.remaining = remaining_of(current);
    r.verdict.reset = until_empty(current);
    r.verdict.retry_after = period;
    r.expires_at = now + r.verdict.reset;
    return r;
  }

  // A peek (cost 0) takes nothing, so it always passes.
  if (cost > 0 && carried + (current + cost) * period_ms > capacity) {
    r.verdict.remaining = remaining_of(current);
    r.verdict.reset = until_empty(current);
    if (current + cost <= p.count) {
      // Passes later in this window, once enough of the previous one has slid out.
      const std::int64_t at_ms = first_passing_ms(previous, p.count - current - cost, period_ms);
      r.verdict.retry_after = start + at_ms * us_per_ms - now;
    } else {
      // Only in the next window, where `current` becomes the weighted previous.
      const std::int64_t at_ms = first_passing_ms(current, p.count - cost, period_ms);
      r.verdict.retry_after = start + period + at_ms * us_per_ms - now;
    }
    r.expires_at = now + r.verdict.reset;
    return r;
  }

  const std::int64_t admitted = current + cost;
  r.next = state{start, static_cast<std::int32_t>(admitted), static_cast<std::int32_t>(previous)};
  r.verdict.allowed = true;
  r.verdict.remaining = remaining_of(admitted);
  r.verdict.reset = until_empty(admitted);
  r.expires_at = now + r.verdict.reset;  // a peek on an idle key leaves it idle
  return r;
}

}  // namespace sluice::limit::sliding_window
