// A limit's `tenant_rate:` (issue 14, per-tenant limits): one fixture per error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

TEST(ConfigTenantRate, ReadsTheSourceAndMax) {
  auto result = load_config(fixture("policy/config.yaml"),
                            fake_env({{"POLICY", "cases/tenant_rate_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limit = result.config->policy.limits.at(0);
  ASSERT_TRUE(limit.tenant_rate);
  EXPECT_EQ(limit.tenant_rate->header, "x-org-rpm");
  EXPECT_TRUE(limit.tenant_rate->claim.empty());
  EXPECT_EQ(limit.tenant_rate->max, 10000);
  EXPECT_EQ(limit::tenant_burst(200, 100, 10000), 20000) << "burst scales with N";
  EXPECT_EQ(limit::tenant_burst(0, 100, 10000), 0) << "no burst configured: N";
  EXPECT_EQ(limit::tenant_burst(5, 100, 1), 1) << "at least 1";
}

TEST(ConfigTenantRate, AtMostOneSourceAndAMax) {
  EXPECT_POLICY_ERROR("tenant_rate_both",
                      "5:18: limits[0].tenant_rate: takes at most one of 'claim' (a claim of the "
                      "verified JWT) and 'header' (from a trusted proxy); runtime entries of the "
                      "admin API apply to either");
  EXPECT_POLICY_ERROR("tenant_rate_no_max",
                      "5:18: limits[0].tenant_rate: missing required key 'max' (the largest "
                      "number a tenant may get)");
}

TEST(ConfigTenantRate, NotWithTiersShardsOrAClaimWithoutJwt) {
  EXPECT_POLICY_ERROR("tenant_rate_tier",
                      "7:18: limits[0].tenant_rate: tenant_rate takes N from a claim or header, "
                      "tier: true from the client's tier; use one of them");
  EXPECT_POLICY_ERROR("tenant_rate_shards",
                      "6:18: limits[0].tenant_rate: tenant_rate cannot be combined with shards "
                      "(their shares are worked out from the configured rate)");
  EXPECT_POLICY_ERROR("tenant_rate_claim_without_jwt",
                      "5:18: limits[0].tenant_rate.claim: a claim needs identity.jwt in "
                      "config.yaml (the token to read it from)");
}

TEST(ConfigTenantRate, MaxMustRunExactly) {
  EXPECT_POLICY_ERROR("tenant_rate_max_inexact",
                      "6:18: limits[0].tenant_rate.max: max: sliding_log keeps one timestamp "
                      "per admitted request, so N must be <= 10000 (got 20000/min); use "
                      "sliding_window for larger limits");
}

}  // namespace
}  // namespace sluice::config
