// leaky_bucket: the same GCRA as token_bucket plus nginx-style shaping: a request that
// would conform within max_delay is admitted with `delay` (held until it conforms).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

limit_params lb(std::int64_t count, micros period, std::int64_t burst, micros max_delay) {
  return limit_params::make(algorithm::leaky_bucket, count, period, burst, max_delay);
}

TEST(LeakyBucket, HeldRequestsAreSpacedOneIntervalApart) {
  // 10/s (T = 100 ms), burst 1, hold up to 500 ms.
  limiter l(lb(10, sec, 1, 500 * ms));
  const micros t0 = epoch_2026;
  EXPECT_EQ(l.request(t0, 1),
            (decision{.allowed = true, .limit = 1, .remaining = 0, .reset = 100 * ms}));
  // The k-th extra request conforms k intervals later, up to max_delay.
  for (int k = 1; k <= 5; ++k) {
    const decision d = l.request(t0, 1);
    EXPECT_EQ(d, (decision{.allowed = true,
                           .limit = 1,
                           .remaining = 0,
                           .reset = (k + 1) * 100 * ms,
                           .delay = k * 100 * ms}))
        << k;
  }
  // The next would wait 600 ms > 500 ms: denied until its wait fits, 100 ms from now.
  const decision d = l.request(t0, 1);
  EXPECT_EQ(d, (decision{.limit = 1, .remaining = 0, .reset = 600 * ms, .retry_after = 100 * ms}));
  EXPECT_FALSE(l.evaluate(t0 + 100 * ms - 1, 1).verdict.allowed);
  const decision later = l.request(t0 + 100 * ms, 1);
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.delay, 500 * ms);
}

TEST(LeakyBucket, HoldsRoundUpToTheFirstConformingMicrosecond) {
  // 3/s: T = 333333.33 us. Release instants are the first whole us at or after k*T.
  limiter l(lb(3, sec, 1, sec));
  const micros t0 = epoch_2026;
  EXPECT_EQ(l.request(t0, 1).delay, 0);
  EXPECT_EQ(l.request(t0, 1).delay, 333'334);
  EXPECT_EQ(l.request(t0, 1).delay, 666'667);
  EXPECT_EQ(l.request(t0, 1).delay, 1'000'000) << "exactly max_delay still passes";
  // 4T = 1333333.33 us: 333334 us too long (wait - max_delay, rounded up).
  const decision d = l.request(t0, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, 333'334);
  EXPECT_FALSE(l.evaluate(t0 + 333'333, 1).verdict.allowed);
  EXPECT_EQ(l.evaluate(t0 + 333'334, 1).verdict.delay, 1'000'000);
}

TEST(LeakyBucket, BurstPassesUnheldThenShapes) {
  // 5/s (T = 200 ms), burst 3, hold up to 1 s: 3 immediately, then 5 held (200..1000 ms).
  limiter l(lb(5, sec, 3, sec));
  const micros t0 = epoch_2026 + 17;
  std::vector<micros> delays;
  while (true) {
    const decision d = l.request(t0, 1);
    if (!d.allowed) {
      EXPECT_EQ(d.retry_after, 200 * ms);
      EXPECT_EQ(d.reset, 1600 * ms) << "3 tokens of debt + 5 held = 8 T";
      break;
    }
    delays.push_back(d.delay);
  }
  EXPECT_EQ(delays, (std::vector<micros>{0, 0, 0, 200 * ms, 400 * ms, 600 * ms, 800 * ms, sec}));
}

TEST(LeakyBucket, PeekWhileRequestsAreHeldIsAllowedAndNotHeld) {
  limiter l(lb(10, sec, 1, 500 * ms));
  for (int i = 0; i < 4; ++i) l.request(epoch_2026, 1);
  const bucket::state before = l.bucket_state();
  const decision d = l.request(epoch_2026, 0);
  EXPECT_EQ(d, (decision{.allowed = true, .limit = 1, .remaining = 0, .reset = 400 * ms}));
  EXPECT_EQ(l.bucket_state(), before);
}

TEST(LeakyBucket, CostAboveBurstIsDeniedEvenWithRoomToHold) {
  limiter l(lb(1, sec, 2, hour));
  const decision d = l.request(epoch_2026, 3);
  EXPECT_EQ(
      d,
      (decision{.cost_exceeds_limit = true, .limit = 2, .remaining = 2, .retry_after = 2 * sec}));
  // cost == burst with a queue: held until it conforms.
  EXPECT_EQ(l.request(epoch_2026, 2).delay, 0);
  EXPECT_EQ(l.request(epoch_2026, 2).delay, 2 * sec);
}

TEST(LeakyBucket, WithoutMaxDelayItIsATokenBucket) {
  std::mt19937_64 rng(5);
  for (int seq = 0; seq < 500; ++seq) {
    limit_params p = random_params(algorithm::token_bucket, rng);
    limit_params q = p;
    q.algo = algorithm::leaky_bucket;
    limiter a(p), b(q);
    micros now = epoch_2026;
    for (int i = 0; i < 60; ++i) {
      now += random_step(p, now, rng);
      const std::int64_t cost = random_cost(p, rng);
      ASSERT_EQ(a.request(now, cost), b.request(now, cost)) << seq << " " << i;
    }
  }
}

TEST(LeakyBucket, RetryAfterIsTheSmallestPassingWaitForRandomStates) {
  std::mt19937_64 rng(12);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const limit_params p = random_params(algorithm::leaky_bucket, rng);
    limiter l(p);
    const micros now = epoch_2026 + uniform(rng, 0, day);
    // Any debt up to a full bucket plus the whole hold allowance.
    const i128 most = i128{p.burst} * p.interval_num + i128{p.max_delay} * p.interval_den;
    const i128 debt = uniform(rng, 0, static_cast<std::int64_t>(most));
    l.bucket_state() = bucket::state{now + static_cast<micros>(debt / p.interval_den),
                                     static_cast<std::int64_t>(debt % p.interval_den)};
    const std::int64_t cost = uniform(rng, 1, p.burst);
    if (l.evaluate(now, cost).verdict.allowed) continue;
    const std::string bad = check_retry_after(l, now, cost, rng);
    ASSERT_TRUE(bad.empty()) << bad << " count=" << p.count << " period=" << p.period
                             << " burst=" << p.burst << " max_delay=" << p.max_delay;
    // At the retry instant it passes with the longest hold allowed, never longer.
    EXPECT_LE(l.evaluate(now + l.evaluate(now, cost).verdict.retry_after, cost).verdict.delay,
              p.max_delay);
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(LeakyBucket, MatchesReferenceModelWithNegativeLevel) {
  std::mt19937_64 rng(3);
  for (int seq = 0; seq < 2000; ++seq) {
    ASSERT_TRUE(run_against_reference(algorithm::leaky_bucket, rng, 60,
                                      [](const limit_params& p) {
                                        return reference_bucket(p.count, p.period, p.burst,
                                                                p.max_delay);
                                      }))
        << "sequence " << seq;
  }
}

TEST(LeakyBucket, PropertyForwardedTrafficObeysTheBucketAndHoldsStayWithinMaxDelay) {
  std::mt19937_64 rng(4);
  for (int seq = 0; seq < 2000; ++seq) {
    const limit_params p = random_params(algorithm::leaky_bucket, rng);
    limiter l(p);
    std::vector<admission> forwarded;  // at arrival + delay
    micros now = epoch_2026;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      const std::int64_t cost = random_cost(p, rng);
      const decision d = l.request(now, cost);
      if (!d.allowed || cost == 0) continue;
      ASSERT_LE(d.delay, p.max_delay);
      forwarded.push_back({now + d.delay, cost});
    }
    // Released in order, and every run of releases i..j fits burst + rate * (f_j - f_i):
    // the upstream sees a stream that a token bucket with no shaping would admit. (+1 us:
    // a release is the first whole microsecond at or after its exact conformance time.)
    for (std::size_t i = 0; i < forwarded.size(); ++i) {
      if (i > 0) {
        ASSERT_LE(forwarded[i - 1].t, forwarded[i].t) << seq;
      }
      i128 units = 0;
      for (std::size_t j = i; j < forwarded.size(); ++j) {
        units += forwarded[j].cost;
        ASSERT_LE(units * p.period,
                  i128{p.burst} * p.period + i128{p.count} * (forwarded[j].t - forwarded[i].t + 1))
            << "sequence " << seq << " releases " << i << ".." << j;
      }
    }
  }
}

TEST(LeakyBucket, ClockSteppingBackDoesNotOverAdmit) {
  std::mt19937_64 rng(6);
  for (int seq = 0; seq < 1000; ++seq) {
    const limit_params p = random_params(algorithm::leaky_bucket, rng);
    limiter l(p);
    std::vector<admission> admitted;
    micros now = epoch_2026;
    for (int i = 0; i < 80; ++i) {
      now += random_step(p, now, rng);
      if (uniform(rng, 0, 9) == 0) now -= uniform(rng, 1, p.period);
      const std::int64_t cost = random_cost(p, rng);
      if (l.request(now, cost).allowed && cost > 0) admitted.push_back({now, cost});
    }
    // Arrivals i..j (in processing order): units <= burst + rate * (t_j - t_i + max_delay).
    for (std::size_t i = 0; i < admitted.size(); ++i) {
      i128 units = 0;
      for (std::size_t j = i; j < admitted.size(); ++j) {
        units += admitted[j].cost;
        ASSERT_LE(units * p.period,
                  i128{p.burst} * p.period +
                      i128{p.count} * (admitted[j].t - admitted[i].t + p.max_delay))
            << "sequence " << seq << " admissions " << i << ".." << j;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::limit
