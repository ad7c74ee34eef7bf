// fixed_window: at most N units per epoch-aligned window [k*P, (k+1)*P).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

limit_params fw(std::int64_t count, micros period) {
  return limit_params::make(algorithm::fixed_window, count, period, 0);
}

TEST(FixedWindow, LastMicrosecondOfAWindowVersusFirstOfTheNext) {
  limiter l(fw(3, minute));
  const micros w = epoch_2026;  // a window start: the epoch is a whole number of minutes
  const micros last = w + minute - 1;
  EXPECT_EQ(l.request(last, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 2, .reset = 1}));
  EXPECT_TRUE(l.request(last, 1).allowed);
  EXPECT_TRUE(l.request(last, 1).allowed);
  EXPECT_EQ(l.request(last, 1),
            (decision{.limit = 3, .remaining = 0, .reset = 1, .retry_after = 1}));
  // One microsecond later is a new window: three more.
  EXPECT_EQ(l.request(w + minute, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 2, .reset = minute}));
  EXPECT_TRUE(l.request(w + minute, 2).allowed);
  EXPECT_EQ(l.request(w + minute, 1),
            (decision{.limit = 3, .remaining = 0, .reset = minute, .retry_after = minute}));
}

TEST(FixedWindow, WindowsAreAlignedToTheUnixEpoch) {
  // 13 s windows: epoch_2026 is 10 s into the window starting at 1767225590 s.
  limiter l(fw(1, 13 * sec));
  const micros start = 1'767'225'590'000'000;
  EXPECT_EQ(l.request(epoch_2026, 1).reset, 3 * sec);
  const decision d = l.request(epoch_2026, 1);
  EXPECT_EQ(d.retry_after, 3 * sec);
  EXPECT_EQ(l.evaluate(epoch_2026, 0).expires_at, start + 13 * sec);
  EXPECT_FALSE(l.evaluate(start + 13 * sec - 1, 1).verdict.allowed);
  EXPECT_TRUE(l.evaluate(start + 13 * sec, 1).verdict.allowed);
  // Any two limiters agree on the window whatever their first request time.
  limiter other(fw(1, 13 * sec));
  EXPECT_TRUE(other.request(start, 1).allowed);
  EXPECT_FALSE(other.request(start + 13 * sec - 1, 1).allowed);
}

TEST(FixedWindow, CostsUpToNAndBeyond) {
  limiter l(fw(10, minute));
  const micros t = epoch_2026 + 15 * sec;
  EXPECT_EQ(l.request(t, 11), (decision{.cost_exceeds_limit = true,
                                        .limit = 10,
                                        .remaining = 10,
                                        .reset = 45 * sec,
                                        .retry_after = minute}));
  EXPECT_EQ(l.request(t, 10),
            (decision{.allowed = true, .limit = 10, .remaining = 0, .reset = 45 * sec}));
  EXPECT_EQ(l.request(t + 44 * sec, 10),
            (decision{.limit = 10, .remaining = 0, .reset = sec, .retry_after = sec}));
  EXPECT_TRUE(l.request(t + 45 * sec, 10).allowed);
}

TEST(FixedWindow, PartialCostDeniedUntilTheNextWindow) {
  limiter l(fw(5, 10 * sec));
  const micros t = epoch_2026 + 2 * sec;
  EXPECT_TRUE(l.request(t, 3).allowed);
  // 2 left: a cost of 3 waits for the next window, a cost of 2 still passes.
  EXPECT_EQ(l.request(t, 3),
            (decision{.limit = 5, .remaining = 2, .reset = 8 * sec, .retry_after = 8 * sec}));
  EXPECT_EQ(l.request(t, 2),
            (decision{.allowed = true, .limit = 5, .remaining = 0, .reset = 8 * sec}));
}

TEST(FixedWindow, ManyRequestsAtTheSameInstantAndLongIdleGaps) {
  limiter l(fw(100, hour));
  micros now = epoch_2026 + 1234;
  for (int gap_days : {0, 1, 7, 400}) {
    now += gap_days * day;
    int admitted = 0;
    for (int i = 0; i < 1000; ++i) admitted += l.request(now, 1).allowed;
    EXPECT_EQ(admitted, 100) << gap_days;
  }
}

TEST(FixedWindow, PeekIsAllowedAndChangesNothing) {
  limiter l(fw(2, minute));
  const micros t = epoch_2026 + 5 * sec;
  l.request(t, 2);
  const auto before = l.fixed_state();
  EXPECT_EQ(l.request(t, 0),
            (decision{.allowed = true, .limit = 2, .remaining = 0, .reset = 55 * sec}));
  EXPECT_EQ(l.fixed_state(), before);
}

TEST(FixedWindow, ClockSteppingBackStaysInTheNewerWindow) {
  limiter l(fw(3, minute));
  const micros w = epoch_2026;
  EXPECT_TRUE(l.request(w + 10 * sec, 2).allowed);  // window k-1: 2
  EXPECT_TRUE(l.request(w + 61 * sec, 1).allowed);  // window k: 1
  // Back into window k-1: counted in window k, which has 2 left, not in k-1 (1 left).
  EXPECT_EQ(l.request(w + 20 * sec, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 1, .reset = 100 * sec}));
  EXPECT_TRUE(l.request(w + 20 * sec, 1).allowed);
  // Window k is full: denied until it ends, measured from the earlier clock.
  EXPECT_EQ(l.request(w + 30 * sec, 1),
            (decision{.limit = 3, .remaining = 0, .reset = 90 * sec, .retry_after = 90 * sec}));
  EXPECT_FALSE(l.request(w + 2 * minute - 1, 1).allowed);
  EXPECT_TRUE(l.request(w + 2 * minute, 1).allowed);
}

TEST(FixedWindow, StateFromAnotherPeriodCountsInTheWindowContainingIt) {
  // Written under 10/min (window w + 5 min, full), read under 10/h after a reload or a
  // tier change: the count stays in the hour containing it, which ends at w + 1 h.
  const micros w = epoch_2026;
  const fixed_window::state s{w + 5 * minute, 10};
  const limit_params hourly = fw(10, hour);
  auto r = fixed_window::evaluate(hourly, s, w + 10 * minute, 1);
  EXPECT_EQ(
      r.verdict,
      (decision{.limit = 10, .remaining = 0, .reset = 50 * minute, .retry_after = 50 * minute}));
  EXPECT_EQ(r.expires_at, w + hour);
  EXPECT_TRUE(fixed_window::evaluate(hourly, s, w + hour, 1).verdict.allowed);
  r = fixed_window::evaluate(hourly, s, w + 10 * minute, 0);
  EXPECT_EQ(r.next, (fixed_window::state{w, 10})) << "re-aligned to the hour";
}

TEST(FixedWindow, LoweredLimitNeverReportsNegativeRemaining) {
  const fixed_window::state s{epoch_2026, 10};  // admitted under N = 10
  auto r = fixed_window::evaluate(fw(4, minute), s, epoch_2026 + sec, 1);
  EXPECT_FALSE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.remaining, 0);
  EXPECT_EQ(r.verdict.retry_after, 59 * sec);
  r = fixed_window::evaluate(fw(4, minute), s, epoch_2026 + sec, 0);
  EXPECT_TRUE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.remaining, 0);
  r = fixed_window::evaluate(fw(4, minute), s, epoch_2026 + sec, 5);
  EXPECT_TRUE(r.verdict.cost_exceeds_limit);
  EXPECT_EQ(r.verdict.remaining, 0);
}

TEST(FixedWindow, RetryAfterIsTheSmallestPassingWaitForRandomStates) {
  std::mt19937_64 rng(21);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const limit_params p = random_params(algorithm::fixed_window, rng);
    limiter l(p);
    const micros now = epoch_2026 + uniform(rng, 0, day);
    const micros start = now - now % p.period;
    // The current window (or, after a clock step back, the next one) partly used.
    const micros window = uniform(rng, 0, 3) == 0 ? start + p.period : start;
    l.fixed_state() = fixed_window::state{window, uniform(rng, 0, p.count)};
    const std::int64_t cost = uniform(rng, 1, p.count);
    if (l.evaluate(now, cost).verdict.allowed) continue;
    const std::string bad = check_retry_after(l, now, cost, rng);
    ASSERT_TRUE(bad.empty()) << bad;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(FixedWindow, MatchesReferenceModel) {
  std::mt19937_64 rng(22);
  for (int seq = 0; seq < 2000; ++seq) {
    ASSERT_TRUE(run_against_reference(
        algorithm::fixed_window, rng, 60,
        [](const limit_params& p) { return reference_fixed_window(p.count, p.period, p.origin); }))
        << "sequence " << seq;
  }
}

TEST(FixedWindow, PropertyAtMostNPerWindowEvenWhenTheClockStepsBack) {
  std::mt19937_64 rng(23);
  for (int seq = 0; seq < 2000; ++seq) {
    const limit_params p = random_params(algorithm::fixed_window, rng);
    limiter l(p);
    micros now = epoch_2026;
    // A request is counted in the window of the latest time any allowed request carried:
    // with a clock that never went back that is its own window.
    micros latest = 0;
    std::map<micros, std::int64_t> per_window;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      if (uniform(rng, 0, 9) == 0) now -= uniform(rng, 1, 2 * p.period);
      const std::int64_t cost = random_cost(p, rng);
      if (!l.request(now, cost).allowed) continue;
      latest = std::max(latest, now);
      const micros window = (latest - p.origin) / p.period;  // epoch_2026 > any origin
      per_window[window] += cost;
      ASSERT_LE(per_window[window], p.count) << "sequence " << seq << " step " << i;
    }
  }
}

}  // namespace
}  // namespace sluice::limit
