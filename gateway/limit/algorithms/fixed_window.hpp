// fixed_window: at most N units per window; windows are aligned to the Unix epoch
// ([k*P, (k+1)*P)), so every gateway and Redis agree on where a window starts. A quota
// per calendar period (config/calendar.hpp) moves the origin: [O + k*P, O + (k+1)*P),
// with O and P the period that holds the request.
#pragma once

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::fixed_window {

struct state {
  micros window_start = 0;  // start of the window `count` belongs to
  std::int64_t count = 0;   // units admitted in that window
  friend bool operator==(const state&, const state&) = default;
};
static_assert(sizeof(state) == 16);

struct result {
  decision verdict;
  state next;
  micros expires_at;  // end of the window: afterwards the state equals a fresh one
};

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost);

}  // namespace sluice::limit::fixed_window
