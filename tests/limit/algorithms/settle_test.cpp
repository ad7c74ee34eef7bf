// settle(): a charge of `reserved` that turned out to cost `actual` (issue 14, a cost
// from the response), for buckets and fixed windows: debt when it cost more, the rest
// given back when it cost less, and never a state below the one had the request been
// charged `actual` from the start (the property test), so a settle never admits more.
#include <gtest/gtest.h>

#include <random>

#include "harness.hpp"
#include "limit/algorithms/bucket.hpp"
#include "limit/algorithms/fixed_window.hpp"

namespace sluice::limit::algo_test {
namespace {

// 10 tokens per second (T = 100 ms), burst 10.
const limit_params tb = limit_params::make(algorithm::token_bucket, 10, sec, 10);
const limit_params fw = limit_params::make(algorithm::fixed_window, 100, minute, 0);

bucket::state charged(const limit_params& p, micros at, std::int64_t cost) {
  const auto r = bucket::evaluate(p, {}, at, cost);
  EXPECT_TRUE(r.verdict.allowed);
  return r.next;
}

TEST(BucketSettle, CostingMoreLeavesDebtThatLaterRequestsWaitFor) {
  const bucket::state s = charged(tb, epoch_2026, 2);  // 8 tokens left
  const auto r = bucket::settle(tb, s, epoch_2026, 2, 12, epoch_2026);
  ASSERT_TRUE(r.changed);
  // 12 taken of a bucket of 10: 2 owed, so one token is 300 ms away.
  const auto next = bucket::evaluate(tb, r.next, epoch_2026, 1);
  EXPECT_FALSE(next.verdict.allowed);
  EXPECT_EQ(next.verdict.retry_after, 300 * ms);
  EXPECT_EQ(r.expires_at, epoch_2026 + 1200 * ms);
}

TEST(BucketSettle, DebtIsCappedAtOneCapacityBeyondEmpty) {
  const bucket::state s = charged(tb, epoch_2026, 10);
  const auto r = bucket::settle(tb, s, epoch_2026, 10, 1'000'000, epoch_2026);
  ASSERT_TRUE(r.changed);
  EXPECT_EQ(r.next, (bucket::state{epoch_2026 + 2 * sec, 0})) << "two buckets' worth";
  EXPECT_FALSE(bucket::settle(tb, r.next, epoch_2026, 1, 5, epoch_2026).changed) << "at the cap";
}

TEST(BucketSettle, CostingLessGivesBackWhatRefillCannotHaveAbsorbed) {
  const bucket::state s = charged(tb, epoch_2026, 8);  // tat = now + 800 ms
  // Settled at once: all of it back.
  auto r = bucket::settle(tb, s, epoch_2026, 8, 3, epoch_2026);
  EXPECT_EQ(r.next, (bucket::state{epoch_2026 + 300 * ms, 0}));
  // 600 ms later: at most 8 T - 600 ms = 200 ms of the 500 ms asked.
  r = bucket::settle(tb, s, epoch_2026, 8, 3, epoch_2026 + 600 * ms);
  EXPECT_EQ(r.next, (bucket::state{epoch_2026 + 600 * ms, 0}));
  // Once the reserve has had time to refill whole, nothing.
  EXPECT_FALSE(bucket::settle(tb, s, epoch_2026, 8, 3, epoch_2026 + 800 * ms).changed);
  // A clock that went back gives nothing either.
  EXPECT_FALSE(bucket::settle(tb, s, epoch_2026, 8, 3, epoch_2026 - 1).changed);
}

// The reference: every charge applied as the bucket applies an admitted one,
// tat = max(tat, t) + c T (exact fractions), whatever the verdict would be.
bucket::state forced(const limit_params& p, bucket::state s, micros t, std::int64_t cost) {
  const std::int64_t den = p.interval_den;
  if (s.tat_frac >= den) s = bucket::state{s.tat_us + 1, 0};
  if (s.tat_us < t || (s.tat_us == t && s.tat_frac == 0)) s = bucket::state{t, 0};
  const std::int64_t frac = s.tat_frac + cost * p.interval_num;
  return bucket::state{s.tat_us + frac / den, frac % den};
}

bool at_least(const bucket::state& a, const bucket::state& b) {
  return a.tat_us > b.tat_us || (a.tat_us == b.tat_us && a.tat_frac >= b.tat_frac);
}

TEST(BucketSettle, NeverBelowTheStateOfChargingTheActualCostFromTheStart) {
  std::mt19937_64 rng(1414);
  int given_back = 0, owed = 0;
  for (int run = 0; run < 20'000; ++run) {
    const limit_params p = limit_params::make(algorithm::token_bucket, uniform(rng, 1, 50),
                                              uniform(rng, 1, 20) * 100 * ms, uniform(rng, 1, 40));
    micros t = epoch_2026 + uniform(rng, 0, 10 * sec);
    bucket::state start{t + uniform(rng, -5, 5) * 100 * ms, 0};
    const std::int64_t reserved = uniform(rng, 0, p.burst);
    const std::int64_t actual = uniform(rng, 0, 2 * p.burst);
    const micros charged_at = t;
    bucket::state mine = forced(p, start, t, reserved);
    bucket::state reference = forced(p, start, t, actual);
    for (int k = uniform(rng, 0, 5); k > 0; --k) {
      t += uniform(rng, 0, 2 * sec);
      const std::int64_t c = uniform(rng, 0, p.burst);
      mine = forced(p, mine, t, c);
      reference = forced(p, reference, t, c);
    }
    t += uniform(rng, 0, sec);
    const auto r = bucket::settle(p, mine, charged_at, reserved, actual, t);
    // Above the reference, except what the debt cap forgives.
    const std::int64_t cap_debt = 2 * p.burst * p.interval_num;
    const bucket::state capped_reference =
        (static_cast<__int128>(reference.tat_us - t) * p.interval_den + reference.tat_frac >
         cap_debt)
            ? bucket::state{t + cap_debt / p.interval_den, cap_debt % p.interval_den}
            : reference;
    ASSERT_TRUE(at_least(r.next, capped_reference))
        << "run " << run << ": reserved " << reserved << " actual " << actual;
    if (r.changed) (actual < reserved ? given_back : owed)++;
  }
  EXPECT_GT(given_back, 500);
  EXPECT_GT(owed, 2000);
}

TEST(FixedWindowSettle, ExactWithinTheWindowAndNothingOnceItMovedOn) {
  const micros start = epoch_2026;  // aligned to the minute
  const fixed_window::state s{start + 5 * sec, 40};
  auto r = fixed_window::settle(fw, s, start + 5 * sec, 10, 3, start + 20 * sec);
  EXPECT_EQ(r.next.count, 33);
  EXPECT_EQ(r.expires_at, start + minute);
  r = fixed_window::settle(fw, s, start + 5 * sec, 10, 150, start + 20 * sec);
  EXPECT_EQ(r.next.count, 140) << "owed: at most N more";
  r = fixed_window::settle(fw, {start + 5 * sec, 4}, start + 5 * sec, 10, 0, start + 6 * sec);
  EXPECT_EQ(r.next.count, 0) << "never below zero";
  // The next window holds none of the charge.
  EXPECT_FALSE(fixed_window::settle(fw, {start + minute + sec, 7}, start + 5 * sec, 10, 50,
                                    start + minute + 2 * sec)
                   .changed);
}

TEST(FixedWindowSettle, AReserveOfZeroStartsTheWindowWithWhatIsOwed) {
  const micros start = epoch_2026;
  const auto r = fixed_window::settle(fw, {}, start + 5 * sec, 0, 30, start + 9 * sec);
  ASSERT_TRUE(r.changed);
  EXPECT_EQ(r.next, (fixed_window::state{start, 30}));
  EXPECT_FALSE(fixed_window::settle(fw, {}, start + 5 * sec, 0, 30, start + minute).changed)
      << "settled after its window ended";
}

}  // namespace
}  // namespace sluice::limit::algo_test
