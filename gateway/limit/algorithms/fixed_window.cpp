#include "limit/algorithms/fixed_window.hpp"

namespace sluice::limit::fixed_window {

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost) {
  micros start = now - now % p.period;
  // A clock that stepped back stays in the newer window it already counted in.
  if (s.window_start > start) start = s.window_start;
  const micros end = start + p.period;
  const std::int64_t used = s.window_start == start ? s.count : 0;

  result r{};
  r.verdict.limit = p.count;
  r.next = s;
  r.expires_at = end;
  r.verdict.reset = end - now;

  if (cost > p.count) {
    r.verdict.cost_exceeds_limit = true;
    r.verdict.remaining = p.count - used;
    r.verdict.retry_after = p.period;
    return r;
  }
  if (used + cost > p.count) {
    r.verdict.remaining = p.count - used;
    r.verdict.retry_after = end - now;  // the next window starts empty
    return r;
  }
  r.next = state{start, used + cost};
  r.verdict.allowed = true;
  r.verdict.remaining = p.count - used - cost;
  return r;
}

}  // namespace sluice::limit::fixed_window
