// Policy files (SPEC 3): one fixture per error, each asserting the exact line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::fake_env;
using testing::fixture;
using testing::policy_case;
using testing::policy_error_at;
using testing::policy_errors_of;

TEST(ConfigPolicy, UnknownAlgorithmListsTheValidOnes) {
  EXPECT_POLICY_ERROR(
      "unknown_algorithm",
      "4:16: limits[0].algorithm: unknown algorithm 'token_bukket' (expected one "
      "of: token_bucket, leaky_bucket, fixed_window, sliding_window, sliding_log, concurrency)");
}

TEST(ConfigPolicy, ZeroRateCount) {
  EXPECT_POLICY_ERROR("zero_rate", "4:11: limits[0].rate: rate count must be >= 1 (got '0/s')");
}

TEST(ConfigPolicy, NegativeRateCount) {
  EXPECT_POLICY_ERROR("negative_rate",
                      "4:11: limits[0].rate: rate count must be >= 1 (got '-10/min')");
}

TEST(ConfigPolicy, ZeroRatePeriod) {
  EXPECT_POLICY_ERROR("zero_period", "4:11: limits[0].rate: rate period must be > 0 (got '10/0s')");
}

TEST(ConfigPolicy, MalformedRate) {
  EXPECT_POLICY_ERROR("bad_rate",
                      "4:11: limits[0].rate: invalid rate '10 per second' (expected N/s, N/min, "
                      "N/h, N/day, N/week, N/month or N/<duration>, e.g. 100/10s)");
}

TEST(ConfigPolicy, BurstBelowOne) {
  EXPECT_POLICY_ERROR("burst_zero", "5:12: limits[0].burst: must be >= 1 (got 0)");
  EXPECT_POLICY_ERROR("tier_burst_zero", "2:32: tiers.free.burst: must be >= 1 (got 0)");
}

TEST(ConfigPolicy, CostLargerThanAnAlwaysApplyingLimit) {
  EXPECT_POLICY_ERROR("cost_exceeds_capacity",
                      "2:50: routes[0].cost: cost 50 is larger than the capacity of limit 'per-ip' "
                      "(20), which applies to every request on route 'upload', so such a request "
                      "could never pass");
}

TEST(ConfigPolicy, CostLargerThanATierCapacity) {
  EXPECT_POLICY_ERROR("cost_exceeds_tier_capacity",
                      "6:48: routes[0].cost: cost 50 is larger than the capacity of limit "
                      "'per-client' for tier 'free' (10), which applies to every request on route "
                      "'batch', so such a request could never pass");
}

TEST(ConfigPolicy, CostCheckCountsFallbackIpAsAlwaysPresent) {
  EXPECT_POLICY_ERROR("cost_exceeds_with_fallback",
                      "2:48: routes[0].cost: cost 50 is larger than the capacity of limit "
                      "'per-user' (40), which applies to every request on route 'batch', so such "
                      "a request could never pass");
}

TEST(ConfigPolicy, CostCheckSkipsLimitsThatDoNotAlwaysApply) {
  EXPECT_THAT(policy_errors_of("cost_fits_when_not_always"), ElementsAre());
}

TEST(ConfigPolicy, RoutesEntryNamingNoRoute) {
  EXPECT_POLICY_ERROR("unknown_route",
                      "6:21: limits[0].routes[1]: unknown route 'signup' (defined routes: login, "
                      "default for requests that match no route)");
}

TEST(ConfigPolicy, TierAwareLimitWithoutTiers) {
  EXPECT_POLICY_ERROR("tier_without_tiers",
                      "4:11: limits[0].tier: tier: true takes rate and burst from the client's "
                      "tier, but no tiers are defined");
}

TEST(ConfigPolicy, UnknownTierNames) {
  EXPECT_POLICY_ERROR(
      "unknown_default_tier",
      "5:17: clients.default_tier: unknown tier 'basic' (defined tiers: free, pro)");
  EXPECT_POLICY_ERROR("unknown_api_key_tier",
                      "6:20: clients.api_keys.key-b.tier: unknown tier 'gold' (defined tiers: "
                      "free)");
}

TEST(ConfigPolicy, UnparsableCidr) {
  EXPECT_POLICY_ERROR("bad_cidr",
                      "3:33: access.deny.ips[1]: invalid CIDR '300.1.2.3' (expected an address or "
                      "address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32)");
}

TEST(ConfigPolicy, DelayOnlyOnLeakyBucket) {
  EXPECT_POLICY_ERROR("delay_not_leaky",
                      "6:12: limits[0].delay: delay applies only to leaky_bucket (this limit uses "
                      "token_bucket)");
}

TEST(ConfigPolicy, FallbackOnlyIp) {
  EXPECT_POLICY_ERROR("fallback_not_ip",
                      "5:15: limits[0].fallback: fallback must be 'ip' (the only fallback for a "
                      "missing key part), got 'api_key'");
}

TEST(ConfigPolicy, TierAwareLimitWithRateOrBurst) {
  EXPECT_THAT(
      policy_errors_of("tier_with_rate"),
      ElementsAre(policy_error_at("tier_with_rate",
                                  "7:11: limits[0].rate: tier: true takes the rate from the "
                                  "client's tier; remove 'rate'"),
                  policy_error_at("tier_with_rate",
                                  "8:12: limits[0].burst: tier: true takes the burst from the "
                                  "client's tier; remove 'burst'")));
}

TEST(ConfigPolicy, LimitWithoutRate) {
  EXPECT_POLICY_ERROR("missing_rate",
                      "2:5: limits[0]: missing required key 'rate' (or 'tier: true' to take it "
                      "from the client's tier)");
}

TEST(ConfigPolicy, UnknownKeyPart) {
  EXPECT_POLICY_ERROR("unknown_key_part",
                      "3:15: limits[0].key[1]: unknown key part 'tenant' (expected one of: global, "
                      "ip, api_key, user, client, route, method, path, client_cert, "
                      "header:<Name>, jwt:<claim>)");
}

TEST(ConfigPolicy, KeyTextNamesEachPartInOrder) {
  // One spelling for /admin/config, --check-config and the state seed of a limit.
  const std::vector<key_part> key{
      {key_part_kind::ip, ""}, {key_part_kind::header, "x-team"}, {key_part_kind::client_cert, ""}};
  EXPECT_EQ(key_text(key), "ip,header:x-team,client_cert");
  EXPECT_EQ(key_text(key, "+"), "ip+header:x-team+client_cert");
  EXPECT_EQ(key_text({}), "");
}

TEST(ConfigPolicy, HeaderKeyPartNeedsAName) {
  EXPECT_POLICY_ERROR("empty_header_part",
                      "3:10: limits[0].key: 'header:' needs a header name, e.g. header:X-Tenant");
}

TEST(ConfigPolicy, BucketNumbersTooLargeToComputeExactly) {
  EXPECT_POLICY_ERROR("inexact_bucket",
                      "4:11: limits[0].rate: rate 1/day with burst 100000 is too large to compute "
                      "exactly (refilling the bucket would take more than 2^53 fractional "
                      "microseconds); lower the burst or use a rate with a shorter period");
}

TEST(ConfigPolicy, WindowNumbersTooLargeToComputeExactly) {
  EXPECT_POLICY_ERROR("inexact_sliding_window",
                      "5:11: limits[0].rate: rate 3000000000/30d is too large to compute exactly "
                      "with sliding_window (N must stay below 2^31 and N x window in milliseconds "
                      "below 2^52); lower N or the window");
}

TEST(ConfigPolicy, TierNumbersTooLargeForTheLimitsAlgorithm) {
  EXPECT_POLICY_ERROR("inexact_tier",
                      "7:11: limits[0].tier: tier 'free': rate 1/day with burst 100000 is too "
                      "large to compute exactly (refilling the bucket would take more than 2^53 "
                      "fractional microseconds); lower the burst or use a rate with a shorter "
                      "period");
}

TEST(ConfigPolicy, ShardsOutOfRange) {
  EXPECT_POLICY_ERROR("shards_zero", "5:13: limits[0].shards: must be between 1 and 64 (got 0)");
  EXPECT_POLICY_ERROR("shards_too_many",
                      "5:13: limits[0].shards: must be between 1 and 64 (got 65)");
  EXPECT_POLICY_ERROR("shards_not_an_integer",
                      "5:13: limits[0].shards: expected an integer, got 'many'");
}

TEST(ConfigPolicy, ShardsNeedAtLeastOnePerSubKey) {
  EXPECT_POLICY_ERROR("shards_rate_too_small",
                      "6:13: limits[0].shards: shards: 8 splits rate 5/min over 8 sub-keys, less "
                      "than 1 per sub-key; use at most 5 shards or a higher rate");
  EXPECT_POLICY_ERROR("shards_burst_too_small",
                      "6:13: limits[0].shards: shards: 4 splits burst 3 over 4 sub-keys, less "
                      "than 1 per sub-key; use at most 3 shards or a higher burst");
  EXPECT_POLICY_ERROR("shards_tier_too_small",
                      "9:13: limits[0].shards: tier 'free': shards: 4 splits rate 3/min over 4 "
                      "sub-keys, less than 1 per sub-key; use at most 3 shards or a higher rate");
}

TEST(ConfigPolicy, CostLargerThanASubKeysCapacity) {
  // 100/s over 4 sub-keys: each holds 25.
  EXPECT_POLICY_ERROR("shards_cost_exceeds_sub_key",
                      "2:50: routes[0].cost: cost 30 is larger than the capacity of limit "
                      "'global' split over 4 sub-keys (25), which applies to every request on "
                      "route 'upload', so such a request could never pass");
}

TEST(ConfigPolicy, SlidingLogBoundedByMaxEntries) {
  EXPECT_POLICY_ERROR("sliding_log_too_large",
                      "5:11: limits[0].rate: sliding_log keeps one timestamp per admitted request, "
                      "so N must be <= 10000 (got 20000/h); use sliding_window for larger limits");
}

TEST(ConfigPolicy, InvalidRouteMatchUsesTheMatchersMessage) {
  EXPECT_POLICY_ERROR("invalid_match",
                      "2:27: routes[0].match: '**' is only allowed as the last segment");
}

TEST(ConfigPolicy, InvalidLimitMethod) {
  EXPECT_POLICY_ERROR("invalid_method",
                      "5:21: limits[0].methods[1]: invalid method 'PU T' (expected an HTTP method "
                      "such as GET or POST)");
}

TEST(ConfigPolicy, DuplicateLimitNameInOneFile) {
  EXPECT_POLICY_ERROR("duplicate_limit",
                      "5:11: limits[1].name: limit 'per-ip' defined twice "
                      "(first at " +
                          policy_case("duplicate_limit") + ":2:5)");
}

TEST(ConfigPolicy, DuplicateRouteNameInOneFile) {
  EXPECT_POLICY_ERROR("duplicate_route",
                      "3:13: routes[1].name: route 'users' defined twice "
                      "(first at " +
                          policy_case("duplicate_route") + ":2:5)");
}

TEST(ConfigPolicy, DuplicateKey) {
  EXPECT_POLICY_ERROR("duplicate_key",
                      "5:5: limits[0]: duplicate key 'rate' (first at line 4, column 5)");
}

TEST(ConfigPolicy, UnlimitedTierTakesNoNumbers) {
  EXPECT_POLICY_ERROR("unlimited_with_rate",
                      "2:41: tiers.enterprise.burst: an unlimited tier takes no burst");
}

TEST(ConfigPolicy, MissingName) {
  EXPECT_POLICY_ERROR("missing_name", "2:5: limits[0]: missing required key 'name'");
}

TEST(ConfigPolicy, DefaultRouteNameIsReserved) {
  EXPECT_POLICY_ERROR("reserved_route_name",
                      "2:13: routes[0].name: the route name 'default' is reserved for requests "
                      "that match no route");
}

TEST(ConfigPolicy, BurstOnlyOnBuckets) {
  EXPECT_POLICY_ERROR("burst_on_window",
                      "6:12: limits[0].burst: burst applies only to token_bucket and leaky_bucket "
                      "(fixed_window allows N per window)");
}

TEST(ConfigPolicy, UnknownTopLevelKey) {
  EXPECT_POLICY_ERROR("unknown_top_key",
                      "1:1: unknown key 'limit' (expected one of: tiers, clients, access, "
                      "routing, routes, limits)");
}

TEST(ConfigPolicy, RoutingUnknownKey) {
  EXPECT_POLICY_ERROR("routing_unknown_key",
                      "3:3: routing: unknown key 'strip_matrix_parameters' (expected one of: "
                      "case_insensitive, strip_matrix_params, allow_encoded_slash)");
}

TEST(ConfigPolicy, RoutingOptionNotABool) {
  EXPECT_POLICY_ERROR("routing_not_bool",
                      "1:57: routing.allow_encoded_slash: expected true or false, got 'sometimes'");
}

TEST(ConfigPolicy, RoutingNotAMap) {
  EXPECT_POLICY_ERROR("routing_not_a_map", "1:10: routing: expected a map, got a list");
}

TEST(ConfigPolicy, PatternARequestCouldNeverSpell) {
  EXPECT_POLICY_ERROR("pattern_encoded_slash",
                      "2:27: routes[0].match: path pattern '/files/a%2Fb' never matches: a request "
                      "path spelled so is rejected (Encoded slash in path)");
  EXPECT_POLICY_ERROR("pattern_encoded_semicolon",
                      "2:27: routes[0].match: path pattern '/files/a%3Bb' never matches: a request "
                      "path spelled so is rejected (Encoded semicolon in path)");
}

TEST(ConfigPolicy, AnAliasInsideTheNodeItNamesIsAnError) {
  // Found by config_yaml_fuzz: the tree contained itself (a leaked shared_ptr cycle).
  EXPECT_POLICY_ERROR("alias_cycle",
                      "3:35: alias *routes refers to a node that contains it (a node cannot "
                      "contain itself)");
}

TEST(ConfigPolicy, AnAliasBombIsRefusedBeforeAnyReaderWalksIt) {
  // `routes: *l9` would hand the route reader 10^10 items; a guard thread fails the test
  // if loading does not finish.
  const auto errors = testing::finishes_within(std::chrono::seconds(10),
                                               [] { return policy_errors_of("alias_bomb"); });
  EXPECT_THAT(errors, ElementsAre(policy_error_at(
                          "alias_bomb",
                          "7:35: cannot parse: more than 268168 nodes and value bytes "
                          "in 753 bytes once aliases are expanded and ${VAR}s "
                          "substituted (an alias repeats a large node too often)")));
}

TEST(ConfigPolicy, RoutingDefaultsWhenAbsent) {
  auto result = load_config(fixture("check/config.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& routing = result.config->policy.routing;
  EXPECT_FALSE(routing.case_insensitive);
  EXPECT_TRUE(routing.strip_matrix_params);
  EXPECT_FALSE(routing.allow_encoded_slash);
}

TEST(ConfigPolicy, ReadsRoutingOptions) {
  auto result = load_config(fixture("policy/config.yaml"),
                            fake_env({{"POLICY", "cases/routing_options.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& routing = result.config->policy.routing;
  EXPECT_TRUE(routing.case_insensitive);
  EXPECT_FALSE(routing.strip_matrix_params);
  EXPECT_TRUE(routing.allow_encoded_slash);
  // The pattern is kept as written; the policy folds it when it compiles the matcher.
  EXPECT_EQ(result.config->policy.routes[0].pattern, "/Auth/Login");
}

TEST(ConfigPolicy, ReportsEveryErrorOfAFile) {
  EXPECT_THAT(
      policy_errors_of("bad_fields"),
      ElementsAre(
          policy_error_at(
              "bad_fields",
              "3:25: tiers.free: unknown key 'brust' (expected one of: rate, burst, unlimited)"),
          policy_error_at("bad_fields",
                          "5:44: routes[0].cost: must be between 1 and 1000000 (got 0)"),
          policy_error_at("bad_fields",
                          "7:11: limits[0].name: invalid name 'per ip' (use letters, digits, "
                          "'-', '_' and '.')"),
          policy_error_at("bad_fields",
                          "13:13: limits[1].shadow: expected true or false, got 'maybe'"),
          policy_error_at("bad_fields",
                          "14:12: limits[1].count: unknown value 'bytes' (expected one of: cost, "
                          "requests)")));
}

TEST(ConfigPolicy, ReadsLimitFields) {
  auto result = load_config(fixture("check/config.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 5u);
  EXPECT_EQ(limits[0].count, count_mode::requests);
  EXPECT_EQ(limits[0].algo, limit::algorithm::fixed_window);
  EXPECT_EQ(limits[0].rate.count, 1000);
  EXPECT_EQ(limits[0].rate.period, 10 * limit::micros_per_second);
  EXPECT_TRUE(limits[1].tier_aware);
  EXPECT_EQ(limits[2].algo, limit::algorithm::leaky_bucket);
  EXPECT_EQ(limits[2].burst, 5);
  EXPECT_EQ(limits[2].delay, 1'500'000);
  const auto& tenant = limits[3];
  ASSERT_EQ(tenant.key.size(), 2u);
  EXPECT_EQ(tenant.key[0], (key_part{key_part_kind::header, "x-tenant"}));
  EXPECT_EQ(tenant.key[1], (key_part{key_part_kind::method, ""}));
  EXPECT_EQ(tenant.methods, (std::vector<std::string>{"POST", "PUT"}));
  EXPECT_EQ(tenant.routes, (std::vector<std::string>{"export", "default"}));
  EXPECT_EQ(limits[4].key[0].kind, key_part_kind::user);
  EXPECT_TRUE(limits[4].fallback_ip);
  EXPECT_TRUE(limits[4].shadow);
  EXPECT_EQ(limits[4].where.to_string(), fixture("check/policy.yaml") + ":19:5");
  const auto& routes = result.config->policy.routes;
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_TRUE(routes[0].limits_off);
  EXPECT_EQ(routes[0].methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(routes[0].pattern, "/healthz");
  EXPECT_EQ(routes[1].cost, 5);
  EXPECT_FALSE(routes[1].limits_off);
}

}  // namespace
}  // namespace sluice::config
