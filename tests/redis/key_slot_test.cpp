#include <gtest/gtest.h>

#include "redis/router.hpp"

namespace sluice::redis {
namespace {

// Expected slots are what `redis-cli CLUSTER KEYSLOT <key>` answers (Redis 7.0.15);
// the CRC16 check value of "123456789" is 0x31C3 (XMODEM).
TEST(KeySlot, MatchesRedisClusterKeyslot) {
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % slot_count);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagSelectsTheSlot) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("user1000"));
  EXPECT_EQ(key_slot("sluice:{ip:203.0.113.7}:per-ip"), key_slot("ip:203.0.113.7"));
}

TEST(KeySlot, EmptyOrUnclosedTagHashesTheWholeKey) {
  // As Redis: "{}" is no tag; the first '{' and the next '}' delimit it.
  EXPECT_EQ(key_slot("foo{}{bar}"), 8363);
  EXPECT_EQ(key_slot("{unclosed"), 470);
  EXPECT_EQ(key_slot("foo{{bar}}zap"), 4015);  // the tag is "{bar"
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("ip:203.0.113.7"), 8952);
}

}  // namespace
}  // namespace sluice::redis
