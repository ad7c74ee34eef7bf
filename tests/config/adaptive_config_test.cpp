// A limit's `adaptive:` (issue 15, load-aware limits): one fixture per error, exact messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

TEST(ConfigAdaptive, ReadsEachSignalWithItsTargetAndDefaults) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/adaptive_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 3u);
  ASSERT_TRUE(limits[0].adaptive && limits[1].adaptive && limits[2].adaptive);
  EXPECT_EQ(limits[0].adaptive->signal, adaptive_signal::upstream_latency);
  EXPECT_EQ(limits[0].adaptive->target, 250'000);  // microseconds
  EXPECT_EQ(limits[0].adaptive->min_factor, 0.25);
  EXPECT_EQ(limits[0].adaptive->max_factor, 1.0);
  EXPECT_EQ(limits[1].adaptive->signal, adaptive_signal::upstream_errors);
  EXPECT_EQ(limits[1].adaptive->target, 0.05);
  EXPECT_EQ(limits[1].adaptive->min_factor, 0.5);
  EXPECT_EQ(limits[1].adaptive->max_factor, 0.9);
  EXPECT_EQ(limits[2].adaptive->signal, adaptive_signal::upstream_inflight);
  EXPECT_EQ(limits[2].adaptive->target, 32);
}

TEST(ConfigAdaptive, SignalMustBeKnown) {
  EXPECT_POLICY_ERROR("adaptive_unknown_signal",
                      "5:25: limits[0].adaptive.signal: unknown signal 'upstream_cpu' (expected "
                      "upstream_latency, upstream_errors or upstream_inflight)");
  EXPECT_POLICY_ERROR("adaptive_unknown_key",
                      "5:58: limits[0].adaptive: unknown key 'step' (expected one of: signal, "
                      "target, min_factor, max_factor)");
}

TEST(ConfigAdaptive, TargetTakesTheFormOfItsSignal) {
  EXPECT_POLICY_ERROR("adaptive_target_not_a_share",
                      "5:50: limits[0].adaptive.target: expected a number above 0 and below 1 "
                      "(the share of failed upstream answers, e.g. 0.05), got '200ms'");
  EXPECT_POLICY_ERROR("adaptive_target_not_a_duration",
                      "5:51: limits[0].adaptive.target: invalid duration '0.5' (expected a "
                      "positive integer followed by ms, s, m, h or d, e.g. 250ms, 5s, 1m)");
  EXPECT_POLICY_ERROR("adaptive_inflight_zero",
                      "5:52: limits[0].adaptive.target: must be between 1 and 1000000 (got 0)");
  EXPECT_POLICY_ERROR("adaptive_missing_target",
                      "5:15: limits[0].adaptive: missing required key 'target' (e.g. target: "
                      "200ms)");
}

TEST(ConfigAdaptive, FactorsStayWithinOneAndInOrder) {
  EXPECT_POLICY_ERROR("adaptive_factor_above_one",
                      "5:70: limits[0].adaptive.max_factor: expected a number above 0 and at most "
                      "1 (a share of the configured limit), got '1.5'");
  EXPECT_POLICY_ERROR("adaptive_min_above_max",
                      "5:70: limits[0].adaptive.min_factor: must not be above max_factor (0.8 > "
                      "0.5)");
}

}  // namespace
}  // namespace sluice::config
