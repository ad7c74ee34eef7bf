// Reference models for the algorithm tests, written from the definitions in SPEC §5
// and not from the implementation: plain (slow) integer/rational bookkeeping over the
// whole history, and retry_after found by searching the first instant that passes.
// They assume time never moves backwards. Test-only; not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::algo_test {

using i128 = __int128;

inline i128 floor_div(i128 a, i128 b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline i128 ceil_div(i128 a, i128 b) {
  return -floor_div(-a, b);
}

// Smallest w >= 1 with passes(w); passes is monotone in w (no other traffic).
inline micros first_passing_wait(const std::function<bool(micros)>& passes) {
  micros hi = 1;
  while (!passes(hi)) {
    if (hi > (micros{1} << 52)) return -1;  // never: reported as a mismatch
    hi *= 2;
  }
  micros lo = hi / 2;  // fails (or is 0, which the caller knows fails)
  while (hi - lo > 1) {
    const micros mid = lo + (hi - lo) / 2;
    (passes(mid) ? hi : lo) = mid;
  }
  return hi;
}

// Token bucket (and leaky_bucket shaping): a level of tokens refilled continuously at
// count/period per us, capped at burst. The level is kept as tokens * period, which is
// an integer at every whole microsecond. With max_delay the level may go down to
// -max_delay * count (requests held until it is back at 0).
class reference_bucket {
 public:
  reference_bucket(std::int64_t count, micros period, std::int64_t burst, micros max_delay)
      : count_(count), period_(period), burst_(burst), max_delay_(max_delay) {}

  decision decide(micros now, std::int64_t cost) const {
    const i128 level = level_at(now);
    decision d;
    d.limit = burst_;
    d.cost_exceeds_limit = cost > burst_;
    d.allowed = !d.cost_exceeds_limit && fits(level, cost);
    const i128 after = d.allowed ? level - i128{cost} * period_ : level;
    d.remaining = after <= 0 ? 0 : static_cast<std::int64_t>(after / period_);
    d.reset = static_cast<micros>(ceil_div(cap() - after, count_));
    if (d.allowed && cost > 0 && after < 0) d.delay = static_cast<micros>(ceil_div(-after, count_));
    if (d.cost_exceeds_limit) {
      d.retry_after = static_cast<micros>(ceil_div(i128{burst_} * period_, count_));
    } else if (!d.allowed) {
      d.retry_after = first_passing_wait([&](micros w) { return fits(refill(level, w), cost); });
    }
    return d;
  }

  void commit(micros now, std::int64_t cost) {
    level_ = level_at(now) - i128{cost} * period_;
    last_ = now;
    started_ = true;
  }

 private:
  i128 cap() const { return i128{burst_} * period_; }
  i128 refill(i128 level, micros dt) const { return std::min(cap(), level + i128{dt} * count_); }
  i128 level_at(micros now) const { return started_ ? refill(level_, now - last_) : cap(); }
  bool fits(i128 level, std::int64_t cost) const {
    return cost == 0 || level - i128{cost} * period_ >= -i128{max_delay_} * count_;
  }

  std::int64_t count_;
  micros period_;
  std::int64_t burst_;
  micros max_delay_;
  i128 level_ = 0;
  micros last_ = 0;
  bool started_ = false;
};

// Fixed window: units admitted per window [origin + k*P, origin + (k+1)*P) (origin 0:
// epoch-aligned; a calendar period's start otherwise). Times at or after the origin.
class reference_fixed_window {
 public:
  reference_fixed_window(std::int64_t count, micros period, micros origin = 0)
      : count_(count), period_(period), origin_(origin) {}

  decision decide(micros now, std::int64_t cost) const {
    const micros k = index(now);
    const std::int64_t used = used_in(k);
    decision d;
    d.limit = count_;
    d.cost_exceeds_limit = cost > count_;
    d.allowed = !d.cost_exceeds_limit && (cost == 0 || used + cost <= count_);
    d.remaining = std::max<std::int64_t>(count_ - used - (d.allowed ? cost : 0), 0);
    d.reset = origin_ + (k + 1) * period_ - now;
    if (d.cost_exceeds_limit) {
      d.retry_after = period_;
    } else if (!d.allowed) {
      d.retry_after =
          first_passing_wait([&](micros w) { return used_in(index(now + w)) + cost <= count_; });
    }
    return d;
  }

  void commit(micros now, std::int64_t cost) { used_[index(now)] += cost; }

  std::int64_t used_in(micros k) const {
    auto it = used_.find(k);
    return it == used_.end() ? 0 : it->second;
  }

 private:
  micros index(micros t) const { return (t - origin_) / period_; }

  std::int64_t count_;
  micros period_;
  micros origin_;
  std::map<micros, std::int64_t> used_;
};

// Sliding window (two-window weighted counter): at `t`, with el = whole milliseconds
// elapsed in window k, the estimate in unit-milliseconds is
//   used[k-1] * (P_ms - el) + used[k] * P_ms, and a request passes when
//   estimate + cost * P_ms <= N * P_ms.
class reference_sliding_window {
 public:
  reference_sliding_window(std::int64_t count, micros period) : count_(count), period_(period) {}

  i128 estimate(micros t, std::int64_t extra) const {
    const micros k = t / period_;
    const i128 pm = period_ / 1000;
    const i128 el = (t - k * period_) / 1000;
    return i128{used_in(k - 1)} * (pm - el) + i128{used_in(k) + extra} * pm;
  }
  bool passes(micros t, std::int64_t cost) const {
    return cost == 0 || estimate(t, cost) <= i128{count_} * (period_ / 1000);
  }

  decision decide(micros now, std::int64_t cost) const {
    const micros k = now / period_;
    const i128 pm = period_ / 1000;
    decision d;
    d.limit = count_;
    d.cost_exceeds_limit = cost > count_;
    d.allowed = !d.cost_exceeds_limit && passes(now, cost);
    const std::int64_t charged = d.allowed ? cost : 0;
    const i128 left = i128{count_} * pm - estimate(now, charged);
    d.remaining = left <= 0 ? 0 : static_cast<std::int64_t>(left / pm);
    // Fully replenished when both counted windows have slid out.
    if (used_in(k) + charged > 0) {
      d.reset = (k + 2) * period_ - now;
    } else if (used_in(k - 1) > 0) {
      d.reset = (k + 1) * period_ - now;
    }
    if (d.cost_exceeds_limit) {
      d.retry_after = period_;
    } else if (!d.allowed) {
      d.retry_after = first_passing_wait([&](micros w) { return passes(now + w, cost); });
    }
    return d;
  }

  void commit(micros now, std::int64_t cost) { used_[now / period_] += cost; }

  std::int64_t used_in(micros k) const {
    auto it = used_.find(k);
    return it == used_.end() ? 0 : it->second;
  }

 private:
  std::int64_t count_;
  micros period_;
  std::map<micros, std::int64_t> used_;
};

// Sliding log: every admitted unit's time; a request passes when the units admitted
// in (t - P, t] plus its cost are at most N.
class reference_sliding_log {
 public:
  reference_sliding_log(std::int64_t count, micros period) : count_(count), period_(period) {}

  std::int64_t in_window(micros t) const {
    // times_ is sorted (time never goes back here).
    auto lo = std::upper_bound(times_.begin(), times_.end(), t - period_);
    auto hi = std::upper_bound(times_.begin(), times_.end(), t);
    return hi - lo;
  }

  decision decide(micros now, std::int64_t cost) const {
    const std::int64_t used = in_window(now);
    decision d;
    d.limit = count_;
    d.cost_exceeds_limit = cost > count_;
    d.allowed = !d.cost_exceeds_limit && (cost == 0 || used + cost <= count_);
    d.remaining = std::max<std::int64_t>(count_ - used - (d.allowed ? cost : 0), 0);
    // Fully replenished when the newest unit in the window leaves it.
    if (d.allowed && cost > 0) {
      d.reset = period_;
    } else if (used > 0) {
      d.reset = times_.back() + period_ - now;
    }
    if (d.cost_exceeds_limit) {
      d.retry_after = period_;
    } else if (!d.allowed) {
      d.retry_after =
          first_passing_wait([&](micros w) { return in_window(now + w) + cost <= count_; });
    }
    return d;
  }

  void commit(micros now, std::int64_t cost) { times_.insert(times_.end(), cost, now); }

  const std::vector<micros>& times() const { return times_; }

 private:
  std::int64_t count_;
  micros period_;
  std::vector<micros> times_;
};

}  // namespace sluice::limit::algo_test
