// A limit's `lease:` (issue 15, local quota leases): one fixture per error, exact messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

TEST(ConfigLease, ReadsBothFields) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/lease_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 3u);
  ASSERT_TRUE(limits[0].lease.has_value());
  EXPECT_EQ(limits[0].lease->max_tokens, 10);
  EXPECT_EQ(limits[0].lease->max_age, 250'000);
  EXPECT_EQ(limits[0].lease->where.line, 5);
  ASSERT_TRUE(limits[1].lease.has_value());
  EXPECT_EQ(limits[1].lease->max_tokens, 20);
  EXPECT_EQ(limits[1].lease->max_age, 10 * limit::micros_per_second);
  ASSERT_TRUE(limits[2].lease.has_value());  // leaky_bucket without delay
  EXPECT_EQ(limits[2].lease->max_tokens, 5);
}

TEST(ConfigLease, MaxTokensAtLeastOneAndBelowTheCapacity) {
  EXPECT_POLICY_ERROR("lease_tokens_zero",
                      "5:26: limits[0].lease.max_tokens: must be between 1 and 1000000 (got 0)");
  EXPECT_POLICY_ERROR(
      "lease_tokens_at_capacity",
      "6:26: limits[0].lease.max_tokens: max_tokens 10 is not below the capacity of limit 'per-ip' "
      "(10); a lease must leave part of the budget to the others");
  EXPECT_POLICY_ERROR(
      "lease_tier_capacity",
      "10:26: limits[0].lease.max_tokens: max_tokens 5 is not below the capacity of limit "
      "'per-client' for tier 'free' (5); a lease must leave part of the budget to the others");
}

TEST(ConfigLease, MaxAgePositiveAndBounded) {
  EXPECT_POLICY_ERROR("lease_age_zero",
                      "5:39: limits[0].lease.max_age: duration must be > 0 (got '0s')");
  EXPECT_POLICY_ERROR("lease_age_too_long",
                      "5:39: limits[0].lease.max_age: must be at most 10s (got 1m)");
}

TEST(ConfigLease, BothKeysRequiredAndNoOthers) {
  EXPECT_POLICY_ERROR(
      "lease_missing_max_age",
      "5:12: limits[0].lease: missing required key 'max_age' (e.g. max_age: 250ms)");
  EXPECT_POLICY_ERROR(
      "lease_unknown_key",
      "5:43: limits[0].lease: unknown key 'ttl' (expected one of: max_tokens, max_age)");
}

TEST(ConfigLease, OnlyAlgorithmsWhoseRefundIsExact) {
  EXPECT_POLICY_ERROR("lease_sliding_window",
                      "6:12: limits[0].lease: lease applies only to token_bucket, fixed_window and "
                      "leaky_bucket without delay (this limit uses sliding_window, whose unspent "
                      "units cannot be given back exactly)");
  EXPECT_POLICY_ERROR("lease_leaky_delay",
                      "7:12: limits[0].lease: a lease cannot serve a leaky_bucket with delay (a "
                      "leased unit is spent without being held); remove 'delay' or the lease");
}

}  // namespace
}  // namespace sluice::config
