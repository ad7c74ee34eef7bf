// Settling a cost from the response (issue 14) in the Redis decision code (the refund
// call with "<reserved> <actual>" costs: bucket.settle(), fixed_window.settle() in Lua)
// against a real redis-server, through the Functions library and the EVAL scripts: the
// same states as the memory store's settle() over random decisions and settles, debt a
// key's expiry keeps, and the plain refund unchanged.
#include <gtest/gtest.h>

#include <random>

#include "limit/algorithms/harness.hpp"
#include "limit/memory_store.hpp"
#include "redis/decide_runner.hpp"
#include "util/hash.hpp"

namespace sluice::redis::test {
namespace {

using namespace limit::algo_test;

class RedisSettle : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisSettle,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// Sends the settle of `reserved` charged at `charged_at` to `actual`; returns the reply.
long long settle(decide_runner& redis, const std::string& key, const limit_params& p,
                 micros charged_at, std::int64_t reserved, std::int64_t actual, micros now) {
  const settle_limit l{key, &p, reserved, actual, false};
  const decide_head head = refund_head_of(redis.via());
  std::vector<std::string> args = {std::string(head.command), std::string(head.name)};
  if (append_settle_args(std::span(&l, 1), charged_at, args) == 0) return -1;
  args.push_back(std::to_string(now));
  const auto r = redis.run(args);
  if (r.type != REDIS_REPLY_INTEGER) throw std::runtime_error("settle: " + r.text);
  return r.integer;
}

TEST_P(RedisSettle, MatchesTheMemoryStoreOverRandomDecisionsAndSettles) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 12);
  std::mt19937_64 rng(2026);
  const limit_params cases[] = {
      limit_params::make(algorithm::token_bucket, 7, sec, 20),
      limit_params::make(algorithm::leaky_bucket, 100, minute, 50),
      limit_params::make(algorithm::fixed_window, 30, 10 * sec, 0),
  };
  int settled = 0;
  for (const limit_params& p : cases) {
    const std::string key = "settle:" + std::string(to_string(p.algo));
    const std::uint64_t hash = hash64(key, 3);
    micros now = epoch_2026 + uniform(rng, 0, minute);
    for (int i = 0; i < 400; ++i) {
      now += uniform(rng, 0, 300 * ms);
      const std::int64_t reserved = uniform(rng, 0, 5);
      const script_limit l{key, &p, reserved, false};
      const decide_outcome got = redis.decide(std::span(&l, 1), false, now);
      const limit::check c{hash, &p, reserved, false};
      decision want;
      store.decide(std::span(&c, 1), now, std::span(&want, 1));
      ASSERT_EQ(got.decisions[0], want) << describe(p) << " step " << i;
      if (!got.admitted) continue;
      // The response ends a little later and reports its real cost.
      const micros ended = now + uniform(rng, 0, 2 * sec);
      const std::int64_t actual = uniform(rng, 0, 3 * p.capacity());
      settle(redis, key, p, now, reserved, actual, ended);
      store.settle(hash, p, now, reserved, actual, ended);
      ++settled;
      // Both now hold the same state: a peek at the settle's time agrees.
      const decide_outcome peek_redis = redis.decide(std::span(&l, 1), true, ended);
      ASSERT_EQ(peek_redis.decisions[0], store.peek(hash, p, ended))
          << describe(p) << " step " << i << " reserved " << reserved << " actual " << actual;
      now = ended;
    }
  }
  EXPECT_GT(settled, 150);
}

TEST_P(RedisSettle, DebtLivesAsLongAsItsStateAndARefundStaysARefund) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params p = limit_params::make(algorithm::token_bucket, 10, sec, 10);
  // No state at all (a reserve of 0): the settle alone owes 15 tokens, 500 ms of debt.
  EXPECT_EQ(settle(redis, "debt", p, epoch_2026, 0, 15, epoch_2026), 1);
  EXPECT_EQ(redis.snapshot("debt"), "packed:tb " + std::to_string(epoch_2026 + 1500 * ms) + " 0");
  const long long ttl = redis.pttl("debt");
  EXPECT_GT(ttl, 1500);
  EXPECT_LE(ttl, 1500 + 2000);
  const script_limit l{"debt", &p, 1, false};
  const decide_outcome next = redis.decide(std::span(&l, 1), false, epoch_2026);
  EXPECT_FALSE(next.admitted);
  EXPECT_EQ(next.decisions[0].retry_after, 600 * ms);
  // A refund ("<cost>") gives back as before: what refill cannot have absorbed.
  const decide_outcome charged = redis.decide(std::span(&l, 1), false, epoch_2026 + 2 * sec);
  ASSERT_TRUE(charged.admitted);
  EXPECT_EQ(redis.refund(std::span(&l, 1), charged, epoch_2026 + 2 * sec), 1);
  EXPECT_EQ(redis.decide(std::span(&l, 1), true, epoch_2026 + 2 * sec).decisions[0].remaining, 10);
}

TEST_P(RedisSettle, MalformedSettlesAreAnErrorReply) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params p = limit_params::make(algorithm::fixed_window, 10, sec, 0);
  const decide_head head = refund_head_of(redis.via());
  for (const char* bad : {"1 -2", "1 2 3", "x 2", "99999999999999999999 1"}) {
    const auto r = redis.run({std::string(head.command), std::string(head.name), "1", "k",
                              limit_spec(p, false), bad, "1"});
    EXPECT_EQ(r.type, REDIS_REPLY_ERROR) << bad;
  }
}

}  // namespace
}  // namespace sluice::redis::test
