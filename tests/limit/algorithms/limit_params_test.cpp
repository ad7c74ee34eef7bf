// limit_params: derived fields, capacity, policy window, and the exactness bounds that
// keep every intermediate value below 2^53 (so the Redis Lua mirror is exact too).
#include <gtest/gtest.h>

#include <climits>

#include "harness.hpp"
#include "limit/algorithms/decision.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;

TEST(LimitParams, MakeReducesTheEmissionInterval) {
  // 5/s: T = 200000 us exactly.
  auto p = limit_params::make(algorithm::token_bucket, 5, sec, 300);
  EXPECT_EQ(p.interval_num, 200'000);
  EXPECT_EQ(p.interval_den, 1);
  EXPECT_EQ(p.burst, 300);
  EXPECT_EQ(p.count, 5);
  EXPECT_EQ(p.period, sec);

  // 7/s: T = 1e6/7 us, kept as a fraction in lowest terms.
  p = limit_params::make(algorithm::token_bucket, 7, sec, 0);
  EXPECT_EQ(p.interval_num, 1'000'000);
  EXPECT_EQ(p.interval_den, 7);
  EXPECT_EQ(p.burst, 7) << "burst defaults to N";

  // 3/min: T = 20 s; 100/10s: T = 100 ms; 6/4s: T = 2e6/3 us.
  p = limit_params::make(algorithm::token_bucket, 3, minute, 0);
  EXPECT_EQ(p.interval_num, 20'000'000);
  EXPECT_EQ(p.interval_den, 1);
  p = limit_params::make(algorithm::token_bucket, 100, 10 * sec, 0);
  EXPECT_EQ(p.interval_num, 100'000);
  EXPECT_EQ(p.interval_den, 1);
  p = limit_params::make(algorithm::leaky_bucket, 6, 4 * sec, 2);
  EXPECT_EQ(p.interval_num, 2'000'000);
  EXPECT_EQ(p.interval_den, 3);
}

TEST(LimitParams, MakeKeepsBucketOnlyFieldsForBuckets) {
  auto tb = limit_params::make(algorithm::token_bucket, 10, sec, 20, 5 * sec);
  EXPECT_EQ(tb.burst, 20);
  EXPECT_EQ(tb.max_delay, 0) << "only leaky_bucket shapes";
  auto lb = limit_params::make(algorithm::leaky_bucket, 10, sec, 20, 5 * sec);
  EXPECT_EQ(lb.max_delay, 5 * sec);
  EXPECT_EQ(lb.algo, algorithm::leaky_bucket);
  for (auto a : {algorithm::fixed_window, algorithm::sliding_window, algorithm::sliding_log}) {
    auto w = limit_params::make(a, 10, minute, 20, 5 * sec);
    EXPECT_EQ(w.burst, 0) << to_string(a);
    EXPECT_EQ(w.max_delay, 0) << to_string(a);
    EXPECT_EQ(w.count, 10);
    EXPECT_EQ(w.period, minute);
  }
}

TEST(LimitParams, CapacityIsBurstForBucketsAndNForWindows) {
  EXPECT_EQ(limit_params::make(algorithm::token_bucket, 5, sec, 300).capacity(), 300);
  EXPECT_EQ(limit_params::make(algorithm::leaky_bucket, 5, sec, 0).capacity(), 5);
  EXPECT_EQ(limit_params::make(algorithm::fixed_window, 10'000, minute, 0).capacity(), 10'000);
  EXPECT_EQ(limit_params::make(algorithm::sliding_window, 50, minute, 0).capacity(), 50);
  EXPECT_EQ(limit_params::make(algorithm::sliding_log, 3, minute, 0).capacity(), 3);
}

TEST(LimitParams, PolicyWindowSeconds) {
  // Buckets: time to refill from empty, burst * T, rounded up.
  EXPECT_EQ(limit_params::make(algorithm::token_bucket, 5, sec, 300).policy_window_seconds(), 60);
  EXPECT_EQ(limit_params::make(algorithm::token_bucket, 1, sec, 5).policy_window_seconds(), 5);
  // 10 tokens at 7/s: 10/7 s = 1.43 s -> 2.
  EXPECT_EQ(limit_params::make(algorithm::token_bucket, 7, sec, 10).policy_window_seconds(), 2);
  // 60/min, burst 100: 100 s.
  EXPECT_EQ(limit_params::make(algorithm::leaky_bucket, 60, minute, 100).policy_window_seconds(),
            100);
  // Windows: the window length.
  EXPECT_EQ(limit_params::make(algorithm::fixed_window, 10'000, minute, 0).policy_window_seconds(),
            60);
  EXPECT_EQ(limit_params::make(algorithm::sliding_window, 1, 1500 * ms, 0).policy_window_seconds(),
            2);
  EXPECT_EQ(limit_params::make(algorithm::sliding_log, 1, day, 0).policy_window_seconds(), 86'400);
}

TEST(LimitParams, ExactRejectsNonPositiveRates) {
  EXPECT_FALSE(limit_params::make(algorithm::fixed_window, 0, sec, 0).exact());
  EXPECT_FALSE(limit_params::make(algorithm::sliding_log, 1, 0, 0).exact());
  auto p = limit_params::make(algorithm::token_bucket, 1, sec, 1);
  p.burst = 0;
  EXPECT_FALSE(p.exact()) << "a bucket needs burst >= 1";
  EXPECT_TRUE(limit_params::make(algorithm::token_bucket, 1, sec, 1).exact());
}

TEST(LimitParams, ExactBucketBoundIsTwoHorizonsPlusDelay) {
  // 1/day: T = 86400e6 us; debt reaches 2 * burst * T (+ max_delay) units.
  const std::int64_t num = day;
  const std::int64_t max_burst = max_exact_integer / (2 * num);
  EXPECT_TRUE(limit_params::make(algorithm::token_bucket, 1, day, max_burst).exact());
  EXPECT_FALSE(limit_params::make(algorithm::token_bucket, 1, day, max_burst + 1).exact());
  // The delay allowance counts too (in units of 1/interval_den us).
  const std::int64_t slack = max_exact_integer - 2 * max_burst * num;
  EXPECT_TRUE(limit_params::make(algorithm::leaky_bucket, 1, day, max_burst, slack).exact());
  EXPECT_FALSE(limit_params::make(algorithm::leaky_bucket, 1, day, max_burst, slack + 1).exact());
  // Realistic limits are far inside the bound.
  EXPECT_TRUE(limit_params::make(algorithm::token_bucket, 3000, minute, 2000).exact());
  EXPECT_TRUE(limit_params::make(algorithm::leaky_bucket, 7, sec, 100, hour).exact());
}

TEST(LimitParams, ExactSlidingWindowNeedsWholeMillisecondsAndThreeN) {
  EXPECT_FALSE(limit_params::make(algorithm::sliding_window, 10, 1500 * ms + 1, 0).exact());
  EXPECT_TRUE(limit_params::make(algorithm::sliding_window, 10, 1500 * ms, 0).exact());
  EXPECT_TRUE(limit_params::make(algorithm::sliding_window, 1'000'000, day, 0).exact());
  EXPECT_FALSE(
      limit_params::make(algorithm::sliding_window, std::int64_t{INT32_MAX} + 1, sec, 0).exact());
  // previous + current + cost reach 3 * N weighted by window_ms each.
  const std::int64_t window_ms = 1'000'000'000;  // ~11.6 days
  const std::int64_t max_count = max_exact_integer / (3 * window_ms);
  EXPECT_TRUE(limit_params::make(algorithm::sliding_window, max_count, window_ms * ms, 0).exact());
  EXPECT_FALSE(
      limit_params::make(algorithm::sliding_window, max_count + 1, window_ms * ms, 0).exact());
}

TEST(LimitParams, ExactWindowCounts) {
  EXPECT_TRUE(limit_params::make(algorithm::fixed_window, max_exact_integer, sec, 0).exact());
  EXPECT_FALSE(limit_params::make(algorithm::fixed_window, max_exact_integer + 1, sec, 0).exact());
  EXPECT_TRUE(
      limit_params::make(algorithm::sliding_log, max_sliding_log_entries, minute, 0).exact());
  EXPECT_FALSE(
      limit_params::make(algorithm::sliding_log, max_sliding_log_entries + 1, minute, 0).exact());
}

TEST(LimitParams, AlgorithmNames) {
  EXPECT_EQ(to_string(algorithm::token_bucket), "token_bucket");
  EXPECT_EQ(to_string(algorithm::leaky_bucket), "leaky_bucket");
  EXPECT_EQ(to_string(algorithm::fixed_window), "fixed_window");
  EXPECT_EQ(to_string(algorithm::sliding_window), "sliding_window");
  EXPECT_EQ(to_string(algorithm::sliding_log), "sliding_log");
  EXPECT_EQ(algorithm_from_name("sliding_log"), algorithm::sliding_log);
}

TEST(LimitParams, SecondsRounding) {
  EXPECT_EQ(ceil_seconds(0), 0);
  EXPECT_EQ(ceil_seconds(-5), 0);
  EXPECT_EQ(ceil_seconds(1), 1);
  EXPECT_EQ(ceil_seconds(sec), 1);
  EXPECT_EQ(ceil_seconds(sec + 1), 2);
  EXPECT_EQ(ceil_seconds_min1(0), 1);
  EXPECT_EQ(ceil_seconds_min1(1), 1);
  EXPECT_EQ(ceil_seconds_min1(7 * sec), 7);
  EXPECT_EQ(ceil_seconds_min1(7 * sec + 1), 8);
}

}  // namespace
}  // namespace sluice::limit
