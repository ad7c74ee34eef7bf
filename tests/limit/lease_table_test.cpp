// The Redis backend's local quota leases (issue 15): the table alone, on an injected
// clock (no sleeps): a lease serves its units until they run out or it ages out, a
// request takes from every lease or from none, a top-up is asked once at a time, what
// leaves the table unspent is handed back for the refund, and the table stays bounded.
#include "limit/lease_table.hpp"

#include <gtest/gtest.h>

namespace sluice::limit {
namespace {

const limit_params bucket = limit_params::make(algorithm::token_bucket, 100, 1'000'000, 100);
const limit_params window = limit_params::make(algorithm::fixed_window, 200, 3'600'000'000, 0);

lease_grant grant_of(std::int64_t tokens, micros sent, std::int64_t remaining = 50,
                     micros reset = 900'000, micros max_age = 250'000,
                     const std::string& key = "sluice:hot:k") {
  lease_grant g;
  g.redis_key = key;
  g.limit_name = "hot";
  g.tokens = tokens;
  g.max_age = max_age;
  g.state.allowed = true;
  g.state.limit = 100;
  g.state.remaining = remaining;
  g.state.reset = reset;
  g.redis_now = 1'767'225'600'000'000 + sent;
  g.sent = sent;
  return g;
}

// Asks for and stores a grant of `tokens` for `probe` at local time `sent`.
void lease(lease_table& t, const lease_probe& probe, std::int64_t tokens, micros sent,
           micros max_age = 250'000) {
  std::vector<returned_lease> returned;
  ASSERT_GT(t.want_topup(probe, 10, max_age, sent, returned), 0);
  const lease_grant g = grant_of(tokens, sent, 50, 900'000, max_age);
  t.store(probe, &g, returned);
  ASSERT_TRUE(returned.empty());
}

TEST(LeaseTable, ServesItsUnitsThenNeedsRedis) {
  lease_table t(64);
  const lease_probe p{1, &bucket, 1};
  decision d[1];
  micros redis_now = 0;
  EXPECT_FALSE(t.take(std::span(&p, 1), 0, d, redis_now));  // no lease yet
  lease(t, p, 3, 1000);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.take(std::span(&p, 1), 2000 + i, d, redis_now)) << i;
    EXPECT_TRUE(d[0].allowed);
    EXPECT_EQ(d[0].limit, 100);
    EXPECT_EQ(d[0].remaining, 50 + 2 - i);  // Redis's remaining + what the lease still holds
    EXPECT_EQ(d[0].reset, 900'000 - (1000 + i));
    EXPECT_EQ(redis_now, 1'767'225'600'000'000 + 2000 + i);
  }
  EXPECT_FALSE(t.take(std::span(&p, 1), 3000, d, redis_now));  // spent
}

TEST(LeaseTable, ACostAboveWhatIsLeftTakesNothing) {
  lease_table t(64);
  lease_probe p{1, &bucket, 1};
  lease(t, p, 3, 0);
  decision d[1];
  micros redis_now = 0;
  p.cost = 4;
  EXPECT_FALSE(t.take(std::span(&p, 1), 10, d, redis_now));
  p.cost = 3;
  EXPECT_TRUE(t.take(std::span(&p, 1), 10, d, redis_now));
  EXPECT_EQ(d[0].remaining, 50);
}

TEST(LeaseTable, ExpiresAfterMaxAgeAndHandsBackTheUnspentUnits) {
  lease_table t(64);
  const lease_probe p{1, &bucket, 1};
  lease(t, p, 10, 1000);
  decision d[1];
  micros redis_now = 0;
  ASSERT_TRUE(t.take(std::span(&p, 1), 1000 + 249'999, d, redis_now));
  EXPECT_FALSE(t.take(std::span(&p, 1), 1000 + 250'000, d, redis_now));  // aged out
  std::vector<returned_lease> back;
  t.expire(1000 + 249'999, back);
  EXPECT_TRUE(back.empty());
  t.expire(1000 + 250'000, back);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tokens, 9);
  EXPECT_EQ(back[0].redis_key, "sluice:hot:k");
  EXPECT_EQ(back[0].charged_at, 1'767'225'600'000'000 + 1000);
  EXPECT_EQ(t.size(), 0u);
  back.clear();
  t.expire(1000 + 500'000, back);
  EXPECT_TRUE(back.empty());  // given back once
}

TEST(LeaseTable, AFixedWindowLeaseEndsWithItsWindow) {
  lease_table t(64);
  const lease_probe p{1, &window, 1};
  std::vector<returned_lease> returned;
  ASSERT_EQ(t.want_topup(p, 10, 250'000, 0, returned), 10);
  const lease_grant g = grant_of(10, 0, 100, /*reset: window ends in*/ 100'000);
  t.store(p, &g, returned);
  decision d[1];
  micros redis_now = 0;
  EXPECT_TRUE(t.take(std::span(&p, 1), 99'999, d, redis_now));
  EXPECT_FALSE(t.take(std::span(&p, 1), 100'000, d, redis_now));
}

TEST(LeaseTable, TakesFromEveryLeaseOrFromNone) {
  lease_table t(64);
  const lease_probe a{1, &bucket, 1};
  const lease_probe b{2, &bucket, 2};
  lease(t, a, 5, 0);
  lease(t, b, 3, 0);
  const lease_probe both[] = {a, b};
  decision d[2];
  micros redis_now = 0;
  ASSERT_TRUE(t.take(both, 10, d, redis_now));  // a: 4 left, b: 1 left
  EXPECT_EQ(d[0].remaining, 54);
  EXPECT_EQ(d[1].remaining, 51);
  EXPECT_FALSE(t.take(both, 11, d, redis_now));  // b lacks 1: neither is taken from
  // a still holds its 4: four requests of a alone pass, the fifth does not.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(t.take(std::span(&a, 1), 12, d, redis_now)) << i;
  EXPECT_FALSE(t.take(std::span(&a, 1), 12, d, redis_now));
  // One limit without a lease: the whole request goes to Redis.
  lease(t, a, 5, 20);
  const lease_probe c{3, &bucket, 1};
  const lease_probe with_c[] = {a, c};
  EXPECT_FALSE(t.take(with_c, 21, d, redis_now));
  EXPECT_TRUE(t.take(std::span(&a, 1), 21, d, redis_now));
  EXPECT_EQ(d[0].remaining, 54);  // untouched by the failed take
}

TEST(LeaseTable, OtherParametersAreNotServed) {
  lease_table t(64);
  const lease_probe p{1, &bucket, 1};
  lease(t, p, 5, 0);
  const limit_params other = limit_params::make(algorithm::token_bucket, 50, 1'000'000, 50);
  const lease_probe q{1, &other, 1};
  decision d[1];
  micros redis_now = 0;
  EXPECT_FALSE(t.take(std::span(&q, 1), 1, d, redis_now));
  // Its top-up asks for a whole lease, and the old units go back when it is granted.
  std::vector<returned_lease> back;
  EXPECT_EQ(t.want_topup(q, 10, 250'000, 1, back), 10);
  const lease_grant g = grant_of(7, 1);
  t.store(q, &g, back);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tokens, 5);
  EXPECT_EQ(back[0].params.count, 100);
  EXPECT_TRUE(t.take(std::span(&q, 1), 2, d, redis_now));
}

TEST(LeaseTable, OneTopupInFlightPerKeyAndNeverAboveMaxTokens) {
  lease_table t(64);
  const lease_probe p{1, &bucket, 1};
  std::vector<returned_lease> back;
  EXPECT_EQ(t.want_topup(p, 10, 250'000, 0, back), 10);
  EXPECT_EQ(t.want_topup(p, 10, 250'000, 1, back), 0);  // in flight
  // A reply that never came: asked again once max_age has passed.
  EXPECT_EQ(t.want_topup(p, 10, 250'000, 250'000, back), 10);
  const lease_grant g = grant_of(6, 250'000);
  t.store(p, &g, back);
  // 6 held: a top-up asks for the 4 missing.
  EXPECT_EQ(t.want_topup(p, 10, 250'000, 250'001, back), 4);
  t.store(p, nullptr, back);  // nothing granted: the lease is kept, the mark cleared
  decision d[1];
  micros redis_now = 0;
  EXPECT_TRUE(t.take(std::span(&p, 1), 250'002, d, redis_now));
  EXPECT_EQ(t.want_topup(p, 10, 250'000, 250'003, back), 5);
  EXPECT_TRUE(back.empty());
}

TEST(LeaseTable, BoundedEvictingExpiredFirstAndHandingBackWhatItEvicts) {
  lease_table t(16);  // one entry per shard
  std::vector<returned_lease> back;
  // Ids in one shard (shard_of uses bits 7 and up).
  const lease_probe a{1, &bucket, 1};
  const lease_probe b{1 + (16 << 7), &bucket, 1};
  const lease_probe c{1 + (32 << 7), &bucket, 1};
  lease(t, a, 5, 0);
  EXPECT_EQ(t.size(), 1u);
  // b evicts a (live, expiring first): a's 5 units are handed back.
  EXPECT_EQ(t.want_topup(b, 10, 250'000, 10, back), 10);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tokens, 5);
  EXPECT_EQ(t.size(), 1u);
  back.clear();
  const lease_grant g = grant_of(3, 10);
  t.store(b, &g, back);
  // c, after b expired: b's units go back too.
  EXPECT_EQ(t.want_topup(c, 10, 250'000, 300'000, back), 10);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tokens, 3);
  EXPECT_EQ(t.size(), 1u);
  // Many keys: never more than the bound.
  for (std::uint64_t id = 0; id < 1000; ++id) {
    const lease_probe q{id * 977, &bucket, 1};
    t.want_topup(q, 10, 250'000, 400'000, back);
  }
  EXPECT_LE(t.size(), 16u);
}

TEST(LeaseTable, DrainHandsBackEverythingAndForgetDropsOneKey) {
  lease_table t(64);
  const lease_probe a{1, &bucket, 1};
  const lease_probe b{2, &bucket, 1};
  lease(t, a, 5, 0);
  lease(t, b, 4, 0);
  std::unordered_map<std::string, std::int64_t> held;
  t.tokens_by_limit(1, held);
  EXPECT_EQ(held["hot"], 9);
  t.forget(a.id);  // an admin reset: the key is gone in Redis, nothing to give back
  decision d[1];
  micros redis_now = 0;
  EXPECT_FALSE(t.take(std::span(&a, 1), 1, d, redis_now));
  std::vector<returned_lease> back;
  t.drain(back);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].tokens, 4);
  EXPECT_FALSE(t.take(std::span(&b, 1), 1, d, redis_now));
  held.clear();
  t.tokens_by_limit(1, held);
  EXPECT_TRUE(held.empty());
}

}  // namespace
}  // namespace sluice::limit
