// Test-only adapter over the five algorithms: one limiter (params + committed state)
// with the same calls for every algorithm, so the retry_after brute force, the
// property tests and the shared vectors drive them all alike. Not thread-safe.
#pragma once

#include <cstdint>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "limit/algorithms/bucket.hpp"
#include "limit/algorithms/decision.hpp"
#include "limit/algorithms/fixed_window.hpp"
#include "limit/algorithms/sliding_log.hpp"
#include "limit/algorithms/sliding_window.hpp"

namespace sluice::limit {

// Lets gtest print a decision that differs from the expected one.
inline void PrintTo(const decision& d, std::ostream* os) {
  *os << "{allowed=" << d.allowed << " exceeds=" << d.cost_exceeds_limit << " limit=" << d.limit
      << " remaining=" << d.remaining << " reset=" << d.reset << " retry_after=" << d.retry_after
      << " delay=" << d.delay << "}";
}

}  // namespace sluice::limit

namespace sluice::limit::algo_test {

inline constexpr micros ms = 1000;
inline constexpr micros sec = micros_per_second;
inline constexpr micros minute = 60 * sec;
inline constexpr micros hour = 60 * minute;
inline constexpr micros day = 24 * hour;
// 2026-01-01T00:00:00Z: aligned to every window length that divides a day.
inline constexpr micros epoch_2026 = 1'767'225'600'000'000;

inline algorithm algorithm_from_name(std::string_view name) {
  for (auto a : {algorithm::token_bucket, algorithm::leaky_bucket, algorithm::fixed_window,
                 algorithm::sliding_window, algorithm::sliding_log}) {
    if (to_string(a) == name) return a;
  }
  throw std::invalid_argument("unknown algorithm " + std::string(name));
}

struct outcome {
  decision verdict;
  micros expires_at = 0;
};

class limiter {
 public:
  explicit limiter(const limit_params& p) : p_(p), log_(p.count) {}
  limiter(const limiter& o)
      : p_(o.p_),
        bucket_(o.bucket_),
        fixed_(o.fixed_),
        sliding_(o.sliding_),
        log_(o.log_.capacity()) {
    for (std::int64_t i = 0; i < o.log_.size(); ++i) log_.push(o.log_.at(i));
  }
  limiter& operator=(const limiter&) = delete;

  const limit_params& params() const { return p_; }
  // Evaluating under other params models a reload or a tier change on live state.
  void set_params(const limit_params& p) { p_ = p; }

  // Decides without committing anything.
  outcome evaluate(micros now, std::int64_t cost) const {
    switch (p_.algo) {
      case algorithm::token_bucket:
      case algorithm::leaky_bucket: {
        auto r = bucket::evaluate(p_, bucket_, now, cost);
        return {r.verdict, r.expires_at};
      }
      case algorithm::fixed_window: {
        auto r = fixed_window::evaluate(p_, fixed_, now, cost);
        return {r.verdict, r.expires_at};
      }
      case algorithm::sliding_window: {
        auto r = sliding_window::evaluate(p_, sliding_, now, cost);
        return {r.verdict, r.expires_at};
      }
      case algorithm::sliding_log: {
        auto r = sliding_log::evaluate(p_, log_, now, cost);
        return {r.verdict, r.expires_at};
      }
      case algorithm::concurrency:  // slots free when responses end: concurrency_test.cpp
        break;
    }
    throw std::logic_error("bad algorithm");
  }

  // Decides and commits the next state when allowed, as the store does.
  decision request(micros now, std::int64_t cost) {
    switch (p_.algo) {
      case algorithm::token_bucket:
      case algorithm::leaky_bucket: {
        auto r = bucket::evaluate(p_, bucket_, now, cost);
        if (r.verdict.allowed) bucket_ = r.next;
        return r.verdict;
      }
      case algorithm::fixed_window: {
        auto r = fixed_window::evaluate(p_, fixed_, now, cost);
        if (r.verdict.allowed) fixed_ = r.next;
        return r.verdict;
      }
      case algorithm::sliding_window: {
        auto r = sliding_window::evaluate(p_, sliding_, now, cost);
        if (r.verdict.allowed) sliding_ = r.next;
        return r.verdict;
      }
      case algorithm::sliding_log: {
        auto r = sliding_log::evaluate(p_, log_, now, cost);
        if (r.verdict.allowed) sliding_log::commit(p_, log_, now, cost);
        return r.verdict;
      }
      case algorithm::concurrency:
        break;
    }
    throw std::logic_error("bad algorithm");
  }

  bucket::state& bucket_state() { return bucket_; }
  fixed_window::state& fixed_state() { return fixed_; }
  sliding_window::state& sliding_state() { return sliding_; }
  sliding_log::log& log_state() { return log_; }

 private:
  limit_params p_;
  bucket::state bucket_{};
  fixed_window::state fixed_{};
  sliding_window::state sliding_{};
  sliding_log::log log_;
};

// "Passes" for retry_after: allowed (a leaky_bucket hold within max_delay counts).
inline bool passes(const limiter& l, micros now, std::int64_t cost) {
  return l.evaluate(now, cost).verdict.allowed;
}

// Checks that retry_after is exactly the smallest wait that passes: the same request
// passes at now + retry_after, fails at now + retry_after - 1 and at sampled earlier
// instants. Returns an empty string on success, else what went wrong.
inline std::string check_retry_after(const limiter& l, micros now, std::int64_t cost,
                                     std::mt19937_64& rng) {
  const decision d = l.evaluate(now, cost).verdict;
  if (d.allowed) return "allowed";
  if (d.cost_exceeds_limit) return "";  // never passes; its retry_after is one window
  const micros ra = d.retry_after;
  if (ra < 1) return "retry_after < 1: " + std::to_string(ra);
  if (!passes(l, now + ra, cost)) return "fails at now + retry_after " + std::to_string(ra);
  if (passes(l, now + ra - 1, cost)) return "passes at now + retry_after - 1 " + std::to_string(ra);
  for (int i = 0; i < 4; ++i) {
    const micros w = std::uniform_int_distribution<micros>(0, ra - 1)(rng);
    if (passes(l, now + w, cost)) return "passes earlier, at +" + std::to_string(w);
  }
  return "";
}

// ---- random sequences for the property and reference tests ----

inline std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

// Parameters spanning small and large N, periods whose emission interval is not a whole
// number of microseconds (7/s, 3/999999us), and for leaky_bucket a range of max_delay.
inline limit_params random_params(algorithm a, std::mt19937_64& rng) {
  const int band = static_cast<int>(uniform(rng, 0, 19));
  const std::int64_t count = band < 10   ? uniform(rng, 1, 5)
                             : band < 17 ? uniform(rng, 6, 30)
                                         : uniform(rng, 31, 500);
  static constexpr micros window_periods[] = {250 * ms, sec,    1500 * ms, 7 * sec,
                                              10 * sec, minute, hour};
  static constexpr micros bucket_periods[] = {sec,    999'999,  7 * sec + 3, 3 * sec,
                                              minute, 10 * sec, 1'000'003};
  const bool bucket = a == algorithm::token_bucket || a == algorithm::leaky_bucket;
  const micros period =
      bucket ? bucket_periods[uniform(rng, 0, 6)] : window_periods[uniform(rng, 0, 6)];
  const std::int64_t burst = bucket ? uniform(rng, 1, 2 * count + 3) : 0;
  micros max_delay = 0;
  if (a == algorithm::leaky_bucket) {
    const int kind = static_cast<int>(uniform(rng, 0, 2));
    const micros interval = period / count + 1;
    max_delay = kind == 0   ? 0
                : kind == 1 ? uniform(rng, 1, 3 * interval)
                            : uniform(rng, 1, 5 * sec);
  }
  limit_params p = limit_params::make(a, count, period, burst, max_delay);
  // Half the fixed windows start off the epoch, as a calendar period's do (origin).
  if (a == algorithm::fixed_window && uniform(rng, 0, 1) == 1) p.origin = uniform(rng, 1, 30 * day);
  return p;
}

// A time step: often none (same instant), often around one emission interval, sometimes
// a window or more, rarely days, and sometimes onto a window boundary +- 1 us.
inline micros random_step(const limit_params& p, micros now, std::mt19937_64& rng) {
  const micros unit = std::max<micros>(p.period / p.count, 1);
  const int kind = static_cast<int>(uniform(rng, 0, 99));
  if (kind < 30) return 0;
  if (kind < 60) return uniform(rng, 1, unit);
  if (kind < 75) return uniform(rng, 1, 3 * unit);
  if (kind < 85) return uniform(rng, 1, p.period);
  if (kind < 89) return uniform(rng, p.period, 3 * p.period);
  if (kind < 90) return uniform(rng, day, 30 * day);
  const micros offset = ((now - p.origin) % p.period + p.period) % p.period;
  const micros boundary = now - offset + p.period;
  return boundary + uniform(rng, -1, 1) - now;
}

// Mostly 1, sometimes 0 (a peek), a larger cost, exactly the capacity, or more than it.
inline std::int64_t random_cost(const limit_params& p, std::mt19937_64& rng) {
  const std::int64_t cap = p.capacity();
  const int kind = static_cast<int>(uniform(rng, 0, 99));
  if (kind < 70) return 1;
  if (kind < 76) return 0;
  if (kind < 88) return uniform(rng, 1, cap);
  if (kind < 96) return cap;
  return cap + uniform(rng, 1, 3);
}

struct admission {
  micros t;
  std::int64_t cost;
};

// Replays `steps` random requests against the algorithm and a reference model built by
// `make_ref(params)`: every decision must be equal, every retry_after must pass the brute
// force, and admitted requests are returned for the caller's invariants.
template <class MakeRef>
::testing::AssertionResult run_against_reference(algorithm a, std::mt19937_64& rng, int steps,
                                                 MakeRef make_ref,
                                                 std::vector<admission>* admitted = nullptr) {
  const limit_params p = random_params(a, rng);
  auto ref = make_ref(p);
  limiter lim(p);
  micros now = epoch_2026 + uniform(rng, 0, day);
  for (int i = 0; i < steps; ++i) {
    now += random_step(p, now, rng);
    const std::int64_t cost = random_cost(p, rng);
    const decision want = ref.decide(now, cost);
    const decision got = lim.evaluate(now, cost).verdict;
    auto where = [&] {
      std::ostringstream os;
      os << to_string(a) << " count=" << p.count << " period=" << p.period << " burst=" << p.burst
         << " max_delay=" << p.max_delay << " step " << i << " now=" << now << " cost=" << cost
         << "\n got ";
      PrintTo(got, &os);
      os << "\n want ";
      PrintTo(want, &os);
      return os.str();
    };
    if (!(got == want)) return ::testing::AssertionFailure() << where();
    if (!got.allowed) {
      const std::string bad = check_retry_after(lim, now, cost, rng);
      if (!bad.empty()) return ::testing::AssertionFailure() << bad << " at " << where();
      continue;
    }
    lim.request(now, cost);
    ref.commit(now, cost);
    if (admitted && cost > 0) admitted->push_back({now, cost});
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sluice::limit::algo_test
