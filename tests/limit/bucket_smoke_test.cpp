#include <gtest/gtest.h>

#include "limit/algorithms/bucket.hpp"

using namespace sluice::limit;

TEST(BucketSmoke, BurstFiveAtOnePerSecond) {
  auto p = limit_params::make(algorithm::token_bucket, 1, micros_per_second, 5);
  bucket::state s;
  const micros t0 = 1'700'000'000 * micros_per_second;
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = bucket::evaluate(p, s, t0, 1);
    if (r.verdict.allowed) { ++admitted; s = r.next; }
  }
  EXPECT_EQ(admitted, 5);
  auto r = bucket::evaluate(p, s, t0 + micros_per_second, 1);
  EXPECT_TRUE(r.verdict.allowed);
  s = r.next;
  r = bucket::evaluate(p, s, t0 + micros_per_second, 1);
  EXPECT_FALSE(r.verdict.allowed);
  EXPECT_EQ(r.verdict.retry_after, micros_per_second);
}
