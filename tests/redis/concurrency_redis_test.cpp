// algorithm: concurrency in the Redis decision code (decide.lua, concurrency.lua) against a
// real redis-server, through the Functions library and the EVAL scripts: the same
// decisions as the memory store while slots are taken and given back, one sorted-set
// member per held slot that its lease ends, release by the refund call, all-or-nothing
// with other limits, atomicity across connections, and malformed lease ids refused.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "limit/algorithms/concurrency.hpp"
#include "limit/algorithms/harness.hpp"
#include "limit/memory_store.hpp"
#include "redis/decide_runner.hpp"
#include "util/hash.hpp"

namespace sluice::redis::test {
namespace {

using namespace limit::algo_test;

class RedisConcurrency : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisConcurrency,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

const limit_params four = limit_params::make(algorithm::concurrency, 4, hour, 0);

script_limit slot_of(const std::string& key, const limit_params& p, std::string_view hold) {
  return script_limit{key, &p, 1, false, hold};
}

// Releases `hold` on `key`: the refund call the gateway sends when a response ends.
long long release(decide_runner& redis, const std::string& key, const limit_params& p,
                  std::string_view hold, micros now) {
  const script_limit l = slot_of(key, p, hold);
  decide_outcome held;
  held.decisions = {decision{.allowed = true}};
  held.now = now;
  return redis.refund(std::span(&l, 1), held, now);
}

// Random takes, releases and peeks on a few keys within the lease: both stores agree.
TEST_P(RedisConcurrency, MatchesTheMemoryStoreWhileSlotsComeAndGo) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 10);
  std::mt19937_64 rng(14);
  std::vector<std::vector<std::string>> held(3);  // per key: lease ids this test holds
  micros now = epoch_2026;
  int allowed = 0, denied = 0, released = 0, next_id = 0;
  for (int i = 0; i < 600; ++i) {
    now += static_cast<micros>(rng() % 5000);
    const int k = static_cast<int>(rng() % held.size());
    const std::string key = "conc:" + std::to_string(k);
    const std::uint64_t hash = hash64(key, 1);
    if (rng() % 3 == 0 && !held[k].empty()) {
      const std::size_t pick = rng() % held[k].size();
      EXPECT_EQ(release(redis, key, four, held[k][pick], now), 1);
      EXPECT_TRUE(store.release(hash, four, now));
      held[k].erase(held[k].begin() + static_cast<std::ptrdiff_t>(pick));
      ++released;
      continue;
    }
    const bool peek = rng() % 10 == 0;
    const std::string id = "gw:" + std::to_string(next_id++);
    const script_limit l = slot_of(key, four, id);
    const decide_outcome got = redis.decide(std::span(&l, 1), peek, now);
    decision want;
    if (peek) {
      want = store.peek(hash, four, now);
    } else {
      const limit::check c{hash, &four, 1, false};
      store.decide(std::span(&c, 1), now, std::span(&want, 1));
    }
    ASSERT_EQ(got.decisions[0], want) << "step " << i;
    if (peek) continue;
    if (got.admitted) held[k].push_back(id);
    (got.admitted ? allowed : denied)++;
  }
  EXPECT_GT(allowed, 100);
  EXPECT_GT(denied, 50);
  EXPECT_GT(released, 50);
}

TEST_P(RedisConcurrency, EachSlotIsAMemberItsLeaseEnds) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params two = limit_params::make(algorithm::concurrency, 2, 30 * sec, 0);
  const script_limit a = slot_of("lease", two, "gw:a");
  const script_limit b = slot_of("lease", two, "gw:b");
  const script_limit c = slot_of("lease", two, "gw:c");
  EXPECT_TRUE(redis.decide(std::span(&a, 1), false, epoch_2026).admitted);
  EXPECT_TRUE(redis.decide(std::span(&b, 1), false, epoch_2026 + sec).admitted);
  const decide_outcome full = redis.decide(std::span(&c, 1), false, epoch_2026 + 2 * sec);
  EXPECT_FALSE(full.admitted);
  EXPECT_EQ(full.decisions[0].retry_after, limit::concurrency::retry_after);
  EXPECT_EQ(redis.snapshot("lease"), "zset:gw:a," + std::to_string(epoch_2026 + 30 * sec) +
                                         ",gw:b," + std::to_string(epoch_2026 + 31 * sec) + ",");
  const long long ttl = redis.pttl("lease");
  EXPECT_GT(ttl, 29'000);
  EXPECT_LE(ttl, 31'000);
  // gw:a never comes back (its gateway died): its slot is free once its lease ended, and
  // the next acquisition drops it.
  EXPECT_FALSE(redis.decide(std::span(&c, 1), false, epoch_2026 + 30 * sec - 1).admitted);
  EXPECT_TRUE(redis.decide(std::span(&c, 1), false, epoch_2026 + 30 * sec).admitted);
  EXPECT_EQ(redis.snapshot("lease"), "zset:gw:b," + std::to_string(epoch_2026 + 31 * sec) +
                                         ",gw:c," + std::to_string(epoch_2026 + 60 * sec) + ",");
}

TEST_P(RedisConcurrency, ReleaseGivesTheSlotBackOnce) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params one = limit_params::make(algorithm::concurrency, 1, 30 * sec, 0);
  const script_limit a = slot_of("one", one, "gw:a");
  const script_limit b = slot_of("one", one, "gw:b");
  EXPECT_TRUE(redis.decide(std::span(&a, 1), false, epoch_2026).admitted);
  EXPECT_FALSE(redis.decide(std::span(&b, 1), false, epoch_2026).admitted);
  EXPECT_EQ(release(redis, "one", one, "gw:a", epoch_2026), 1);
  EXPECT_EQ(release(redis, "one", one, "gw:a", epoch_2026), 0) << "nothing left to give back";
  EXPECT_EQ(release(redis, "one", one, "gw:b", epoch_2026), 0) << "b never held a slot";
  EXPECT_TRUE(redis.decide(std::span(&b, 1), false, epoch_2026).admitted);
}

TEST_P(RedisConcurrency, ADeniedRequestHoldsNoSlot) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params fw = limit_params::make(algorithm::fixed_window, 1, hour, 0);
  const script_limit first[] = {slot_of("slots", four, "gw:1"), {"window", &fw, 1, false}};
  EXPECT_TRUE(redis.decide(first, false, epoch_2026).admitted);
  const script_limit second[] = {slot_of("slots", four, "gw:2"), {"window", &fw, 1, false}};
  const decide_outcome denied = redis.decide(second, false, epoch_2026);
  EXPECT_FALSE(denied.admitted);
  EXPECT_TRUE(denied.decisions[0].allowed) << "the slot was free; the window denied";
  EXPECT_EQ(redis.snapshot("slots"), "zset:gw:1," + std::to_string(epoch_2026 + hour) + ",");
}

TEST_P(RedisConcurrency, PeekIsReadOnly) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const script_limit a = slot_of("peeked", four, "gw:a");
  EXPECT_TRUE(redis.decide(std::span(&a, 1), false, epoch_2026).admitted);
  const decide_outcome peek = redis.decide(std::span(&a, 1), true, epoch_2026 + 1);
  EXPECT_TRUE(peek.decisions[0].allowed);
  EXPECT_EQ(peek.decisions[0].remaining, 3);
  EXPECT_EQ(redis.snapshot("peeked"), "zset:gw:a," + std::to_string(epoch_2026 + hour) + ",");
}

TEST_P(RedisConcurrency, ConcurrentConnectionsHoldExactlyMax) {
  const decide_via via = GetParam();
  redis_server server;
  const limit_params ten = limit_params::make(algorithm::concurrency, 10, hour, 0);
  constexpr int threads = 64;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      try {
        decide_runner redis(server, via);  // its own connection
        const std::string id = "gw:" + std::to_string(i);
        const script_limit l = slot_of("race", ten, id);
        admitted += redis.decide(std::span(&l, 1)).admitted;
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), 10);
  EXPECT_EQ(decide_runner(server, via).run({"ZCARD", "race"}).integer, 10);
}

TEST_P(RedisConcurrency, MalformedLeaseIdsAreAnErrorReply) {
  redis_server server;
  decide_runner redis(server, GetParam());
  for (const std::string& bad : {std::string("has space"), std::string(65, 'x'), std::string()}) {
    const script_limit l = slot_of("bad", four, bad);
    const auto r = redis.run(redis.command(std::span(&l, 1), false, epoch_2026));
    EXPECT_EQ(r.type, REDIS_REPLY_ERROR) << bad;
    EXPECT_NE(r.text.find("malformed cost"), std::string::npos) << r.text;
  }
  EXPECT_EQ(redis.snapshot("bad"), "");
}

}  // namespace
}  // namespace sluice::redis::test
