// token_bucket: capacity `burst`, refilled continuously at count/period (GCRA in
// bucket.cpp). Fake time is plain integers; nothing sleeps.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

limit_params tb(std::int64_t count, micros period, std::int64_t burst) {
  return limit_params::make(algorithm::token_bucket, count, period, burst);
}

// Requests cost 1 at `now` until one is denied; returns how many passed.
int drain(limiter& l, micros now) {
  int n = 0;
  while (l.request(now, 1).allowed) ++n;
  return n;
}

TEST(TokenBucket, BurstFiveAtOnePerSecond) {
  limiter l(tb(1, sec, 5));
  const micros t0 = epoch_2026;
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += l.request(t0, 1).allowed;
  EXPECT_EQ(admitted, 5);
  EXPECT_FALSE(l.request(t0 + sec - 1, 1).allowed) << "one token needs a whole second";
  EXPECT_TRUE(l.request(t0 + sec, 1).allowed);
  const decision d = l.request(t0 + sec, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, sec);
}

TEST(TokenBucket, RemainingResetAndRetryAfterByHand) {
  limiter l(tb(1, sec, 5));
  const micros t0 = epoch_2026;
  // Fresh bucket: 5 tokens. After one: 4 left, full again in 1 s.
  decision d = l.request(t0, 1);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 5, .remaining = 4, .reset = sec}));
  d = l.request(t0, 3);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 5, .remaining = 1, .reset = 4 * sec}));
  // 1 token left: a cost-2 request waits for one more token (1 s).
  d = l.request(t0, 2);
  EXPECT_EQ(d, (decision{.limit = 5, .remaining = 1, .reset = 4 * sec, .retry_after = sec}));
  d = l.request(t0, 1);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 5, .remaining = 0, .reset = 5 * sec}));
  // Half a second later: 0.5 token, so 0 whole tokens; the next one is 0.5 s away.
  d = l.request(t0 + 500 * ms, 1);
  EXPECT_EQ(d, (decision{.limit = 5, .remaining = 0, .reset = 4500 * ms, .retry_after = 500 * ms}));
  // A peek sees the same and changes nothing.
  d = l.request(t0 + 500 * ms, 0);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 5, .remaining = 0, .reset = 4500 * ms}));
  // 4.5 s later everything is back.
  d = l.request(t0 + 5 * sec, 0);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 5, .remaining = 5, .reset = 0}));
}

TEST(TokenBucket, NonDividingRatesAdmitFloorOfElapsedTimesRatePlusBurst) {
  struct rate {
    std::int64_t count;
    micros period;
    std::int64_t burst;
  };
  // 7/s (T = 142857.142857.. us), 3/min, 100/10s, 7 per 3 s, 1000003 per ~1 s.
  const rate rates[] = {
      {7, sec, 7}, {3, minute, 5}, {100, 10 * sec, 3}, {7, 3 * sec, 10}, {13, 999'999, 4}};
  std::mt19937_64 rng(7);
  for (const rate& r : rates) {
    limiter l(tb(r.count, r.period, r.burst));
    const micros t0 = epoch_2026 + 12'345;
    std::int64_t total = drain(l, t0);
    ASSERT_EQ(total, r.burst);
    micros now = t0;
    // A greedy client that drains the bucket at random instants at most burst - 1
    // intervals apart never lets it overflow, so it gets exactly
    // burst + floor(elapsed * rate) over the whole run.
    const micros horizon = r.period >= minute ? 30 * day : day;
    const micros max_step = (r.burst - 1) * r.period / r.count;
    int checks = 0;
    while (now - t0 < horizon) {
      now += uniform(rng, 1, max_step);
      total += drain(l, now);
      const std::int64_t want =
          r.burst + static_cast<std::int64_t>(i128{now - t0} * r.count / r.period);
      if (total != want) {
        FAIL() << r.count << "/" << r.period << "us at +" << now - t0 << ": " << total
               << " != " << want;
      }
      ++checks;
    }
    EXPECT_GT(checks, 1000);
  }
}

TEST(TokenBucket, ManyRequestsAtTheSameInstant) {
  limiter l(tb(5, sec, 300));
  int admitted = 0;
  for (int i = 0; i < 10'000; ++i) admitted += l.request(epoch_2026, 1).allowed;
  EXPECT_EQ(admitted, 300);
  // T = 200 ms: the next token at exactly +200 ms.
  const decision d = l.request(epoch_2026, 1);
  EXPECT_EQ(d.retry_after, 200 * ms);
  EXPECT_EQ(d.reset, 60 * sec);
}

TEST(TokenBucket, LongIdleGapsRefillToExactlyBurst) {
  limiter l(tb(7, sec, 10));
  micros now = epoch_2026;
  for (int gap_days : {1, 3, 30, 365}) {
    EXPECT_EQ(drain(l, now), 10);
    // Right after draining the state expires when the bucket is full again: 10/7 s.
    EXPECT_EQ(l.evaluate(now, 0).expires_at, now + 1'428'572);
    now += gap_days * day;
    EXPECT_LE(l.evaluate(now, 0).expires_at, now) << "idle state is reclaimable";
    EXPECT_EQ(l.evaluate(now, 0).verdict.remaining, 10) << "never more than burst";
  }
}

TEST(TokenBucket, ClockSteppingBackDoesNotOverAdmit) {
  limiter l(tb(1, sec, 3));
  const micros t0 = epoch_2026 + day;
  ASSERT_EQ(drain(l, t0), 3);
  for (micros back : {micros{1}, 500 * ms, sec, 10 * sec, hour, day}) {
    EXPECT_FALSE(l.evaluate(t0 - back, 1).verdict.allowed) << back;
    // The wait counts from the earlier clock: the token is due at t0 + 1 s.
    EXPECT_EQ(l.evaluate(t0 - back, 1).verdict.retry_after, back + sec) << back;
    EXPECT_EQ(l.evaluate(t0 - back, 0).verdict.remaining, 0);
    EXPECT_TRUE(l.evaluate(t0 - back, 0).verdict.allowed) << "a peek always passes";
  }
  // Back 1 s and forward again: still exactly one token per second from t0.
  EXPECT_FALSE(l.request(t0 - sec + 1, 1).allowed);
  EXPECT_TRUE(l.request(t0 + sec, 1).allowed);
  EXPECT_FALSE(l.request(t0 + sec, 1).allowed);
}

TEST(TokenBucket, LargeCosts) {
  const limit_params p = tb(2, sec, 10);  // T = 500 ms
  limiter l(p);
  const micros t0 = epoch_2026;
  // cost == burst on a full bucket passes and empties it.
  decision d = l.request(t0, 10);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 10, .remaining = 0, .reset = 5 * sec}));
  // cost > burst can never pass: denied with one full refill as retry_after.
  d = l.request(t0 + 5 * sec, 11);
  EXPECT_EQ(
      d,
      (decision{.cost_exceeds_limit = true, .limit = 10, .remaining = 10, .retry_after = 5 * sec}));
  // A cost of 4 after 1.2 s (2.4 tokens): 1.6 tokens short = 800 ms.
  d = l.request(t0 + 1200 * ms, 4);
  EXPECT_EQ(d,
            (decision{.limit = 10, .remaining = 2, .reset = 3800 * ms, .retry_after = 800 * ms}));
  EXPECT_TRUE(l.request(t0 + 2 * sec, 4).allowed);
}

TEST(TokenBucket, PeekChangesNothing) {
  const limit_params p = tb(7, sec, 4);
  limiter l(p);
  const micros t0 = epoch_2026 + 3;
  l.request(t0, 3);
  const bucket::state before = l.bucket_state();
  for (micros dt : {micros{0}, micros{1}, 100 * ms, sec}) {
    auto r = bucket::evaluate(p, before, t0 + dt, 0);
    EXPECT_TRUE(r.verdict.allowed);
    EXPECT_EQ(r.verdict.delay, 0);
    // The next state is the same instant (or, once full, a fresh bucket).
    auto again = bucket::evaluate(p, r.next, t0 + dt, 1);
    EXPECT_EQ(again.verdict, bucket::evaluate(p, before, t0 + dt, 1).verdict);
  }
}

TEST(TokenBucket, StateFromOtherParamsIsReadConservatively) {
  // Written at 7/s (fraction in 1/7 us), read at 1/s (whole microseconds): the fraction
  // is worth less than 1 us, so the tat is rounded up to the next microsecond.
  const limit_params one = tb(1, sec, 1);
  const bucket::state s{epoch_2026 + sec, 6};
  auto r = bucket::evaluate(one, s, epoch_2026, 1);
  EXPECT_FALSE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.retry_after, sec + 1);
  EXPECT_TRUE(bucket::evaluate(one, s, epoch_2026 + sec + 1, 1).verdict.allowed);
  // A fraction beyond any denominator does not explode the debt either.
  const bucket::state odd{epoch_2026, 999'999'999};
  r = bucket::evaluate(one, odd, epoch_2026, 1);
  EXPECT_FALSE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.retry_after, 1);
  EXPECT_EQ(r.next.tat_frac, odd.tat_frac) << "denied: nothing to store";
  r = bucket::evaluate(one, odd, epoch_2026 + 1, 1);
  EXPECT_TRUE(r.verdict.allowed);
  EXPECT_EQ(r.next, (bucket::state{epoch_2026 + 1 + sec, 0}));
}

TEST(TokenBucket, RetryAfterIsTheSmallestPassingWaitForRandomStates) {
  std::mt19937_64 rng(11);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const limit_params p = random_params(algorithm::token_bucket, rng);
    limiter l(p);
    const micros now = epoch_2026 + uniform(rng, 0, day);
    // Any debt from none to a full bucket, at any fraction of a microsecond.
    const i128 horizon = i128{p.burst} * p.interval_num;
    const i128 debt = uniform(rng, 0, static_cast<std::int64_t>(horizon));
    l.bucket_state() = bucket::state{now + static_cast<micros>(debt / p.interval_den),
                                     static_cast<std::int64_t>(debt % p.interval_den)};
    const std::int64_t cost = uniform(rng, 1, p.burst);
    if (l.evaluate(now, cost).verdict.allowed) continue;
    const std::string bad = check_retry_after(l, now, cost, rng);
    ASSERT_TRUE(bad.empty()) << bad << " count=" << p.count << " period=" << p.period
                             << " burst=" << p.burst << " cost=" << cost;
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(TokenBucket, MatchesExactRationalReferenceModel) {
  std::mt19937_64 rng(1);
  for (int seq = 0; seq < 2000; ++seq) {
    ASSERT_TRUE(run_against_reference(
        algorithm::token_bucket, rng, 60,
        [](const limit_params& p) { return reference_bucket(p.count, p.period, p.burst, 0); }))
        << "sequence " << seq;
  }
}

// For every run of consecutive admissions i..j: units <= burst + rate * (t_j - t_i),
// checked in integers as units * period <= burst * period + count * (t_j - t_i). With
// time moving backwards this is stricter than the [min, max] interval bound.
::testing::AssertionResult never_exceeds_rate(const limit_params& p,
                                              const std::vector<admission>& a, micros slack) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    i128 units = 0;
    for (std::size_t j = i; j < a.size(); ++j) {
      units += a[j].cost;
      const i128 bound = i128{p.burst} * p.period + i128{p.count} * (a[j].t - a[i].t + slack);
      if (units * p.period > bound) {
        return ::testing::AssertionFailure()
               << "admissions " << i << ".." << j << " over " << a[j].t - a[i].t << " us";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(TokenBucket, PropertyNeverAdmitsMoreThanBurstPlusRateTimesInterval) {
  std::mt19937_64 rng(2);
  for (int seq = 0; seq < 2000; ++seq) {
    const limit_params p = random_params(algorithm::token_bucket, rng);
    limiter l(p);
    std::vector<admission> admitted;
    micros now = epoch_2026;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      // Sometimes the clock steps back (NTP), by up to a few intervals or a window.
      if (uniform(rng, 0, 19) == 0) now -= uniform(rng, 1, p.period);
      const std::int64_t cost = random_cost(p, rng);
      if (l.request(now, cost).allowed && cost > 0) admitted.push_back({now, cost});
    }
    ASSERT_TRUE(never_exceeds_rate(p, admitted, 0)) << "sequence " << seq;
  }
}

}  // namespace
}  // namespace sluice::limit
