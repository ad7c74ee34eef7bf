// A limit's `cost:` (issue 14, a cost from the response): its sources, reserve and
// on_failure, and what it cannot be combined with; one fixture per error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

TEST(ConfigResponseCost, ReadsEachSource) {
  auto result = load_config(fixture("policy/config.yaml"),
                            fake_env({{"POLICY", "cases/response_cost_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_TRUE(limits[0].response_cost);
  EXPECT_EQ(limits[0].response_cost->source, response_cost_source::header);
  EXPECT_EQ(limits[0].response_cost->name, "x-usage-tokens");
  EXPECT_EQ(limits[0].response_cost->reserve, 500);
  EXPECT_EQ(limits[0].response_cost->on_failure, 100);
  EXPECT_EQ(limits[1].response_cost->source, response_cost_source::json);
  EXPECT_EQ(limits[1].response_cost->path, (std::vector<std::string>{"usage", "total_tokens"}));
  EXPECT_EQ(limits[1].response_cost->reserve, std::nullopt) << "the route's cost";
  EXPECT_EQ(limits[2].response_cost->source, response_cost_source::trailer);
  EXPECT_EQ(limits[2].response_cost->name, "x-cost");
}

TEST(ConfigResponseCost, OneSourceAndAValidPath) {
  EXPECT_POLICY_ERROR("response_cost_two_sources",
                      "5:11: limits[0].cost: needs exactly one of 'response_header', "
                      "'response_json' and 'response_trailer' (where the upstream's answer says "
                      "what the request cost)");
  EXPECT_POLICY_ERROR("response_cost_bad_path",
                      "5:28: limits[0].cost.response_json: expected a field path such as "
                      "usage.total_tokens (1 to 8 names of letters, digits, '_' and '-', joined "
                      "by '.'), got 'usage..total'");
}

TEST(ConfigResponseCost, OnlyWhereTheSettleIsExact) {
  EXPECT_POLICY_ERROR("response_cost_sliding",
                      "6:11: limits[0].cost: a cost from the response settles token_bucket, "
                      "fixed_window and leaky_bucket without delay exactly (this limit uses "
                      "sliding_window)");
  EXPECT_POLICY_ERROR("response_cost_requests",
                      "6:11: limits[0].cost: a cost from the response counts units; remove "
                      "'count: requests' (which charges 1 per request)");
  EXPECT_POLICY_ERROR("response_cost_reserve_too_large",
                      "6:11: limits[0].cost.reserve: reserve 500 is larger than the capacity of "
                      "limit 'tpm' (200), so no request could pass");
}

}  // namespace
}  // namespace sluice::config
