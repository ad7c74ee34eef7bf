// Soft limits (issue 15): `soft: 80%` or `soft: <N>` on a limit, parsed and checked by
// the loader; one fixture per error, each asserting the exact line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/units.hpp"
#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::fake_env;
using testing::fixture;
using testing::policy_case;
using testing::policy_errors_of;
using units::format_soft;
using units::parse_soft;

const std::string invalid_help =
    " (expected a share of the limit such as 80% or 82.5%, or a count of units such as 800)";

TEST(UnitsSoft, ParsesSharesInBasisPointsAndCounts) {
  EXPECT_EQ(parse_soft("80%").value, (soft_def{0, 8000}));
  EXPECT_EQ(parse_soft("82.5%").value, (soft_def{0, 8250}));
  EXPECT_EQ(parse_soft("0.01%").value, (soft_def{0, 1}));
  EXPECT_EQ(parse_soft("99.99%").value, (soft_def{0, 9999}));
  EXPECT_EQ(parse_soft("007%").value, (soft_def{0, 700}));
  EXPECT_EQ(parse_soft("1").value, (soft_def{1, 0}));
  EXPECT_EQ(parse_soft("800").value, (soft_def{800, 0}));
  EXPECT_EQ(parse_soft("9007199254740991").value, (soft_def{9007199254740991, 0}));
}

TEST(UnitsSoft, RejectsMalformedText) {
  for (const char* text : {"", "%", "80 %", " 80%", "80%%", "-5", "-5%", "+5%", "5.%", ".5%",
                           "80.5", "1e3", "80percent", "5/s", "80.5.5%"}) {
    auto parsed = parse_soft(text);
    EXPECT_FALSE(parsed.value) << text;
    EXPECT_EQ(parsed.error, "invalid soft limit '" + std::string(text) + "'" + invalid_help);
  }
}

TEST(UnitsSoft, RejectsSharesOutsideZeroToHundredAndZeroCounts) {
  for (const char* text : {"0%", "0.00%", "100%", "100.5%", "150%", "99999999999999999999%"}) {
    EXPECT_EQ(parse_soft(text).error,
              "a soft share must be above 0% and below 100% (got '" + std::string(text) + "')");
  }
  EXPECT_EQ(parse_soft("80.125%").error, "a soft share takes at most two decimals (got '80.125%')");
  EXPECT_EQ(parse_soft("0").error, "a soft count must be >= 1 (got '0')");
  EXPECT_EQ(parse_soft("9007199254740992").error, "soft count '9007199254740992' is too large");
  EXPECT_EQ(parse_soft("99999999999999999999").error,
            "soft count '99999999999999999999' is too large");
}

TEST(UnitsSoft, FormatsAsWritten) {
  for (const char* text : {"80%", "82.5%", "82.25%", "0.01%", "0.1%", "99.99%", "1", "800"}) {
    EXPECT_EQ(format_soft(*parse_soft(text).value), text);
  }
}

TEST(ConfigSoft, ReadsSharesAndCounts) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/soft_forms.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 5u);
  EXPECT_EQ(limits[0].soft, (soft_def{0, 8000}));
  EXPECT_EQ(limits[1].soft, (soft_def{0, 8250}));
  EXPECT_EQ(limits[2].soft, (soft_def{7, 0}));
  EXPECT_EQ(limits[3].soft, (soft_def{0, 25}));  // a share is fine on a tier-aware limit
  EXPECT_FALSE(limits[4].soft.has_value());
}

TEST(ConfigSoft, MalformedValue) {
  EXPECT_POLICY_ERROR("soft_invalid",
                      "5:11: limits[0].soft: invalid soft limit 'most'" + invalid_help);
  EXPECT_POLICY_ERROR("soft_not_scalar",
                      "5:11: limits[0].soft: expected a share such as 80% or a count such as "
                      "800, got a map");
}

TEST(ConfigSoft, ShareStrictlyBetweenZeroAndHundredPercent) {
  EXPECT_POLICY_ERROR("soft_zero_share",
                      "5:11: limits[0].soft: a soft share must be above 0% and below 100% (got "
                      "'0%')");
  EXPECT_POLICY_ERROR("soft_full_share",
                      "5:11: limits[0].soft: a soft share must be above 0% and below 100% (got "
                      "'100%')");
  EXPECT_POLICY_ERROR("soft_three_decimals",
                      "5:11: limits[0].soft: a soft share takes at most two decimals (got "
                      "'80.125%')");
}

TEST(ConfigSoft, CountAtLeastOne) {
  EXPECT_POLICY_ERROR("soft_zero_count",
                      "5:11: limits[0].soft: a soft count must be >= 1 (got "
                      "'0')");
}

TEST(ConfigSoft, CountBelowTheCapacity) {
  EXPECT_POLICY_ERROR("soft_count_at_capacity",
                      "6:11: limits[0].soft: soft: 20 is not below the capacity of limit 'per-ip' "
                      "(20), so no request could be degraded; use a lower count or a share such "
                      "as 80%");
}

TEST(ConfigSoft, CountBelowEveryTiersCapacity) {
  // free holds 5, pro 100, vip is unlimited: only free is too small.
  EXPECT_POLICY_ERROR("soft_count_above_tier",
                      "9:11: limits[0].soft: soft: 50 is not below the capacity of limit "
                      "'per-client' for tier 'free' (5), so no request could be degraded; use a "
                      "lower count or a share such as 80%");
}

TEST(ConfigSoft, CountBelowTheSmallestSubKeysCapacity) {
  // 100/s over 4 sub-keys: each holds 25, and the count applies per sub-key.
  EXPECT_POLICY_ERROR("soft_count_above_sub_key",
                      "7:11: limits[0].soft: soft: 30 is not below the capacity of limit "
                      "'global' split over 4 sub-keys (25), so no request could be degraded; use "
                      "a lower count or a share such as 80%");
}

}  // namespace
}  // namespace sluice::config
