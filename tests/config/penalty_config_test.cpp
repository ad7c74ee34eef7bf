// A limit's `penalty:` (issue 15, penalty box): one fixture per error, exact messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::fake_env;
using testing::fixture;
using testing::policy_case;
using testing::policy_errors_of;

TEST(ConfigPenalty, ReadsEveryFieldAndDefaultsWhen) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/penalty_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 2u);
  ASSERT_TRUE(limits[0].penalty.has_value());
  const penalty_def& p = *limits[0].penalty;
  EXPECT_DOUBLE_EQ(p.rejected_share, 0.25);
  EXPECT_EQ(p.min_requests, 5);
  EXPECT_EQ(p.window, 30 * limit::micros_per_second);
  EXPECT_DOUBLE_EQ(p.factor, 0.3);
  EXPECT_EQ(p.duration, 600 * limit::micros_per_second);
  EXPECT_EQ(p.where.line, 5);
  ASSERT_TRUE(limits[1].penalty.has_value());
  const penalty_def& q = *limits[1].penalty;
  EXPECT_DOUBLE_EQ(q.rejected_share, 0.5);  // defaults.hpp
  EXPECT_EQ(q.min_requests, 20);
  EXPECT_EQ(q.window, 60 * limit::micros_per_second);
  EXPECT_DOUBLE_EQ(q.factor, 0.5);
  EXPECT_EQ(q.duration, 60 * limit::micros_per_second);
}

TEST(ConfigPenalty, RejectedShareMustBeInZeroToOne) {
  EXPECT_POLICY_ERROR("penalty_share_zero",
                      "5:40: limits[0].penalty.when.rejected_share: expected a number above 0 "
                      "and at most 1 (a share such as 0.5), got '0'");
  EXPECT_POLICY_ERROR("penalty_share_above_one",
                      "5:40: limits[0].penalty.when.rejected_share: expected a number above 0 "
                      "and at most 1 (a share such as 0.5), got '1.5'");
}

TEST(ConfigPenalty, MinRequestsAtLeastOne) {
  EXPECT_POLICY_ERROR("penalty_min_requests_zero",
                      "5:38: limits[0].penalty.when.min_requests: must be between 1 and 1000000 "
                      "(got 0)");
}

TEST(ConfigPenalty, FactorStrictlyBetweenZeroAndOne) {
  EXPECT_POLICY_ERROR("penalty_factor_one",
                      "5:24: limits[0].penalty.factor: expected a number above 0 and below 1 "
                      "(the share of the limit a boxed key keeps), got '1'");
  EXPECT_POLICY_ERROR("penalty_factor_not_a_number",
                      "5:24: limits[0].penalty.factor: expected a number above 0 and below 1 "
                      "(the share of the limit a boxed key keeps), got '30%'");
}

TEST(ConfigPenalty, WindowAndDurationPositiveAndBounded) {
  EXPECT_POLICY_ERROR("penalty_window_too_long",
                      "7:17: limits[0].penalty.when.window: must be at most 1h (got 2h)");
  EXPECT_POLICY_ERROR("penalty_duration_zero",
                      "5:39: limits[0].penalty.duration: duration must be > 0 (got '0s')");
  EXPECT_POLICY_ERROR("penalty_duration_too_long",
                      "5:39: limits[0].penalty.duration: must be at most 1d (got 2d)");
}

TEST(ConfigPenalty, FactorAndDurationRequired) {
  EXPECT_POLICY_ERROR("penalty_missing_factor",
                      "5:14: limits[0].penalty: missing required key 'factor' (e.g. factor: 0.3)");
}

TEST(ConfigPenalty, UnknownKeysAndWrongShapes) {
  EXPECT_POLICY_ERROR("penalty_unknown_key",
                      "5:24: limits[0].penalty.when: unknown key 'share' (expected one of: "
                      "rejected_share, min_requests, window)");
  EXPECT_POLICY_ERROR("penalty_not_a_map", "5:14: limits[0].penalty: expected a map, got '0.3'");
}

}  // namespace
}  // namespace sluice::config
