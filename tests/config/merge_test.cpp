// Several policy files: read in name order, merged, duplicates named with both places.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::errors_of;
using testing::fake_env;
using testing::fixture;

TEST(ConfigMerge, ReadsYamlFilesInNameOrderAndMergesThem) {
  auto result = load_config(fixture("merge/config.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const policy_config& p = result.config->policy;
  // Hidden files and non-.yaml files are skipped.
  EXPECT_THAT(p.files, ElementsAre(fixture("merge/policies/10-tiers.yaml"),
                                   fixture("merge/policies/20-routes.yaml"),
                                   fixture("merge/policies/30-limits.yaml"),
                                   fixture("merge/policies/40-more-limits.yaml")));
  ASSERT_EQ(p.tiers.size(), 2u);
  EXPECT_EQ(p.tiers[1].name, "pro");
  EXPECT_EQ(p.tiers[1].burst, 0);  // 0 = N
  EXPECT_EQ(p.default_tier, "free");
  ASSERT_EQ(p.api_keys.size(), 2u);
  EXPECT_EQ(p.api_keys[0].key, "key-1");
  EXPECT_EQ(p.api_keys[0].user, "alice");
  EXPECT_EQ(p.api_keys[1].key, "key-2");
  EXPECT_EQ(p.api_keys[1].where.to_string(), fixture("merge/policies/30-limits.yaml") + ":3:5");
  ASSERT_EQ(p.routes.size(), 2u);
  EXPECT_EQ(p.routes[1].methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(p.deny.ips.size(), 2u);
  EXPECT_THAT(p.deny.users, ElementsAre("mallory"));
  EXPECT_THAT(p.deny.api_keys, ElementsAre("key-stolen"));
  ASSERT_EQ(p.limits.size(), 3u);
  EXPECT_EQ(p.limits[0].name, "per-client");
  EXPECT_EQ(p.limits[1].name, "search");
  EXPECT_THAT(p.limits[1].routes, ElementsAre("search"));
  EXPECT_EQ(p.limits[2].name, "per-ip");
  EXPECT_EQ(p.limits[2].delay, 250'000);
}

TEST(ConfigMerge, NameDefinedInTwoFilesNamesBothPlaces) {
  const std::string a = fixture("merge_dup/policies/a.yaml");
  const std::string b = fixture("merge_dup/policies/b.yaml");
  EXPECT_THAT(
      errors_of("merge_dup/config.yaml"),
      ElementsAre(
          b + ":2:3: tiers.free: tier 'free' defined twice (first at " + a + ":2:3)",
          b + ":4:17: clients.default_tier: default_tier set twice (first at " + a + ":4:17)",
          b + ":6:5: clients.api_keys.key-1: api key 'key-1' defined twice (first at " + a +
              ":6:5)",
          b + ":8:13: routes[0].name: route 'search' defined twice (first at " + a + ":8:5)",
          b + ":10:13: limits[0].name: limit 'per-ip' defined twice (first at " + a + ":10:5)"));
}

TEST(ConfigMerge, RoutingBlockInTwoFilesNamesBothPlaces) {
  const std::string a = fixture("routing_dup/policies/a.yaml");
  const std::string b = fixture("routing_dup/policies/b.yaml");
  EXPECT_THAT(errors_of("routing_dup/config.yaml"),
              ElementsAre(b + ":3:10: routing: defined twice (first at " + a + ":3:3)"));
}

TEST(ConfigMerge, ErrorsComeInFileOrderThenPositionOrder) {
  // The config's own error sorts before the policy file's, whatever pass found it.
  auto lines = errors_of("policy/config.yaml", {{"POLICY", "cases/tier_with_rate.yaml"}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_LT(lines[0], lines[1]);
}

}  // namespace
}  // namespace sluice::config
