// `shards: N` on Redis Cluster: the sub-keys of a sharded limit ("<key>#<j>", the hash
// tag of their Redis keys "<prefix>{<key>#<j>}:<limit>") land on N different slots,
// spread over the masters of a cluster as created by redis-cli --cluster create.
#include <gtest/gtest.h>

#include <set>

#include "limit/shards.hpp"
#include "redis/router.hpp"
#include "util/crc16.hpp"

namespace sluice::redis {
namespace {

std::string sub_key(const std::string& key, int shard, int shards) {
  return key + "#" + std::to_string(limit::sub_key_number(key, shard, shards));
}

// The master owning `slot` when redis-cli splits 16384 slots over 3 masters:
// 0-5460, 5461-10922, 10923-16383.
int master_of(std::uint16_t slot) {
  return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
}

TEST(ShardSlots, SubKeysSpreadOverThreeMasters) {
  for (const std::string key : {"global", "default:GET", "ocr:POST", "header-tenant"}) {
    for (int shards = 3; shards <= 16; ++shards) {
      int per_master[3] = {0, 0, 0};
      std::set<std::uint16_t> slots;
      for (int i = 0; i < shards; ++i) {
        const std::string tag = sub_key(key, i, shards);
        const std::uint16_t slot = key_slot("sluice:{" + tag + "}:global");
        ASSERT_EQ(slot, key_slot(tag));
        ASSERT_EQ(slot, crc16(tag) % slot_count) << "limit/shards computes what Redis does";
        slots.insert(slot);
        ++per_master[master_of(slot)];
      }
      EXPECT_EQ(slots.size(), static_cast<std::size_t>(shards)) << key << " " << shards;
      for (int m = 0; m < 3; ++m) {
        // The sub-keys fill N equal slot ranges: a master holds the ranges inside its
        // third and perhaps the two that straddle its ends, so N / 3 - 2 < count < N / 3 + 2,
        // and at least one.
        EXPECT_GE(per_master[m], 1) << key << " shards " << shards << " master " << m;
        EXPECT_GT(3 * per_master[m], shards - 6) << key << " shards " << shards << " master " << m;
        EXPECT_LT(3 * per_master[m], shards + 6) << key << " shards " << shards << " master " << m;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::redis
