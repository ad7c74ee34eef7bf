// `shards: N` on a limit: the budget split exactly over N sub-keys "<key>#<i>", each
// request charging the sub-key its client hashes to; on the memory store with a fake
// clock, so admission counts are exact.
#include "limit/shards.hpp"

#include <gtest/gtest.h>

#include <set>

#include "engine_support.hpp"
#include "limit/engine.hpp"
#include "util/crc16.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;  // 2026-01-01T00:00:00Z
constexpr micros second = micros_per_second;
constexpr micros minute = 60 * second;
using kp = config::key_part_kind;

config::limit_def sharded_limit(std::string name, std::vector<config::key_part> key,
                                config::rate rate, algorithm algo, int shards,
                                std::int64_t burst = 0) {
  config::limit_def l = make_limit(std::move(name), std::move(key), rate, algo, burst);
  l.shards = shards;
  return l;
}

// limit_params as text, to compare them.
std::string text(const limit_params& p) {
  return std::string(to_string(p.algo)) + " " + std::to_string(p.count) + "/" +
         std::to_string(p.period) + " burst " + std::to_string(p.burst) + " delay " +
         std::to_string(p.max_delay) + " T " + std::to_string(p.interval_num) + "/" +
         std::to_string(p.interval_den);
}

// The text of sub-key `shard` of `key`.
std::string sub_key(const std::string& key, int shard, int shards) {
  return key + "#" + std::to_string(sub_key_number(key, shard, shards));
}

std::string client_ip(int i) {
  return "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

TEST(Shards, SharesAddUpToExactlyTheWhole) {
  for (std::int64_t total = 1; total <= 300; ++total) {
    for (int shards = 1; shards <= 64 && shards <= total; ++shards) {
      std::int64_t sum = 0, lo = total, hi = 0;
      for (int i = 0; i < shards; ++i) {
        const std::int64_t share = shard_share(total, shards, i);
        sum += share;
        lo = std::min(lo, share);
        hi = std::max(hi, share);
      }
      ASSERT_EQ(sum, total) << total << " over " << shards;
      ASSERT_GE(lo, 1);
      ASSERT_LE(hi - lo, 1) << "as even as whole numbers allow";
      ASSERT_EQ(lo, total / shards) << "the smallest share is the rounded-down one";
    }
  }
}

TEST(Shards, ParamsSplitCountAndBurstAndKeepPeriodAndDelay) {
  const limit_params bucket = limit_params::make(algorithm::leaky_bucket, 100, second, 50, 250'000);
  const limit_params parts[] = {shard_params(bucket, 3, 0), shard_params(bucket, 3, 1),
                                shard_params(bucket, 3, 2)};
  EXPECT_EQ(text(parts[0]),
            text(limit_params::make(algorithm::leaky_bucket, 34, second, 17, 250'000)));
  EXPECT_EQ(text(parts[1]),
            text(limit_params::make(algorithm::leaky_bucket, 33, second, 17, 250'000)));
  EXPECT_EQ(text(parts[2]),
            text(limit_params::make(algorithm::leaky_bucket, 33, second, 16, 250'000)));
  // A bucket without burst has burst = N, split like the count.
  const limit_params plain = limit_params::make(algorithm::token_bucket, 10, second, 0);
  EXPECT_EQ(shard_params(plain, 4, 0).burst, 3);
  EXPECT_EQ(shard_params(plain, 4, 3).burst, 2);
  // Windows have no burst.
  const limit_params window = limit_params::make(algorithm::fixed_window, 1000, minute, 0);
  EXPECT_EQ(text(shard_params(window, 16, 8)),
            text(limit_params::make(algorithm::fixed_window, 62, minute, 0)));
  EXPECT_EQ(shard_params(window, 16, 7).count, 63);
  EXPECT_EQ(shard_params(window, 16, 0).count, 63);  // 1000 = 8 * 63 + 8 * 62
}

TEST(Shards, SuffixAndClientHashAreStable) {
  std::string keys = "ip:192.0.2.1global";
  append_shard_suffix(keys, 12, 13, 16);
  EXPECT_EQ(keys, "ip:192.0.2.1global#" + std::to_string(sub_key_number("global", 13, 16)));
  // A fixed seed: the same sub-key on every gateway and every run (this value is
  // what every build computes; a change would move every client at an upgrade).
  EXPECT_EQ(shard_of_client("ip:192.0.2.1", 1), 0);
  const int a = shard_of_client("ip:192.0.2.1", 8);
  EXPECT_EQ(shard_of_client("ip:192.0.2.1", 8), a);
  // Many clients reach every sub-key, close to evenly.
  for (int shards : {2, 3, 8, 16, 64}) {
    std::vector<int> hits(shards);
    const int clients = 1000 * shards;
    for (int i = 0; i < clients; ++i) ++hits[shard_of_client("ip:" + client_ip(i), shards)];
    for (int h : hits) {
      EXPECT_GT(h, 850) << shards;
      EXPECT_LT(h, 1150) << shards;
    }
  }
}

// Sub-key i of any key lies in the i-th of N equal ranges of the 16384 Redis Cluster
// slots (crc16 % 16384 of the sub-key, its hash tag): N different slots, evenly spread.
TEST(Shards, SubKeysLandInTheirOwnSlotRange) {
  for (const std::string key : {"global", "default:GET", "ocr", "user:alice", "x"}) {
    for (int shards = 1; shards <= 64; ++shards) {
      std::set<std::string> texts;
      for (int i = 0; i < shards; ++i) {
        const std::string text = sub_key(key, i, shards);
        const std::uint32_t slot = crc16(text) % 16384;
        ASSERT_EQ(static_cast<int>(slot * static_cast<std::uint32_t>(shards) / 16384), i)
            << text << " slot " << slot << " of " << shards;
        texts.insert(text);
      }
      EXPECT_EQ(texts.size(), static_cast<std::size_t>(shards));
    }
  }
  // Found by a short search: j stays small.
  EXPECT_LT(sub_key_number("global", 63, 64), 2000);
  EXPECT_EQ(crc16("123456789"), 0x31C3) << "CRC16/XMODEM check value";
}

class ShardedEngine : public ::testing::Test {
 protected:
  void build(std::vector<config::limit_def> limits, std::vector<config::tier_def> tiers = {}) {
    cfg_.server.identity.api_key_header = "X-API-Key";
    cfg_.server.identity.user_header = "X-User-ID";
    cfg_.server.identity.user_trusted_only = false;
    cfg_.policy.limits = std::move(limits);
    cfg_.policy.tiers = std::move(tiers);
    pol_ = std::make_unique<policy>(cfg_, 42);
  }

  const evaluation& run(const std::string& ip, const request_headers* h = nullptr, micros at = t0) {
    request_facts f{"GET", "/x", *ip_address::parse(ip), false, h};
    decide(*pol_, f, nullptr, store_, at, ev_);
    return ev_;
  }

  std::string key(std::size_t i = 0) const { return std::string(ev_.key_of(ev_.applied[i])); }

  config::loaded_config cfg_;
  std::unique_ptr<policy> pol_;
  memory_store store_{1 << 16};
  evaluation ev_;
};

TEST_F(ShardedEngine, EachRequestChargesItsClientsSubKeyWithItsShare) {
  build({sharded_limit("global", {{kp::global, ""}}, {100, minute}, algorithm::fixed_window, 4)});
  const evaluation& ev = run("192.0.2.1");
  ASSERT_EQ(ev.applied.size(), 1u);
  const int shard = shard_of_client("ip:192.0.2.1", 4);
  EXPECT_EQ(key(), sub_key("global", shard, 4));
  EXPECT_EQ(ev.applied[0].params->count, 25);
  EXPECT_EQ(pol_->limits()[0].global_suffixes.size(), 4u) << "worked out once, not per request";
  EXPECT_EQ(ev.applied[0].params, &pol_->limits()[0].shard_params[shard]);
  // The headers report the sub-key: its limit and what is left of it.
  EXPECT_EQ(ev.applied[0].result.limit, 25);
  EXPECT_EQ(ev.applied[0].result.remaining, 24);
  EXPECT_EQ(ev.checks[0].key_hash, state_key(pol_->limits()[0], key()));
  // The same client always charges the same sub-key; its share runs out after 25.
  int admitted = 1;
  for (int i = 0; i < 40; ++i) {
    admitted += run("192.0.2.1").result == outcome::allowed;
    EXPECT_EQ(key(), sub_key("global", shard, 4));
  }
  EXPECT_EQ(admitted, 25);
  EXPECT_EQ(ev_.result, outcome::limited);
  EXPECT_EQ(ev_.applied[0].result.limit, 25);
}

TEST_F(ShardedEngine, ManyClientsNeverGetMoreThanTheWholeRate) {
  for (int shards : {1, 3, 7, 16, 64}) {
    for (algorithm a : {algorithm::fixed_window, algorithm::sliding_window, algorithm::sliding_log,
                        algorithm::token_bucket, algorithm::leaky_bucket}) {
      build({sharded_limit("global", {{kp::global, ""}}, {1000, minute}, a, shards, 500)});
      store_.sweep(t0 + 365LL * 24 * 60 * minute);
      const micros at = t0 + static_cast<micros>(shards) * 7 * 24 * 60 * minute;  // fresh keys
      int admitted = 0;
      std::set<std::string> keys;
      for (int i = 0; i < 4000; ++i) {
        admitted += run(client_ip(i), nullptr, at).result == outcome::allowed;
        keys.insert(key());
      }
      const bool bucket = a == algorithm::token_bucket || a == algorithm::leaky_bucket;
      // Enough clients fill every sub-key: exactly the whole budget, never more.
      EXPECT_EQ(admitted, bucket ? 500 : 1000) << to_string(a) << " shards " << shards;
      EXPECT_EQ(keys.size(), static_cast<std::size_t>(shards));
    }
  }
}

TEST_F(ShardedEngine, TheClientIsTheUserElseTheApiKeyElseTheIp) {
  build({sharded_limit("global", {{kp::global, ""}}, {6400, minute}, algorithm::fixed_window, 64)});
  const fake_headers user{{"x-user-id", "alice"}, {"x-api-key", "k1"}};
  run("192.0.2.1", &user);
  const std::string alice = key();
  EXPECT_EQ(alice, sub_key("global", shard_of_client("user:alice", 64), 64));
  run("198.51.100.9", &user);
  EXPECT_EQ(key(), alice) << "a user keeps its sub-key from any address";
  const fake_headers api_key{{"x-api-key", "k1"}};
  run("192.0.2.1", &api_key);
  EXPECT_EQ(key(), sub_key("global", shard_of_client("key:k1", 64), 64));
  run("192.0.2.1");
  EXPECT_EQ(key(), sub_key("global", shard_of_client("ip:192.0.2.1", 64), 64));
}

TEST_F(ShardedEngine, CompositeAndPerClientKeysGetTheSuffixLast) {
  build({sharded_limit("per-route", {{kp::route, ""}, {kp::method, ""}}, {90, minute},
                       algorithm::sliding_window, 3),
         sharded_limit("per-ip", {{kp::ip, ""}}, {10, minute}, algorithm::fixed_window, 1)});
  run("192.0.2.1");
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(key(0), sub_key("default:GET", shard_of_client("ip:192.0.2.1", 3), 3));
  EXPECT_EQ(ev_.applied[0].params->count, 30);
  EXPECT_EQ(key(1), "192.0.2.1") << "an unsharded limit keeps its key";
  EXPECT_EQ(ev_.applied[1].params->count, 10);
}

TEST_F(ShardedEngine, TierAwareLimitsSplitEachTier) {
  config::tier_def free;
  free.name = "free";
  free.rate = {8, minute};
  config::tier_def vip;
  vip.name = "vip";
  vip.unlimited = true;
  auto limit = sharded_limit("per-tier", {{kp::global, ""}}, {}, algorithm::token_bucket, 4);
  limit.tier_aware = true;
  cfg_.policy.default_tier = "free";
  build({limit}, {free, vip});
  run("192.0.2.1");
  ASSERT_EQ(ev_.applied.size(), 1u);
  EXPECT_EQ(ev_.applied[0].params->count, 2);
  EXPECT_EQ(ev_.applied[0].params->burst, 2);
  EXPECT_EQ(pol_->limits()[0].shard_params_for(1, 0), nullptr) << "unlimited tier";
  EXPECT_EQ(pol_->limits()[0].shard_params_for(-1, 0), nullptr) << "no tier";
}

TEST_F(ShardedEngine, ChangingShardsStartsTheLimitsStateAfresh) {
  build({sharded_limit("global", {{kp::global, ""}}, {100, minute}, algorithm::fixed_window, 1)});
  const std::uint64_t one = pol_->limits()[0].state_seed;
  build({sharded_limit("global", {{kp::global, ""}}, {100, minute}, algorithm::fixed_window, 4)});
  const std::uint64_t four = pol_->limits()[0].state_seed;
  build({sharded_limit("global", {{kp::global, ""}}, {100, minute}, algorithm::fixed_window, 8)});
  EXPECT_NE(one, four);
  EXPECT_NE(four, pol_->limits()[0].state_seed);
  build({sharded_limit("global", {{kp::global, ""}}, {200, minute}, algorithm::fixed_window, 4)});
  EXPECT_EQ(four, pol_->limits()[0].state_seed) << "a new rate keeps the state, as without shards";
}

}  // namespace
}  // namespace sluice::limit
