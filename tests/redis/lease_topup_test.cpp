// Lease top-ups of the Redis decision code (issue 15, local quota leases) against a real
// redis-server, through the Functions library and the EVAL script: an admitted request
// also charges up to its top-up of available units (never denying for it), the grant
// is exactly what a request of cost + grant would have been charged, a denied request
// and the algorithms whose refund is not exact grant nothing, and a refund of the grant
// gives the units back (fixed_window exactly, within the window).
#include <gtest/gtest.h>

#include "limit/algorithms/harness.hpp"
#include "redis/decide_runner.hpp"

namespace sluice::redis::test {
namespace {

using namespace limit::algo_test;
using limit::micros_per_second;

class RedisLeaseTopup : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisLeaseTopup,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

struct topup_outcome {
  bool admitted = false;
  micros now = 0;
  std::vector<decision> decisions;
  std::vector<std::int64_t> grants;
};

// One decide with top-ups, as the gateway sends it (plus the test clock).
topup_outcome decide_with_topups(decide_runner& redis, std::span<const script_limit> limits,
                                 std::span<const std::int64_t> topups, micros now) {
  auto args = redis.command(limits);
  append_topup_args(topups, now, args);
  const auto r = redis.run(args);
  if (r.type != REDIS_REPLY_ARRAY) throw std::runtime_error(r.text);
  topup_outcome out;
  out.decisions.resize(limits.size());
  out.grants.resize(limits.size());
  const auto admitted = parse_decide_reply_with_grants(r.integers, out.decisions, out.grants);
  if (!admitted) throw std::runtime_error("malformed decide reply with grants");
  out.admitted = *admitted;
  out.now = decide_reply_now(r.integers);
  return out;
}

TEST(RedisLeaseTopupArgs, LayoutAndParse) {
  std::vector<std::string> args;
  const std::int64_t topups[] = {10, 0, 3};
  append_topup_args(topups, std::nullopt, args);
  EXPECT_EQ(args, (std::vector<std::string>{"", "10 0 3"}));
  args.clear();
  append_topup_args(topups, 42, args);
  EXPECT_EQ(args, (std::vector<std::string>{"42", "10 0 3"}));

  // admitted, now, 7 fields, then the grant.
  const std::int64_t ok[] = {1, 5, 1, 0, 10, 4, 100, 0, 0, 5};
  decision d[1];
  std::int64_t g[1];
  EXPECT_EQ(parse_decide_reply_with_grants(ok, d, g), true);
  EXPECT_EQ(g[0], 5);
  const std::int64_t denied_with_grant[] = {0, 5, 0, 0, 10, 0, 100, 7, 0, 5};
  EXPECT_FALSE(parse_decide_reply_with_grants(denied_with_grant, d, g).has_value());
  const std::int64_t negative[] = {1, 5, 1, 0, 10, 4, 100, 0, 0, -1};
  EXPECT_FALSE(parse_decide_reply_with_grants(negative, d, g).has_value());
  const std::int64_t no_grant[] = {1, 5, 1, 0, 10, 4, 100, 0, 0};
  EXPECT_FALSE(parse_decide_reply_with_grants(no_grant, d, g).has_value());
}

TEST_P(RedisLeaseTopup, GrantsWhatIsAvailableAndChargesItWithTheCost) {
  redis_server server;
  decide_runner redis(server, GetParam());
  // 10 per second, burst 10: an emission interval of 100 ms.
  const auto p = limit_params::make(algorithm::token_bucket, 10, micros_per_second, 10);
  const micros t = epoch_2026;
  const std::vector<script_limit> limits = {{"tb:a", &p, 1, false}};
  const std::int64_t five[] = {5};
  auto got = decide_with_topups(redis, limits, five, t);
  ASSERT_TRUE(got.admitted);
  EXPECT_EQ(got.grants[0], 5);
  // The decision of cost 1 + 5: 4 left.
  EXPECT_EQ(got.decisions[0].remaining, 4);
  // Redis holds it: a plain request sees 3 left after it.
  auto plain = redis.decide(limits, false, t);
  EXPECT_EQ(plain.decisions[0].remaining, 3);
  // Only 3 are left: cost 1 + at most 2 granted, never denied for the top-up.
  got = decide_with_topups(redis, limits, five, t);
  ASSERT_TRUE(got.admitted);
  EXPECT_EQ(got.grants[0], 2);
  EXPECT_EQ(got.decisions[0].remaining, 0);
  // Empty: denied, nothing granted, nothing charged.
  got = decide_with_topups(redis, limits, five, t);
  EXPECT_FALSE(got.admitted);
  EXPECT_EQ(got.grants[0], 0);
  // 100 ms later one unit came back: admitted, nothing more to grant.
  got = decide_with_topups(redis, limits, five, t + 100'000);
  ASSERT_TRUE(got.admitted);
  EXPECT_EQ(got.grants[0], 0);
}

TEST_P(RedisLeaseTopup, ADeniedRequestGrantsNothingOnAnyLimit) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const auto wide = limit_params::make(algorithm::token_bucket, 100, micros_per_second, 100);
  const auto narrow = limit_params::make(algorithm::fixed_window, 1, 60 * micros_per_second, 0);
  const micros t = epoch_2026;
  const std::vector<script_limit> limits = {{"k:wide", &wide, 1, false},
                                            {"k:narrow", &narrow, 1, false}};
  const std::int64_t topups[] = {10, 10};
  auto got = decide_with_topups(redis, limits, topups, t);
  ASSERT_TRUE(got.admitted);
  EXPECT_EQ(got.grants[0], 10);
  EXPECT_EQ(got.grants[1], 0);  // nothing left in the window after the cost
  got = decide_with_topups(redis, limits, topups, t + 1);
  EXPECT_FALSE(got.admitted);
  EXPECT_EQ(got.grants, (std::vector<std::int64_t>{0, 0}));
  // The wide limit was charged 1 + 10 once, not again: 89 left before this request.
  const std::vector<script_limit> wide_only = {{"k:wide", &wide, 1, false}};
  EXPECT_EQ(redis.decide(wide_only, true, t + 1).decisions[0].remaining, 89);
}

TEST_P(RedisLeaseTopup, NoGrantForShadowSlidingOrShapingLimits) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const auto sw = limit_params::make(algorithm::sliding_window, 100, micros_per_second, 0);
  const auto log = limit_params::make(algorithm::sliding_log, 100, micros_per_second, 0);
  const auto shaping =
      limit_params::make(algorithm::leaky_bucket, 100, micros_per_second, 100, 500'000);
  const auto tb = limit_params::make(algorithm::token_bucket, 100, micros_per_second, 100);
  const std::vector<script_limit> limits = {{"n:sw", &sw, 1, false},
                                            {"n:log", &log, 1, false},
                                            {"n:shaping", &shaping, 1, false},
                                            {"n:shadow", &tb, 1, true}};
  const std::int64_t topups[] = {10, 10, 10, 10};
  auto got = decide_with_topups(redis, limits, topups, epoch_2026);
  ASSERT_TRUE(got.admitted);
  EXPECT_EQ(got.grants, (std::vector<std::int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(got.decisions[0].remaining, 99);
}

TEST_P(RedisLeaseTopup, AFixedWindowGrantRefundedInItsWindowComesBackExactly) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const auto p = limit_params::make(algorithm::fixed_window, 200, 3600 * micros_per_second, 0);
  const micros t = epoch_2026 + 10 * micros_per_second;
  const std::vector<script_limit> limits = {{"fw:a", &p, 1, false}};
  const std::int64_t topups[] = {10};
  auto got = decide_with_topups(redis, limits, topups, t);
  ASSERT_TRUE(got.admitted);
  ASSERT_EQ(got.grants[0], 10);
  EXPECT_EQ(got.decisions[0].remaining, 189);
  // 4 spent locally, 6 unspent given back 250 ms later.
  const std::vector<script_limit> unspent = {{"fw:a", &p, 6, false}};
  decide_outcome charged;
  charged.admitted = true;
  charged.now = got.now;
  charged.decisions = got.decisions;
  EXPECT_EQ(redis.refund(unspent, charged, t + 250'000), 1);
  EXPECT_EQ(redis.decide(limits, true, t + 250'000).decisions[0].remaining, 195);
}

TEST_P(RedisLeaseTopup, MalformedTopupsChangeNothing) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const auto p = limit_params::make(algorithm::token_bucket, 10, micros_per_second, 10);
  const std::vector<script_limit> limits = {{"bad:a", &p, 1, false}};
  for (const char* text : {"", "1 2", "-1", "x", "1.5"}) {
    auto args = redis.command(limits);
    args.emplace_back("");
    args.emplace_back(text);
    const auto r = redis.run(args);
    EXPECT_EQ(r.type, REDIS_REPLY_ERROR) << text;
    EXPECT_EQ(r.text, "ERR sluice decide: malformed lease top-ups") << text;
  }
  EXPECT_EQ(redis.run({"EXISTS", "bad:a"}).integer, 0);
}

}  // namespace
}  // namespace sluice::redis::test
