// sliding_window: two epoch-aligned windows, the previous one weighted by the part of it
// still inside the sliding window (in whole milliseconds):
//   estimate = previous * (P_ms - elapsed_ms) / P_ms + current; passes if estimate + cost <= N.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

limit_params sw(std::int64_t count, micros period) {
  return limit_params::make(algorithm::sliding_window, count, period, 0);
}

// N = 10 per 10 s; window k-1 = [w, w + 10 s) got all 10, window k starts at w + 10 s.
constexpr micros w = epoch_2026;
limiter full_previous_window() {
  limiter l(sw(10, 10 * sec));
  EXPECT_TRUE(l.request(w + sec, 10).allowed);
  return l;
}

TEST(SlidingWindow, WeightingAtZeroPercentIntoTheWindow) {
  limiter l = full_previous_window();
  // 10 * 10000/10000 = 10 still counted: nothing left. 1 unit fits once 1/10 has slid out.
  EXPECT_EQ(l.request(w + 10 * sec, 1),
            (decision{.limit = 10, .remaining = 0, .reset = 10 * sec, .retry_after = sec}));
  EXPECT_FALSE(l.evaluate(w + 11 * sec - 1, 1).verdict.allowed);
  EXPECT_TRUE(l.evaluate(w + 11 * sec, 1).verdict.allowed);
}

TEST(SlidingWindow, WeightingAtTwentyFivePercent) {
  limiter l = full_previous_window();
  const micros t = w + 12'500 * ms;
  // 10 * 7500/10000 = 7.5 counted: 2 whole units left.
  EXPECT_EQ(l.evaluate(t, 0).verdict.remaining, 2);
  // 3 units need the weight down to 7: at 3000 ms into the window, 500 ms from now.
  EXPECT_EQ(l.request(t, 3),
            (decision{.limit = 10, .remaining = 2, .reset = 7500 * ms, .retry_after = 500 * ms}));
  // 2 units pass: 7.5 + 2 = 9.5; now both windows count, full replenishment at w + 30 s.
  EXPECT_EQ(l.request(t, 2),
            (decision{.allowed = true, .limit = 10, .remaining = 0, .reset = 17'500 * ms}));
}

TEST(SlidingWindow, WeightingAtFiftyAndNinetyNinePercent) {
  limiter l = full_previous_window();
  EXPECT_EQ(l.evaluate(w + 15 * sec, 0).verdict.remaining, 5);
  // 99%: 10 * 100/10000 = 0.1 counted: 9 whole units left.
  EXPECT_EQ(l.evaluate(w + 19'900 * ms, 0).verdict.remaining, 9);
  EXPECT_EQ(l.request(w + 19'900 * ms, 9),
            (decision{.allowed = true, .limit = 10, .remaining = 0, .reset = 10'100 * ms}));
  // 0.1 + 9 + 1 > 10: the 10th unit waits for the previous window's last 100 ms.
  EXPECT_EQ(l.request(w + 19'900 * ms, 1),
            (decision{.limit = 10, .remaining = 0, .reset = 10'100 * ms, .retry_after = 100 * ms}));
}

TEST(SlidingWindow, WeightsMoveInWholeMilliseconds) {
  limiter l = full_previous_window();
  // 2 units need elapsed >= 2000 ms; 1999.999 ms is still 1999 ms.
  EXPECT_FALSE(l.evaluate(w + 12 * sec - 1, 2).verdict.allowed);
  EXPECT_EQ(l.evaluate(w + 11'999'001, 2).verdict.retry_after, 999);
  EXPECT_TRUE(l.evaluate(w + 12 * sec, 2).verdict.allowed);
}

TEST(SlidingWindow, PreviousWindowCarriesOverAndTwoWindowsLaterAllIsForgotten) {
  limiter l(sw(10, 10 * sec));
  EXPECT_TRUE(l.request(w + 9 * sec, 4).allowed);               // window k-1: 4
  EXPECT_TRUE(l.request(w + 10 * sec, 6).allowed);              // window k: 4 * 1 + 6 = 10
  EXPECT_EQ(l.evaluate(w + 15 * sec, 0).verdict.remaining, 2);  // 4 * 0.5 + 6 = 8
  // Window k+1: 6 * 1 = 6 at its start, 6 * 0.5 = 3 halfway.
  EXPECT_EQ(l.evaluate(w + 20 * sec, 0).verdict,
            (decision{.allowed = true, .limit = 10, .remaining = 4, .reset = 10 * sec}));
  EXPECT_EQ(l.evaluate(w + 25 * sec, 0).verdict.remaining, 7);
  // Window k+2: nothing of windows k-1 and k counts.
  EXPECT_EQ(l.evaluate(w + 30 * sec, 0).verdict,
            (decision{.allowed = true, .limit = 10, .remaining = 10, .reset = 0}));
  EXPECT_EQ(l.request(w + 30 * sec, 10).remaining, 0);
  // Days later, fresh again.
  EXPECT_EQ(l.evaluate(w + 3 * day, 10).verdict.remaining, 0);
  EXPECT_TRUE(l.evaluate(w + 3 * day, 10).verdict.allowed);
}

TEST(SlidingWindow, RetryAfterIntoTheNextWindow) {
  limiter l(sw(10, 10 * sec));
  EXPECT_TRUE(l.request(w + 5 * sec, 8).allowed);  // window [w, w+10s): 8
  // 8 + 5 > 10 in this window; in the next one 8 * (1 - el) + 5 <= 10 needs
  // el >= 10000 - floor(5 * 10000 / 8) = 3750 ms.
  EXPECT_EQ(l.request(w + 5 * sec, 5).retry_after, 5 * sec + 3750 * ms);
  // cost == N passes only once nothing is counted: two window ends away.
  EXPECT_EQ(l.request(w + 5 * sec, 10).retry_after, 15 * sec);
  EXPECT_FALSE(l.evaluate(w + 20 * sec - 1, 10).verdict.allowed);
  EXPECT_TRUE(l.evaluate(w + 20 * sec, 10).verdict.allowed);
  // cost > N: one window.
  EXPECT_EQ(l.request(w + 5 * sec, 11), (decision{.cost_exceeds_limit = true,
                                                  .limit = 10,
                                                  .remaining = 2,
                                                  .reset = 15 * sec,
                                                  .retry_after = 10 * sec}));
}

TEST(SlidingWindow, ManyRequestsAtTheSameInstant) {
  limiter l(sw(50, minute));
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += l.request(w + 7, 1).allowed;
  EXPECT_EQ(admitted, 50);
}

TEST(SlidingWindow, ClockSteppingBackDoesNotOverAdmit) {
  limiter l(sw(10, 10 * sec));
  EXPECT_TRUE(l.request(w + 9 * sec, 10).allowed);  // window k-1 full
  EXPECT_TRUE(l.request(w + 19 * sec, 1).allowed);  // k: 10 * 0.1 + 0 + 1 = 2
  // Back into window k-1: counted in window k as if at its start (previous weighs 1).
  // 10 * (1 - el) + 1 + 1 <= 10 needs el >= 2000 ms: at w + 12 s, 3 s from now.
  EXPECT_EQ(l.request(w + 9 * sec, 1),
            (decision{.limit = 10, .remaining = 0, .reset = 21 * sec, .retry_after = 3 * sec}));
  EXPECT_FALSE(l.evaluate(w + 12 * sec - 1, 1).verdict.allowed);
  EXPECT_TRUE(l.evaluate(w + 12 * sec, 1).verdict.allowed);
  EXPECT_TRUE(l.evaluate(w + 9 * sec, 0).verdict.allowed) << "a peek always passes";
}

TEST(SlidingWindow, StateFromAnotherPeriodCountsInTheWindowContainingIt) {
  // Written under a 1 min window (w + 5 min), read under a 1 h window: the 10 count in
  // the hour [w, w + 1 h). One more unit fits in the next hour once 10 * (1 - el) <= 9,
  // el >= 6 min: at w + 66 min, 56 min from now.
  const sliding_window::state s{w + 5 * minute, 10, 0};
  const limit_params hourly = sw(10, hour);
  auto r = sliding_window::evaluate(hourly, s, w + 10 * minute, 1);
  EXPECT_EQ(
      r.verdict,
      (decision{.limit = 10, .remaining = 0, .reset = 110 * minute, .retry_after = 56 * minute}));
  r = sliding_window::evaluate(hourly, s, w + 10 * minute, 0);
  EXPECT_EQ(r.next, (sliding_window::state{w, 10, 0}));
}

TEST(SlidingWindow, PeekIsAllowedAndChangesNothing) {
  limiter l(sw(3, 10 * sec));
  // An idle key stays idle: nothing to expire later.
  auto o = l.evaluate(w + 3 * sec, 0);
  EXPECT_EQ(o.verdict, (decision{.allowed = true, .limit = 3, .remaining = 3}));
  EXPECT_EQ(o.expires_at, w + 3 * sec);
  l.request(w + 3 * sec, 3);
  const auto before = l.sliding_state();
  EXPECT_EQ(l.request(w + 4 * sec, 0),
            (decision{.allowed = true, .limit = 3, .remaining = 0, .reset = 16 * sec}));
  EXPECT_EQ(l.sliding_state(), before);
}

TEST(SlidingWindow, LoweredLimitNeverReportsNegativeRemaining) {
  const sliding_window::state s{w, 10, 10};
  auto r = sliding_window::evaluate(sw(4, 10 * sec), s, w + sec, 0);
  EXPECT_TRUE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.remaining, 0);
  r = sliding_window::evaluate(sw(4, 10 * sec), s, w + sec, 1);
  EXPECT_FALSE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.remaining, 0);
}

TEST(SlidingWindow, RetryAfterIsTheSmallestPassingWaitForRandomStates) {
  std::mt19937_64 rng(31);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const limit_params p = random_params(algorithm::sliding_window, rng);
    limiter l(p);
    const micros now = epoch_2026 + uniform(rng, 0, day);
    const micros start = now - now % p.period;
    // Any pair of window counts whose weighted sum was admissible (current + previous
    // weighted at the window start <= N); sometimes a window ahead (clock stepped back).
    const std::int64_t previous = uniform(rng, 0, p.count);
    const std::int64_t current = uniform(rng, 0, p.count - previous);
    const micros window = uniform(rng, 0, 5) == 0 ? start + p.period : start;
    l.sliding_state() = sliding_window::state{window, static_cast<std::int32_t>(current),
                                              static_cast<std::int32_t>(previous)};
    const std::int64_t cost = uniform(rng, 1, p.count);
    if (l.evaluate(now, cost).verdict.allowed) continue;
    const std::string bad = check_retry_after(l, now, cost, rng);
    ASSERT_TRUE(bad.empty()) << bad << " count=" << p.count << " period=" << p.period
                             << " prev=" << previous << " cur=" << current << " cost=" << cost;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(SlidingWindow, MatchesReferenceModel) {
  std::mt19937_64 rng(32);
  for (int seq = 0; seq < 2000; ++seq) {
    ASSERT_TRUE(run_against_reference(
        algorithm::sliding_window, rng, 60,
        [](const limit_params& p) { return reference_sliding_window(p.count, p.period); }))
        << "sequence " << seq;
  }
}

TEST(SlidingWindow, PropertyWeightedEstimateWithThisRequestNeverExceedsN) {
  std::mt19937_64 rng(33);
  for (int seq = 0; seq < 2000; ++seq) {
    const limit_params p = random_params(algorithm::sliding_window, rng);
    limiter l(p);
    micros now = epoch_2026;
    micros latest = 0;  // see FixedWindow.PropertyAtMostNPerWindowEvenWhenTheClockStepsBack
    std::map<micros, std::int64_t> per_window;
    const bool clock_steps_back = seq % 2 == 1;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      if (clock_steps_back && uniform(rng, 0, 9) == 0) now -= uniform(rng, 1, 2 * p.period);
      const std::int64_t cost = random_cost(p, rng);
      if (!l.request(now, cost).allowed) continue;
      latest = std::max(latest, now);
      if (cost == 0) continue;  // a peek admits nothing
      const micros k = latest / p.period;
      per_window[k] += cost;
      // Exact weighting in microseconds at the (never earlier) effective time.
      const micros effective = std::max(now, k * p.period);
      const i128 elapsed = effective - k * p.period;
      const i128 estimate =
          i128{per_window[k - 1]} * (p.period - elapsed) + i128{per_window[k]} * p.period;
      ASSERT_LE(estimate, i128{p.count} * p.period)
          << "sequence " << seq << " step " << i << " now=" << now << " latest=" << latest
          << " N=" << p.count << " P=" << p.period << " prev=" << per_window[k - 1]
          << " cur=" << per_window[k] << " cost=" << cost;
    }
  }
}

}  // namespace
}  // namespace sluice::limit
