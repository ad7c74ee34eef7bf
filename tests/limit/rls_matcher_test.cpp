// Which limit applies to a rate limit service descriptor: the answers envoyproxy/ratelimit's
// README gives for its examples (tests/fixtures/rls/examples), and its matching order.
#include "limit/rls_matcher.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "config/rls_loader.hpp"

namespace sluice::limit {
namespace {

class RlsMatcher : public ::testing::Test {
 protected:
  static config::rls_config load() {
    auto result = config::load_rls_config(std::string(SLUICE_FIXTURES_DIR) + "/rls/examples",
                                          [](std::string_view) { return std::nullopt; });
    if (!result.ok()) throw std::runtime_error(result.errors[0].to_string());
    return *result.config;
  }

  // The full_key of the descriptor whose limit applies, or "" for none.
  std::string limit_for(std::string_view domain, std::vector<rls_entry> entries) const {
    const auto* d = matcher.find(domain, entries);
    return d == nullptr ? "" : d->full_key;
  }

  config::rls_config config = load();
  rls_matcher matcher{config};
};

TEST_F(RlsMatcher, Example1KeyAndValue) {
  EXPECT_EQ(limit_for("mongo_cps", {{"database", "users"}}), "mongo_cps.database_users");
  EXPECT_EQ(limit_for("mongo_cps", {{"database", "default"}}), "mongo_cps.database_default");
  EXPECT_EQ(limit_for("mongo_cps", {{"database", "orders"}}), "");  // no key-only entry
}

TEST_F(RlsMatcher, Example2NestedDescriptorsAndAnyValue) {
  EXPECT_EQ(limit_for("messaging", {{"message_type", "marketing"}, {"to_number", "2061111111"}}),
            "messaging.message_type_marketing.to_number");
  EXPECT_EQ(limit_for("messaging", {{"to_number", "2061111111"}}), "messaging.to_number");
  // The placeholder level has no limit of its own.
  EXPECT_EQ(limit_for("messaging", {{"message_type", "marketing"}}), "");
  EXPECT_EQ(limit_for("messaging", {{"message_type", "transactional"}, {"to_number", "1"}}), "");
}

TEST_F(RlsMatcher, Example3KeyAndValueIsTriedBeforeKey) {
  EXPECT_EQ(limit_for("edge_proxy_per_ip", {{"remote_address", "50.0.0.1"}}),
            "edge_proxy_per_ip.remote_address");
  EXPECT_EQ(limit_for("edge_proxy_per_ip", {{"remote_address", "50.0.0.5"}}),
            "edge_proxy_per_ip.remote_address_50.0.0.5");
}

TEST_F(RlsMatcher, Example4TheRequestMustReachTheLevelOfTheLimit) {
  EXPECT_EQ(limit_for("example4", {{"key", "value"}, {"subkey", "subvalue"}}),
            "example4.key_value.subkey");
  EXPECT_EQ(limit_for("example4", {{"key", "value"}}), "");
  // More entries than the config has levels: no limit (the README's first config).
  config::rls_config one_level;
  one_level.domains.push_back({"example4", {}, "inline"});
  config::rls_descriptor d;
  d.key = "key";
  d.value = "value";
  d.rate_limit = config::rls_rate_limit{300, config::rls_unit::second, false, "", {}};
  d.full_key = "example4.key_value";
  one_level.domains[0].descriptors.push_back(d);
  rls_matcher shallow(one_level);
  const std::vector<rls_entry> two{{"key", "value"}, {"subkey", "subvalue"}};
  EXPECT_EQ(shallow.find("example4", two), nullptr);
  const std::vector<rls_entry> one{{"key", "value"}};
  EXPECT_NE(shallow.find("example4", one), nullptr);
}

TEST_F(RlsMatcher, Example5UnlimitedIsALimitThatNeverDenies) {
  const std::vector<rls_entry> ldap{{"ldap", "x"}};
  const auto* d = matcher.find("internal", ldap);
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->rate_limit->unlimited);
}

TEST_F(RlsMatcher, Example6ShadowModeIsPerDescriptor) {
  const std::vector<rls_entry> a{{"service", "auth-service"}, {"user", "user-a"}};
  const std::vector<rls_entry> b{{"service", "auth-service"}, {"user", "user-b"}};
  EXPECT_TRUE(matcher.find("example6", a)->shadow_mode);
  EXPECT_FALSE(matcher.find("example6", b)->shadow_mode);
  EXPECT_EQ(matcher.find("example6", b)->rate_limit->requests_per_unit, 20u);
}

TEST_F(RlsMatcher, Example7ReplacesDropsTheNamedLimitOnlyWhenBothApply) {
  const std::vector<rls_entry> first{{"key_1", "value_1"}, {"user", "bkthomps"}};
  const std::vector<rls_entry> second{{"key_2", "value_2"}, {"user", "bkthomps"}};
  // Alone, each applies.
  std::vector<const config::rls_descriptor*> only_first{matcher.find("example7", first)};
  apply_replaces(only_first);
  ASSERT_NE(only_first[0], nullptr);
  EXPECT_EQ(only_first[0]->rate_limit->requests_per_unit, 5u);
  // Together, 10/s replaces the 5/s "specific_limit".
  std::vector<const config::rls_descriptor*> both{matcher.find("example7", first),
                                                  matcher.find("example7", second)};
  apply_replaces(both);
  EXPECT_EQ(both[0], nullptr);
  ASSERT_NE(both[1], nullptr);
  EXPECT_EQ(both[1]->rate_limit->requests_per_unit, 10u);
}

TEST_F(RlsMatcher, Example8DetailedMetricStillMatchesByKey) {
  const std::vector<rls_entry> other{{"key1", "unspecified_value"}};
  const auto* d = matcher.find("example8", other);
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->detailed_metric);
  EXPECT_EQ(d->rate_limit->requests_per_unit, 10u);
  EXPECT_EQ(limit_for("example8", {{"key1", "value1"}}), "example8.key1_value1");
}

TEST_F(RlsMatcher, Example9WildcardValues) {
  EXPECT_EQ(limit_for("example9", {{"key1", "value_1"}}), "example9.key1_value*");
  EXPECT_EQ(limit_for("example9", {{"key1", "value_2"}}), "example9.key1_value*");
  EXPECT_EQ(limit_for("example9", {{"key1", "valu"}}), "");
  EXPECT_EQ(limit_for("example9", {{"key2", "value_1"}}), "");
}

TEST_F(RlsMatcher, UnknownDomainsAndEmptyDescriptorsHaveNoLimit) {
  EXPECT_FALSE(matcher.has_domain("nope"));
  EXPECT_TRUE(matcher.has_domain("messaging"));
  EXPECT_EQ(limit_for("nope", {{"database", "users"}}), "");
  EXPECT_EQ(limit_for("mongo_cps", {}), "");
}

}  // namespace
}  // namespace sluice::limit
