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

// A charge of `reserved` at `charged_at` turned out to cost `actual` (issue 14): exact
// while the window of charged_at is the stored one (count += actual - reserved, never
// below 0, at most actual - reserved <= N more); a window that has moved on holds none
// of it. A stored window older than charged_at's (the reserve was 0 or its state was
// dropped) starts that window with what is owed, while it is still `now`'s window.
struct settled {
  state next;
  micros expires_at;  // the end of the window `next` counts in
  bool changed;
};
settled settle(const limit_params& p, const state& s, micros charged_at, std::int64_t reserved,
               std::int64_t actual, micros now);

}  // namespace sluice::limit::fixed_window
