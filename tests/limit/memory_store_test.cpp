// memory_store: all-or-nothing decisions, each algorithm through the store, expiry,
// bounded memory and eviction. Time is a fake clock; nothing sleeps.
#include "limit/memory_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "limit/algorithms/bucket.hpp"
#include "limit/algorithms/concurrency.hpp"
#include "limit/algorithms/fixed_window.hpp"
#include "limit/algorithms/sliding_log.hpp"
#include "limit/algorithms/sliding_window.hpp"

// Sanitizer and debug builds run ~20x slower: the flood test scales itself down there.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLUICE_SLOW_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(NDEBUG)
#define SLUICE_SLOW_BUILD 1
#endif

namespace sluice::limit {
namespace {

constexpr micros t0 = micros{1'700'000'000} * micros_per_second;
constexpr micros second = micros_per_second;
constexpr micros minute = 60 * micros_per_second;

std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t key(std::uint64_t i) {
  return splitmix64(i);
}

decision decide_one(memory_store& store, std::uint64_t k, const limit_params& p, micros now,
                    std::int64_t cost = 1, bool* admitted = nullptr) {
  const check c{k, &p, cost, false};
  decision d;
  const bool ok = store.decide(std::span(&c, 1), now, std::span(&d, 1));
  if (admitted != nullptr) *admitted = ok;
  EXPECT_EQ(ok, d.allowed);
  return d;
}

int admit_count(memory_store& store, std::uint64_t k, const limit_params& p, micros now,
                int attempts) {
  int admitted = 0;
  for (int i = 0; i < attempts; ++i) admitted += decide_one(store, k, p, now).allowed ? 1 : 0;
  return admitted;
}

// Resident set size of this process, from /proc/self/statm.
std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// ---- all-or-nothing ----

TEST(MemoryStore, DeniedSecondLimitChargesNeitherLimit) {
  memory_store store(1000);
  const auto loose = limit_params::make(algorithm::token_bucket, 1, minute, 10);
  const auto tight = limit_params::make(algorithm::token_bucket, 1, minute, 1);
  const check checks[] = {{key(1), &loose, 1, false}, {key(2), &tight, 1, false}};
  decision out[2];

  ASSERT_TRUE(store.decide(checks, t0, out));
  EXPECT_EQ(store.peek(key(1), loose, t0).remaining, 9);

  EXPECT_FALSE(store.decide(checks, t0, out));
  EXPECT_TRUE(out[0].allowed);  // would have passed on its own...
  EXPECT_FALSE(out[1].allowed);
  EXPECT_EQ(store.peek(key(1), loose, t0).remaining, 9);  // ...but was not charged
  EXPECT_EQ(store.peek(key(2), tight, t0).remaining, 0);
}

TEST(MemoryStore, ShadowDenialDoesNotDenyAndIsNotCharged) {
  memory_store store(1000);
  const auto enforced = limit_params::make(algorithm::fixed_window, 100, minute, 0);
  const auto shadow = limit_params::make(algorithm::fixed_window, 1, minute, 0);
  const check checks[] = {{key(1), &enforced, 1, false}, {key(2), &shadow, 1, true}};
  decision out[2];

  ASSERT_TRUE(store.decide(checks, t0, out));
  EXPECT_TRUE(out[1].allowed);
  EXPECT_EQ(store.peek(key(2), shadow, t0).remaining, 0);  // shadow allowed: charged

  ASSERT_TRUE(store.decide(checks, t0, out));  // shadow denies, request still passes
  EXPECT_TRUE(out[0].allowed);
  EXPECT_FALSE(out[1].allowed);
  EXPECT_EQ(store.peek(key(1), enforced, t0).remaining, 98);  // enforced charged twice
  EXPECT_EQ(store.peek(key(2), shadow, t0).remaining, 0);
}

TEST(MemoryStore, SingleShadowCheckNeverDenies) {
  memory_store store(1000);
  const auto p = limit_params::make(algorithm::sliding_log, 1, minute, 0);
  const check c{key(7), &p, 1, true};
  decision d;
  EXPECT_TRUE(store.decide(std::span(&c, 1), t0, std::span(&d, 1)));
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(store.decide(std::span(&c, 1), t0, std::span(&d, 1)));
  EXPECT_FALSE(d.allowed);
}

TEST(MemoryStore, EnforcedDenialChargesNoShadowEither) {
  memory_store store(1000);
  const auto shadow = limit_params::make(algorithm::token_bucket, 1, minute, 5);
  const auto tight = limit_params::make(algorithm::token_bucket, 1, minute, 1);
  const check checks[] = {{key(1), &shadow, 1, true}, {key(2), &tight, 1, false}};
  decision out[2];
  ASSERT_TRUE(store.decide(checks, t0, out));
  ASSERT_FALSE(store.decide(checks, t0, out));
  EXPECT_TRUE(out[0].allowed);
  EXPECT_EQ(store.peek(key(1), shadow, t0).remaining, 4);
}

TEST(MemoryStore, DecisionsComeBackInCheckOrder) {
  memory_store store(1000);
  const auto a = limit_params::make(algorithm::token_bucket, 1, second, 3);
  const auto b = limit_params::make(algorithm::fixed_window, 7, minute, 0);
  const auto c = limit_params::make(algorithm::sliding_window, 11, minute, 0);
  const auto d = limit_params::make(algorithm::sliding_log, 13, minute, 0);
  const check checks[] = {{key(1), &a, 1, false},
                          {key(2), &b, 2, false},
                          {key(3), &c, 3, true},
                          {key(4), &d, 4, false}};
  decision out[4];
  ASSERT_TRUE(store.decide(checks, t0, out));
  EXPECT_EQ(out[0].limit, 3);
  EXPECT_EQ(out[0].remaining, 2);
  EXPECT_EQ(out[1].limit, 7);
  EXPECT_EQ(out[1].remaining, 5);
  EXPECT_EQ(out[2].limit, 11);
  EXPECT_EQ(out[2].remaining, 8);
  EXPECT_EQ(out[3].limit, 13);
  EXPECT_EQ(out[3].remaining, 9);
}

TEST(MemoryStore, EmptyDecisionAdmits) {
  memory_store store(10);
  EXPECT_TRUE(store.decide({}, t0, {}));
  EXPECT_EQ(store.size(), 0u);
}

TEST(MemoryStore, ManyChecksInOneDecision) {
  // More checks than the store keeps on its stack, over several shards.
  memory_store store(100'000);
  const auto p = limit_params::make(algorithm::fixed_window, 2, minute, 0);
  std::vector<check> checks;
  for (int i = 0; i < 40; ++i) checks.push_back(check{key(100 + i), &p, 1, false});
  std::vector<decision> out(checks.size());
  EXPECT_TRUE(store.decide(checks, t0, out));
  EXPECT_TRUE(store.decide(checks, t0, out));
  EXPECT_FALSE(store.decide(checks, t0, out));
  EXPECT_EQ(store.size(), 40u);
  for (const check& c : checks) EXPECT_EQ(store.peek(c.key_hash, p, t0).remaining, 0);
}

// ---- each algorithm through the store, against the pure algorithm ----

// The pure algorithm applied to its own state, as the store should apply it.
class reference_model {
 public:
  explicit reference_model(const limit_params& p) : p_(p) {}

  decision apply(std::uint64_t k, micros now, std::int64_t cost) {
    entry& e = entries_[k];
    switch (p_.algo) {
      case algorithm::token_bucket:
      case algorithm::leaky_bucket: {
        auto r = bucket::evaluate(p_, e.bucket, now, cost);
        if (r.verdict.allowed) e.bucket = r.next;
        return r.verdict;
      }
      case algorithm::fixed_window: {
        auto r = fixed_window::evaluate(p_, e.fixed, now, cost);
        if (r.verdict.allowed) e.fixed = r.next;
        return r.verdict;
      }
      case algorithm::sliding_window: {
        auto r = sliding_window::evaluate(p_, e.sliding, now, cost);
        if (r.verdict.allowed) e.sliding = r.next;
        return r.verdict;
      }
      case algorithm::sliding_log: {
        if (!e.log) e.log = std::make_unique<sliding_log::log>(p_.count);
        auto r = sliding_log::evaluate(p_, *e.log, now, cost);
        if (r.verdict.allowed) sliding_log::commit(p_, *e.log, now, cost);
        return r.verdict;
      }
      case algorithm::concurrency: {
        auto r = concurrency::evaluate(p_, e.held, now, cost);
        if (r.verdict.allowed) e.held = r.next;
        return r.verdict;
      }
    }
    return {};
  }

  // A concurrency limit's slot going back.
  void release(std::uint64_t k, micros now) {
    entry& e = entries_[k];
    e.held = concurrency::release(p_, e.held, now).next;
  }

 private:
  struct entry {
    bucket::state bucket;
    fixed_window::state fixed;
    sliding_window::state sliding;
    std::unique_ptr<sliding_log::log> log;
    concurrency::state held;
  };
  limit_params p_;
  std::map<std::uint64_t, entry> entries_;
};

struct algorithm_case {
  std::string name;
  limit_params params;
};

class MemoryStoreAlgorithm : public testing::TestWithParam<algorithm_case> {};

TEST_P(MemoryStoreAlgorithm, MatchesThePureAlgorithmOverManyRequests) {
  const limit_params& p = GetParam().params;
  memory_store store(10'000);
  reference_model model(p);
  std::mt19937_64 rng(12345);
  micros now = t0;
  int allowed = 0, denied = 0;
  for (int i = 0; i < 20'000; ++i) {
    now += static_cast<micros>(rng() % (p.period / 40 + 1));
    const std::uint64_t k = key(rng() % 5);
    const auto cost = static_cast<std::int64_t>(rng() % 3);  // 0, 1 or 2
    const decision expected = model.apply(k, now, cost);
    const decision got = decide_one(store, k, p, now, cost);
    ASSERT_EQ(got, expected) << "request " << i << " at +" << (now - t0) << " us, cost " << cost;
    (got.allowed ? allowed : denied)++;
  }
  // The sequence exercised both outcomes.
  EXPECT_GT(allowed, 1000);
  EXPECT_GT(denied, 1000);
}

TEST_P(MemoryStoreAlgorithm, StatePersistsUntilItExpires) {
  const limit_params& p = GetParam().params;
  memory_store store(100);
  const int attempts = static_cast<int>(p.capacity()) + 10;
  // Capacity, plus what shaping may hold back (leaky_bucket with a delay).
  reference_model model(p);
  int expected = 0;
  for (int i = 0; i < attempts; ++i) expected += model.apply(key(1), t0, 1).allowed ? 1 : 0;
  EXPECT_GE(expected, p.capacity());
  EXPECT_EQ(admit_count(store, key(1), p, t0, attempts), expected);
  EXPECT_FALSE(decide_one(store, key(1), p, t0).allowed);
  EXPECT_TRUE(decide_one(store, key(2), p, t0).allowed);  // another key is untouched
  EXPECT_EQ(store.size(), 2u);
  // Long after every algorithm's horizon the key is as good as fresh.
  const micros later = t0 + (10 + p.capacity()) * p.period + p.max_delay;
  EXPECT_EQ(store.sweep(later), 0u);
  EXPECT_EQ(admit_count(store, key(1), p, later, attempts), expected);
}

TEST_P(MemoryStoreAlgorithm, PeekChargesNothing) {
  const limit_params& p = GetParam().params;
  memory_store store(100);
  decide_one(store, key(1), p, t0);
  const decision before = store.peek(key(1), p, t0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(store.peek(key(1), p, t0), before);
  EXPECT_EQ(before.remaining, p.capacity() - 1);
  EXPECT_EQ(store.peek(key(9), p, t0).remaining, p.capacity());  // untracked: fresh
  EXPECT_EQ(store.size(), 1u);
}

TEST_P(MemoryStoreAlgorithm, CostLargerThanTheLimitIsDeniedAndStoresNothing) {
  const limit_params& p = GetParam().params;
  memory_store store(100);
  const decision d = decide_one(store, key(1), p, t0, p.capacity() + 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.cost_exceeds_limit);
  EXPECT_EQ(store.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    MemoryStore, MemoryStoreAlgorithm,
    testing::Values(
        algorithm_case{"token_bucket", limit_params::make(algorithm::token_bucket, 7, second, 5)},
        algorithm_case{"leaky_bucket", limit_params::make(algorithm::leaky_bucket, 3, second, 4)},
        algorithm_case{"leaky_bucket_delay",
                       limit_params::make(algorithm::leaky_bucket, 3, second, 4, second)},
        algorithm_case{"fixed_window", limit_params::make(algorithm::fixed_window, 5, second, 0)},
        algorithm_case{"sliding_window",
                       limit_params::make(algorithm::sliding_window, 6, second, 0)},
        algorithm_case{"sliding_log", limit_params::make(algorithm::sliding_log, 4, second, 0)},
        algorithm_case{"concurrency", limit_params::make(algorithm::concurrency, 5, second, 0)}),
    [](const testing::TestParamInfo<algorithm_case>& info) { return info.param.name; });

// A concurrency limit's slots come back with release(), against the pure algorithm, while
// requests and releases interleave on a few keys.
TEST(MemoryStore, ConcurrencySlotsGoBackOnRelease) {
  const auto p = limit_params::make(algorithm::concurrency, 3, 10 * second, 0);
  memory_store store(1000);
  reference_model model(p);
  std::mt19937_64 rng(7);
  std::map<std::uint64_t, int> held;  // slots this test took and has not given back
  micros now = t0;
  int allowed = 0, denied = 0, released = 0;
  for (int i = 0; i < 20'000; ++i) {
    now += static_cast<micros>(rng() % 2000);
    const std::uint64_t k = key(rng() % 4);
    if (rng() % 2 == 0 && held[k] > 0) {
      model.release(k, now);
      EXPECT_TRUE(store.release(k, p, now));
      --held[k];
      ++released;
      continue;
    }
    const decision expected = model.apply(k, now, 1);
    const decision got = decide_one(store, k, p, now, 1);
    ASSERT_EQ(got, expected) << "request " << i;
    if (got.allowed) ++held[k];
    (got.allowed ? allowed : denied)++;
  }
  EXPECT_GT(allowed, 1000);
  EXPECT_GT(denied, 1000);
  EXPECT_GT(released, 1000);
}

TEST(MemoryStore, ConcurrencyKeyIsFreshOnceEverySlotIsBack) {
  const auto p = limit_params::make(algorithm::concurrency, 2, 10 * second, 0);
  memory_store store(100);
  EXPECT_TRUE(decide_one(store, key(1), p, t0).allowed);
  EXPECT_TRUE(decide_one(store, key(1), p, t0).allowed);
  const decision full = decide_one(store, key(1), p, t0);
  EXPECT_FALSE(full.allowed);
  EXPECT_EQ(full.remaining, 0);
  EXPECT_EQ(full.retry_after, second);
  EXPECT_TRUE(store.release(key(1), p, t0 + 1));
  EXPECT_EQ(store.peek(key(1), p, t0 + 1).remaining, 1);
  EXPECT_TRUE(store.release(key(1), p, t0 + 2));
  EXPECT_EQ(store.size(), 0u);                     // nothing held: the slot is free for other keys
  EXPECT_FALSE(store.release(key(1), p, t0 + 3));  // nothing left to give back
  EXPECT_EQ(store.peek(key(1), p, t0 + 3).remaining, 2);
}

TEST(MemoryStore, ConcurrencySlotsNeverReleasedAreGivenUpAfterTheLease) {
  const auto p = limit_params::make(algorithm::concurrency, 1, 10 * second, 0);
  memory_store store(100);
  EXPECT_TRUE(decide_one(store, key(1), p, t0).allowed);
  EXPECT_FALSE(decide_one(store, key(1), p, t0 + 10 * second - 1).allowed);
  EXPECT_TRUE(decide_one(store, key(1), p, t0 + 10 * second).allowed);  // the lease ended
}

TEST(MemoryStore, LeakyBucketDelayComesThroughTheStore) {
  memory_store store(100);
  const auto p = limit_params::make(algorithm::leaky_bucket, 1, second, 1, 3 * second);
  EXPECT_EQ(decide_one(store, key(1), p, t0).delay, 0);
  const decision held = decide_one(store, key(1), p, t0);
  EXPECT_TRUE(held.allowed);
  EXPECT_EQ(held.delay, second);
}

// ---- reset, expiry and sweep ----

TEST(MemoryStore, ResetForgetsOneKey) {
  memory_store store(100);
  const auto p = limit_params::make(algorithm::fixed_window, 1, minute, 0);
  decide_one(store, key(1), p, t0);
  decide_one(store, key(2), p, t0);
  EXPECT_FALSE(decide_one(store, key(1), p, t0).allowed);
  EXPECT_TRUE(store.reset(key(1)));
  EXPECT_FALSE(store.reset(key(1)));
  EXPECT_FALSE(store.reset(key(3)));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(decide_one(store, key(1), p, t0).allowed);
  EXPECT_FALSE(decide_one(store, key(2), p, t0).allowed);
}

TEST(MemoryStore, SweepReclaimsIdleKeysAndKeepsLiveOnes) {
  memory_store store(10'000);
  const auto p = limit_params::make(algorithm::token_bucket, 1, second, 10);  // refill 10 s
  for (int i = 0; i < 1000; ++i) decide_one(store, key(i), p, t0);            // expires at t0 + 1 s
  for (int i = 0; i < 5; ++i) decide_one(store, key(5000), p, t0);            // expires at t0 + 5 s
  EXPECT_EQ(store.size(), 1001u);
  EXPECT_EQ(store.sweep(t0 + second - 1), 1001u);
  EXPECT_EQ(store.sweep(t0 + second), 1u);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.peek(key(5000), p, t0 + second).remaining, 6);
  EXPECT_EQ(store.sweep(t0 + 5 * second), 0u);
}

TEST(MemoryStore, ReclaimedKeyBehavesLikeAFreshOne) {
  const auto p = limit_params::make(algorithm::sliding_window, 10, minute, 0);
  memory_store store(100);
  memory_store fresh(100);
  for (int i = 0; i < 10; ++i) decide_one(store, key(1), p, t0 + i * second);
  const micros later = t0 + 3 * minute;
  EXPECT_EQ(store.sweep(later), 0u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(decide_one(store, key(1), p, later + i), decide_one(fresh, key(1), p, later + i));
  }
}

TEST(MemoryStore, ZeroCostOnAFreshBucketStoresNothing) {
  memory_store store(100);
  const auto p = limit_params::make(algorithm::token_bucket, 1, second, 5);
  EXPECT_TRUE(decide_one(store, key(1), p, t0, 0).allowed);
  EXPECT_EQ(store.size(), 0u);
}

TEST(MemoryStore, KeyUsedUnderAnotherAlgorithmStartsFresh) {
  // A limit whose algorithm changed at reload but whose key hash did not.
  memory_store store(100);
  const auto log = limit_params::make(algorithm::sliding_log, 2, minute, 0);
  const auto bucket = limit_params::make(algorithm::token_bucket, 1, minute, 3);
  EXPECT_EQ(admit_count(store, key(1), log, t0, 5), 2);
  EXPECT_EQ(store.peek(key(1), bucket, t0).remaining, 3);
  EXPECT_EQ(admit_count(store, key(1), bucket, t0, 5), 3);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.peek(key(1), log, t0).remaining, 2);  // the log was replaced
  EXPECT_EQ(admit_count(store, key(1), log, t0, 5), 2);
  EXPECT_EQ(store.size(), 1u);
}

TEST(MemoryStore, SlidingLogMemoryIsFreedOnEveryPath) {
  // Eviction, reset, sweep, replacement and the destructor each free a log (the ASan
  // build checks for leaks); allocated_bytes() follows.
  memory_store store(64);
  const std::uint64_t table_only = store.allocated_bytes();
  const auto p = limit_params::make(algorithm::sliding_log, 50, second, 0);
  micros now = t0;
  for (int i = 0; i < 5000; ++i) decide_one(store, key(i % 300), p, now += 1000);
  EXPECT_LE(store.size(), 64u);
  EXPECT_GT(store.allocated_bytes(), table_only);
  EXPECT_TRUE(store.reset(key(4999 % 300)));
  EXPECT_EQ(store.sweep(now + 2 * second), 0u);
  EXPECT_EQ(store.allocated_bytes(), table_only);
  for (int i = 0; i < 64; ++i) decide_one(store, key(i), p, now);  // left to the destructor
  EXPECT_GT(store.allocated_bytes(), table_only);
}

// ---- bounded memory and eviction ----

TEST(MemoryStore, TableCostsAtMost64BytesPerKey) {
  for (std::uint64_t max_keys : {10'000ull, 100'000ull, 1'000'000ull, 10'000'000ull}) {
    memory_store store(max_keys);
    EXPECT_EQ(store.max_keys(), max_keys);
    EXPECT_LE(store.allocated_bytes(), 64 * max_keys) << max_keys;
    EXPECT_GE(store.allocated_bytes(), 50 * max_keys) << max_keys;  // room for every key
  }
}

TEST(MemoryStore, IdleStoreTouchesNoTableMemory) {
  const std::uint64_t before = rss_bytes();
  auto store = std::make_unique<memory_store>(10'000'000);  // a 600 MB table
  const auto p = limit_params::make(algorithm::token_bucket, 1, second, 5);
  for (int i = 0; i < 100; ++i) decide_one(*store, key(i), p, t0);
  store->sweep(t0);
  const std::uint64_t after = rss_bytes();
  EXPECT_LT(after - std::min(after, before), std::uint64_t{8} << 20);
}

TEST(MemoryStore, NeverTracksMoreThanMaxKeys) {
  for (unsigned shards : {0u, 1u, 16u}) {
    memory_store store(5000, shards);
    const auto p = limit_params::make(algorithm::fixed_window, 10, minute, 0);
    for (int i = 0; i < 50'000; ++i) {
      decide_one(store, key(i), p, t0 + i);
      if (i % 1000 == 0) {
        ASSERT_LE(store.size(), 5000u);
      }
    }
    EXPECT_LE(store.size(), 5000u);
    EXPECT_GE(store.size(), 4500u);  // and uses most of its budget
  }
}

TEST(MemoryStore, EvictsExpiredStateFirst) {
  // max_keys 4 is one shard with one set of 8 slots and a budget of 4.
  memory_store store(4);
  const auto p = limit_params::make(algorithm::token_bucket, 1, minute, 10);
  EXPECT_EQ(admit_count(store, key(1), p, t0, 12), 10);  // over its limit for 10 minutes
  decide_one(store, key(2), p, t0);                      // fresh again at t0 + 1 min
  decide_one(store, key(3), p, t0 + 30 * second);
  decide_one(store, key(4), p, t0 + 2 * minute);
  ASSERT_EQ(store.size(), 4u);
  // At t0 + 2 min keys 2 and 3 have expired: the newcomer takes the one expired first.
  decide_one(store, key(5), p, t0 + 2 * minute);
  EXPECT_EQ(store.size(), 4u);
  EXPECT_FALSE(store.reset(key(2)));
  EXPECT_TRUE(store.reset(key(3)));
  // Key 1 kept its debt: 2 tokens refilled in 2 minutes, not a fresh 10.
  EXPECT_EQ(store.peek(key(1), p, t0 + 2 * minute).remaining, 2);
}

TEST(MemoryStore, NewcomerIsNotStoredWhenEveryCandidateOutlivesIt) {
  memory_store store(4);
  const auto p = limit_params::make(algorithm::token_bucket, 1, minute, 10);
  for (int k = 1; k <= 4; ++k) EXPECT_EQ(admit_count(store, key(k), p, t0, 11), 10);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(decide_one(store, key(100 + i), p, t0 + i * 1000).allowed);
  }
  EXPECT_EQ(store.size(), 4u);
  for (int k = 1; k <= 4; ++k) EXPECT_FALSE(decide_one(store, key(k), p, t0 + second).allowed);
}

TEST(MemoryStore, ChecksSharingOneSetAreAllCharged) {
  // One set, budget 4, three keys present: a decision adding three more keys must
  // evict only strangers, never a key it has just written.
  memory_store store(4);
  const auto p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  for (int k = 1; k <= 3; ++k) decide_one(store, key(k), p, t0);
  const check checks[] = {
      {key(10), &p, 1, false}, {key(11), &p, 2, false}, {key(12), &p, 3, false}};
  decision out[3];
  ASSERT_TRUE(store.decide(checks, t0 + minute, out));
  EXPECT_EQ(store.size(), 4u);
  // The expired keys 1-3 made room; each key of the decision is stored and charged.
  EXPECT_EQ(store.peek(key(10), p, t0 + minute).remaining, 4);
  EXPECT_EQ(store.peek(key(11), p, t0 + minute).remaining, 3);
  EXPECT_EQ(store.peek(key(12), p, t0 + minute).remaining, 2);
}

TEST(MemoryStore, SameKeyTwiceInOneDecision) {
  memory_store store(100);
  const auto p = limit_params::make(algorithm::sliding_log, 3, minute, 0);
  const check checks[] = {{key(1), &p, 1, false}, {key(1), &p, 1, false}};
  decision out[2];
  EXPECT_TRUE(store.decide(checks, t0, out));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.peek(key(1), p, t0).remaining, 1);  // both were charged
}

// A client over its limit stays limited while a flood of distinct keys (spoofed
// identities, a scan) churns through a store far smaller than the flood.
TEST(MemoryStoreFlood, OverLimitClientSurvivesFloodOfDistinctKeys) {
  constexpr std::uint64_t max_keys = 100'000;
#ifdef SLUICE_SLOW_BUILD
  std::uint64_t flood = 1'000'000;  // sanitizer and debug builds are ~20x slower
#else
  std::uint64_t flood = 5'000'000;
#endif
  if (const char* env = std::getenv("SLUICE_FLOOD_KEYS")) flood = std::strtoull(env, nullptr, 10);

  const std::uint64_t rss_before = rss_bytes();
  memory_store store(max_keys);
  const auto p = limit_params::make(algorithm::token_bucket, 1, minute, 10);
  const std::uint64_t client = key(~0ull);
  EXPECT_EQ(admit_count(store, client, p, t0, 11), 10);

  micros now = t0;
  std::uint64_t admitted = 0;
  for (std::uint64_t i = 0; i < flood; ++i) {
    if (i % 5 == 0) ++now;  // 5 decisions per microsecond of fake time
    admitted += decide_one(store, key(i), p, now).allowed ? 1 : 0;
    if (i % 65'536 == 0) {
      ASSERT_LE(store.size(), max_keys) << "after " << i;
    }
  }
  EXPECT_EQ(admitted, flood);
  EXPECT_LE(store.size(), max_keys);
  EXPECT_GE(store.size(), max_keys * 9 / 10);
  EXPECT_LE(store.allocated_bytes(), 64 * max_keys);
  EXPECT_LT(rss_bytes() - std::min(rss_bytes(), rss_before), std::uint64_t{64} << 20);

  const decision d = decide_one(store, client, p, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
}

}  // namespace
}  // namespace sluice::limit
