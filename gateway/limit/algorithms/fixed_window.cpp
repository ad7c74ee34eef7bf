#include "limit/algorithms/fixed_window.hpp"

#include <algorithm>

namespace sluice::limit::fixed_window {

namespace {

// Start of the window [origin + k * period, ...) that holds t (floored: t may precede
// origin when a calendar period was worked out on a clock ahead of this one).
micros window_of(const limit_params& p, micros t) {
  micros offset = (t - p.origin) % p.period;
  if (offset < 0) offset += p.period;
  return t - offset;
}

}  // namespace

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost) {
  micros start = window_of(p, now);
  // The window the stored count belongs to under these params: a state written with
  // another period (reload, tier change, the previous calendar period) is counted in
  // the window that contains it.
  const micros stored = window_of(p, s.window_start);
  // A clock that stepped back stays in the newer window it already counted in.
  if (stored > start) start = stored;
  const micros end = start + p.period;
  const std::int64_t used = stored == start ? s.count : 0;
  // A lowered limit may leave more used than it allows; never report below zero.
  const std::int64_t left = std::max<std::int64_t>(p.count - used, 0);

  result r{};
  r.verdict.limit = p.count;
  r.next = s;
  r.expires_at = end;
  r.verdict.reset = end - now;

  if (cost > p.count) {
    r.verdict.cost_exceeds_limit = true;
    r.verdict.remaining = left;
    r.verdict.retry_after = p.period;
    return r;
  }
  // A peek (cost 0) takes nothing, so it always passes.
  if (cost > 0 && used + cost > p.count) {
    r.verdict.remaining = left;
    r.verdict.retry_after = end - now;  // the next window starts empty
    return r;
  }
  r.next = state{start, used + cost};
  r.verdict.allowed = true;
  r.verdict.remaining = std::max<std::int64_t>(left - cost, 0);
  return r;
}

settled settle(const limit_params& p, const state& s, micros charged_at, std::int64_t reserved,
               std::int64_t actual, micros now) {
  const micros window = window_of(p, charged_at);
  const micros stored = window_of(p, s.window_start);
  const settled unchanged{s, stored + p.period, false};
  const std::int64_t delta = std::min(actual, reserved + p.count) - reserved;
  if (delta == 0) return unchanged;
  if (stored == window) {
    if (delta < 0 && s.count <= 0) return unchanged;
    const state next{s.window_start, std::max<std::int64_t>(s.count + delta, 0)};
    return {next, window + p.period, true};
  }
  if (stored < window && delta > 0 && window_of(p, now) == window) {
    const state next{window, delta};
    return {next, window + p.period, true};
  }
  return unchanged;
}

}  // namespace sluice::limit::fixed_window
