// sliding_window: the two-window weighted counter. Windows are epoch-aligned like
// fixed_window; the estimate at `now` is
//   previous * (part of the previous window still inside the sliding window) + current,
// and a request of cost c passes when estimate + c <= N. The weighting is computed in
// whole milliseconds so that N * window_ms stays exact for long windows (1M/day).
#pragma once

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::sliding_window {

struct state {
  micros window_start = 0;    // start of the window `current` counts
  std::int32_t current = 0;   // units admitted in that window
  std::int32_t previous = 0;  // units admitted in the window before it
  friend bool operator==(const state&, const state&) = default;
};
static_assert(sizeof(state) == 16);

struct result {
  decision verdict;
  state next;
  micros expires_at;  // when both windows have slid out: the state equals a fresh one
};

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost);

}  // namespace sluice::limit::sliding_window
