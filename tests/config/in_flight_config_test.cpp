// A limit's `algorithm: concurrency` (issue 14, in-flight limits): max, lease, and what
// it cannot be combined with; one fixture per error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"
#include "limit/policy.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

TEST(ConfigInFlight, ReadsMaxAndLease) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/in_flight_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 2u);
  EXPECT_EQ(limits[0].algo, limit::algorithm::concurrency);
  EXPECT_EQ(limits[0].max_in_flight, 10);
  EXPECT_EQ(limits[0].in_flight_lease, 120 * limit::micros_per_second);
  EXPECT_EQ(limits[1].in_flight_lease, 60 * limit::micros_per_second) << "the default lease";

  // What the engine and both stores read: count = max, period = lease.
  const limit::policy pol(*result.config, 1);
  const limit::limit_params& p = pol.limits()[0].params;
  EXPECT_EQ(p.algo, limit::algorithm::concurrency);
  EXPECT_EQ(p.count, 10);
  EXPECT_EQ(p.period, 120 * limit::micros_per_second);
  EXPECT_EQ(p.capacity(), 10);
  EXPECT_EQ(p.policy_window_seconds(), 1);
  EXPECT_TRUE(p.exact());
}

TEST(ConfigInFlight, NeedsMaxAndNoRate) {
  EXPECT_POLICY_ERROR("in_flight_no_max",
                      "2:5: limits[0]: missing required key 'max' (algorithm: concurrency "
                      "allows at most max requests of a key in flight at once, e.g. max: 10)");
  EXPECT_POLICY_ERROR("in_flight_rate",
                      "6:11: limits[0].rate: algorithm: concurrency counts requests in flight, "
                      "not a rate; remove 'rate' (max: N sets how many)");
}

TEST(ConfigInFlight, NotWithOptionsOfARate) {
  EXPECT_POLICY_ERROR("in_flight_shards",
                      "6:13: limits[0].shards: shards cannot be combined with algorithm: "
                      "concurrency (a slot must go back to the sub-key that holds it)");
  EXPECT_POLICY_ERROR("in_flight_burst",
                      "6:12: limits[0].burst: burst cannot be combined with algorithm: "
                      "concurrency (it sizes a bucket)");
  EXPECT_POLICY_ERROR("in_flight_soft",
                      "6:11: limits[0].soft: soft cannot be combined with algorithm: "
                      "concurrency (it degrades by a rate's spent share)");
}

TEST(ConfigInFlight, LeaseIsBounded) {
  EXPECT_POLICY_ERROR("in_flight_lease_too_long",
                      "6:12: limits[0].lease: must be at most 1d (got 2d)");
}

TEST(ConfigInFlight, MaxAndADurationLeaseBelongToConcurrency) {
  EXPECT_POLICY_ERROR("in_flight_max_on_rate",
                      "5:10: limits[0].max: max applies only to algorithm: concurrency "
                      "(requests in flight at once); this limit uses token_bucket, which takes "
                      "rate");
  EXPECT_POLICY_ERROR("in_flight_lease_on_rate",
                      "5:12: limits[0].lease: lease: <duration> is how long an algorithm: "
                      "concurrency limit holds a slot; a quota lease is a map such as { "
                      "max_tokens: 10, max_age: 250ms }");
}

}  // namespace
}  // namespace sluice::config
