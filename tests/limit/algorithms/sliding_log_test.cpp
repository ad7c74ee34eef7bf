// sliding_log: the exact log of admitted units; a request passes when the units in
// (now - P, now] plus its cost are at most N.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

limit_params sl(std::int64_t count, micros period) {
  return limit_params::make(algorithm::sliding_log, count, period, 0);
}

constexpr micros t0 = epoch_2026 + 7 * sec;

TEST(SlidingLog, ThreePerMinuteExactly) {
  limiter l(sl(3, minute));
  EXPECT_EQ(l.request(t0, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 2, .reset = minute}));
  EXPECT_TRUE(l.request(t0 + 10 * sec, 1).allowed);
  EXPECT_EQ(l.request(t0 + 20 * sec, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 0, .reset = minute}));
  // The first entry leaves the window at t0 + 60 s (an entry at t counts while t > now - P).
  EXPECT_EQ(l.request(t0 + 30 * sec, 1),
            (decision{.limit = 3, .remaining = 0, .reset = 50 * sec, .retry_after = 30 * sec}));
  EXPECT_EQ(l.request(t0 + minute - 1, 1).retry_after, 1);
  EXPECT_EQ(l.request(t0 + minute, 1),
            (decision{.allowed = true, .limit = 3, .remaining = 0, .reset = minute}));
  // Next: the entry at t0 + 10 s.
  EXPECT_EQ(l.request(t0 + minute, 1).retry_after, 10 * sec);
}

TEST(SlidingLog, NoBoundaryBurstUnlikeAFixedWindow) {
  limiter l(sl(3, minute));
  const micros w = epoch_2026;  // a minute boundary
  EXPECT_TRUE(l.request(w + minute - sec, 3).allowed);
  // A fixed window would reset at w + 1 min; the log holds until w + 2 min - 1 s.
  EXPECT_EQ(l.request(w + minute + sec, 1).retry_after, minute - 2 * sec);
  EXPECT_FALSE(l.evaluate(w + 2 * minute - sec - 1, 1).verdict.allowed);
  EXPECT_TRUE(l.evaluate(w + 2 * minute - sec, 3).verdict.allowed);
}

TEST(SlidingLog, LargerCostsWaitForEnoughEntriesToLeave) {
  limiter l(sl(5, 10 * sec));
  EXPECT_TRUE(l.request(t0, 2).allowed);
  EXPECT_TRUE(l.request(t0 + 3 * sec, 1).allowed);
  EXPECT_TRUE(l.request(t0 + 6 * sec, 2).allowed);
  // Full. Cost 3 needs 3 units to leave: the two at t0 and the one at t0 + 3 s.
  EXPECT_EQ(l.request(t0 + 7 * sec, 3),
            (decision{.limit = 5, .remaining = 0, .reset = 9 * sec, .retry_after = 6 * sec}));
  EXPECT_EQ(l.request(t0 + 7 * sec, 2).retry_after, 3 * sec);
  EXPECT_EQ(l.request(t0 + 7 * sec, 5).retry_after, 9 * sec);
  EXPECT_EQ(l.request(t0 + 7 * sec, 6), (decision{.cost_exceeds_limit = true,
                                                  .limit = 5,
                                                  .remaining = 0,
                                                  .reset = 9 * sec,
                                                  .retry_after = 10 * sec}));
  EXPECT_EQ(l.request(t0 + 13 * sec, 3),
            (decision{.allowed = true, .limit = 5, .remaining = 0, .reset = 10 * sec}));
}

TEST(SlidingLog, ManyRequestsAtTheSameInstantAndLongIdleGaps) {
  limiter l(sl(100, hour));
  micros now = t0;
  for (int gap_days : {0, 1, 30, 400}) {
    now += gap_days * day;
    int admitted = 0;
    for (int i = 0; i < 1000; ++i) admitted += l.request(now, 1).allowed;
    EXPECT_EQ(admitted, 100) << gap_days;
    EXPECT_EQ(l.evaluate(now, 1).verdict.retry_after, hour);
    EXPECT_EQ(l.evaluate(now, 0).expires_at, now + hour);
  }
}

TEST(SlidingLog, PeekIsAllowedAndReportsTheLogAsIs) {
  limiter l(sl(2, minute));
  // A fresh key: nothing to replenish, nothing to keep.
  auto o = l.evaluate(t0, 0);
  EXPECT_EQ(o.verdict, (decision{.allowed = true, .limit = 2, .remaining = 2}));
  EXPECT_EQ(o.expires_at, t0);
  l.request(t0, 2);
  o = l.evaluate(t0 + 20 * sec, 0);
  EXPECT_EQ(o.verdict, (decision{.allowed = true, .limit = 2, .remaining = 0, .reset = 40 * sec}));
  EXPECT_EQ(o.expires_at, t0 + minute);
  l.request(t0 + 20 * sec, 0);
  EXPECT_EQ(l.log_state().size(), 2) << "a peek adds no entry";
}

TEST(SlidingLog, ClockSteppingBackDoesNotOverAdmit) {
  limiter l(sl(2, minute));
  const micros t = t0 + hour;
  EXPECT_TRUE(l.request(t, 1).allowed);
  // Back 30 s: the entry at t still counts; the admitted one is stamped t (times stay sorted).
  EXPECT_EQ(l.request(t - 30 * sec, 1),
            (decision{.allowed = true, .limit = 2, .remaining = 0, .reset = 90 * sec}));
  EXPECT_EQ(l.log_state().newest(), t);
  // Both leave at t + 60 s, 2 min after the stepped-back clock.
  EXPECT_EQ(l.request(t - minute, 1).retry_after, 2 * minute);
  EXPECT_FALSE(l.request(t + minute - 1, 1).allowed);
  EXPECT_TRUE(l.request(t + minute, 2).allowed);
}

TEST(SlidingLog, PeekAheadThenClockBackStillSeesTheWholeWindow) {
  limiter l(sl(2, minute));
  const micros t = t0 + hour;
  EXPECT_TRUE(l.request(t, 1).allowed);
  EXPECT_TRUE(l.request(t + 50 * sec, 1).allowed);
  // A peek at t + 70 s (where the entry at t is out) must not forget that entry: the
  // clock may step back to t + 55 s, where both still count.
  EXPECT_EQ(l.request(t + 70 * sec, 0).remaining, 1);
  EXPECT_EQ(l.request(t + 55 * sec, 1),
            (decision{.limit = 2, .remaining = 0, .reset = 55 * sec, .retry_after = 5 * sec}));
}

TEST(SlidingLog, LimitChangesResizeTheLogKeepingTheNewest) {
  limiter l(sl(5, minute));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(l.request(t0 + i * sec, 1).allowed);
  // Lowered to 3: the 3 newest (t0+2s..t0+4s) bound the next admission; the peek that
  // resizes changes no decision.
  l.set_params(sl(3, minute));
  EXPECT_EQ(l.evaluate(t0 + 10 * sec, 1).verdict.retry_after, minute - 8 * sec);
  EXPECT_EQ(l.evaluate(t0 + 10 * sec, 0).verdict.remaining, 0);
  l.request(t0 + 10 * sec, 0);
  EXPECT_EQ(l.log_state().capacity(), 3);
  EXPECT_EQ(l.log_state().size(), 3);
  EXPECT_EQ(l.log_state().at(0), t0 + 2 * sec);
  EXPECT_EQ(l.evaluate(t0 + 10 * sec, 1).verdict.retry_after, minute - 8 * sec);
  // Raised to 6: one more fits right away.
  l.set_params(sl(6, minute));
  EXPECT_TRUE(l.request(t0 + 10 * sec, 3).allowed);
  EXPECT_EQ(l.log_state().capacity(), 6);
  EXPECT_EQ(l.log_state().size(), 6);
}

TEST(SlidingLog, RingBufferWrapsAroundInOrder) {
  sliding_log::log ring(3);
  EXPECT_EQ(ring.newest(), 0);
  for (micros t = 1; t <= 10; ++t) ring.push(t);  // drops the oldest when full
  ASSERT_EQ(ring.size(), 3);
  EXPECT_EQ(ring.at(0), 8);
  EXPECT_EQ(ring.at(2), 10);
  ring.drop_front(2);
  EXPECT_EQ(ring.size(), 1);
  EXPECT_EQ(ring.at(0), 10);
  ring.push(11);
  ring.push(12);
  ring.resize(5);
  EXPECT_EQ(ring.size(), 3);
  EXPECT_EQ(ring.at(0), 10);
  EXPECT_EQ(ring.newest(), 12);
  ring.resize(2);
  EXPECT_EQ(ring.at(0), 11);
  ring.drop_front(99);
  EXPECT_EQ(ring.size(), 0);
}

TEST(SlidingLog, RetryAfterIsTheSmallestPassingWaitForRandomStates) {
  std::mt19937_64 rng(41);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const limit_params p = random_params(algorithm::sliding_log, rng);
    limiter l(p);
    const micros now = epoch_2026 + uniform(rng, 0, day);
    // Up to N entries in the window, ties included, plus some already outside it.
    std::vector<micros> times;
    const std::int64_t in_window = uniform(rng, 0, p.count);
    for (std::int64_t k = 0; k < in_window; ++k)
      times.push_back(now - uniform(rng, 0, p.period - 1));
    std::sort(times.begin(), times.end());
    for (micros t : times) l.log_state().push(t);
    const std::int64_t cost = uniform(rng, 1, p.count);
    if (l.evaluate(now, cost).verdict.allowed) continue;
    const std::string bad = check_retry_after(l, now, cost, rng);
    ASSERT_TRUE(bad.empty()) << bad;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(SlidingLog, MatchesReferenceModel) {
  std::mt19937_64 rng(42);
  for (int seq = 0; seq < 2000; ++seq) {
    ASSERT_TRUE(run_against_reference(
        algorithm::sliding_log, rng, 60,
        [](const limit_params& p) { return reference_sliding_log(p.count, p.period); }))
        << "sequence " << seq;
  }
}

TEST(SlidingLog, PropertyEveryWindowEndingAtAnAdmissionHoldsAtMostN) {
  std::mt19937_64 rng(43);
  for (int seq = 0; seq < 2000; ++seq) {
    const limit_params p = random_params(algorithm::sliding_log, rng);
    limiter l(p);
    micros now = epoch_2026;
    micros latest = 0;  // admitted units are stamped no earlier than the latest stamp
    std::vector<admission> admitted;
    const bool clock_steps_back = seq % 2 == 1;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      if (clock_steps_back && uniform(rng, 0, 9) == 0) now -= uniform(rng, 1, 2 * p.period);
      const std::int64_t cost = random_cost(p, rng);
      if (!l.request(now, cost).allowed || cost == 0) continue;
      latest = std::max(latest, now);
      admitted.push_back({latest, cost});
      std::int64_t units = 0;
      for (const admission& a : admitted) {
        if (a.t > latest - p.period) units += a.cost;
      }
      ASSERT_LE(units, p.count) << "sequence " << seq << " step " << i;
    }
  }
}

}  // namespace
}  // namespace sluice::limit
