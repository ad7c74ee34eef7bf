// memory_store under concurrent use: decisions on one key are serialized (exact counts),
// decisions on distinct keys are independent, and decide/peek/sweep/reset racing each
// other is data-race free (CI runs *Concurrency* under ThreadSanitizer).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "limit/memory_store.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = micros{1'700'000'000} * micros_per_second;
constexpr micros hour = 3600 * micros_per_second;
constexpr int threads = 8;

std::uint64_t key(std::uint64_t i) {
  std::uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Runs `body(thread_index)` on `threads` threads released together.
template <class F>
void run_together(F body) {
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      body(t);
    });
  }
  for (auto& th : pool) th.join();
}

// Every thread tries `attempts` decisions of `checks` at a frozen time; returns the
// total admitted.
int hammer(memory_store& store, std::span<const check> checks, int attempts) {
  std::atomic<int> admitted{0};
  run_together([&](int) {
    std::vector<decision> out(checks.size());
    int mine = 0;
    for (int i = 0; i < attempts; ++i) mine += store.decide(checks, t0, out) ? 1 : 0;
    admitted += mine;
  });
  return admitted.load();
}

// A concurrency limit taken and given back from every thread at once: never more than
// max held (each thread counts what it holds), and every slot back at the end.
TEST(MemoryStoreConcurrency, InFlightSlotsNeverExceedMaxWhileTakenAndReleased) {
  memory_store store(10'000);
  const auto p = limit_params::make(algorithm::concurrency, 3, hour, 0);
  const check c{key(7), &p, 1, false};
  std::atomic<int> holding{0}, most{0}, admitted{0};
  run_together([&](int) {
    decision d;
    for (int i = 0; i < 2000; ++i) {
      if (!store.decide(std::span(&c, 1), t0, std::span(&d, 1))) continue;
      const int now_held = ++holding;
      int seen = most.load();
      while (now_held > seen && !most.compare_exchange_weak(seen, now_held)) {
      }
      ++admitted;
      --holding;  // before the release: a slot is never counted free while still held
      store.release(key(7), p, t0);
    }
  });
  EXPECT_LE(most.load(), 3);
  EXPECT_GT(admitted.load(), 2000);
  EXPECT_EQ(store.peek(key(7), p, t0).remaining, 3);
  EXPECT_EQ(store.size(), 0u);
}

TEST(MemoryStoreConcurrency, FixedWindowOnOneKeyAdmitsExactlyTheLimit) {
  memory_store store(10'000);
  const auto p = limit_params::make(algorithm::fixed_window, 1000, hour, 0);
  const check c{key(1), &p, 1, false};
  EXPECT_EQ(hammer(store, std::span(&c, 1), 400), 1000);
  EXPECT_EQ(store.peek(key(1), p, t0).remaining, 0);
}

TEST(MemoryStoreConcurrency, TokenBucketOnOneKeyAdmitsExactlyTheBurst) {
  memory_store store(10'000);
  const auto p = limit_params::make(algorithm::token_bucket, 1, hour, 1000);  // no refill
  const check c{key(1), &p, 1, false};
  EXPECT_EQ(hammer(store, std::span(&c, 1), 400), 1000);
}

TEST(MemoryStoreConcurrency, SlidingLogOnOneKeyAdmitsExactlyTheLimit) {
  memory_store store(10'000);
  const auto p = limit_params::make(algorithm::sliding_log, 1000, hour, 0);
  const check c{key(1), &p, 1, false};
  EXPECT_EQ(hammer(store, std::span(&c, 1), 400), 1000);
}

TEST(MemoryStoreConcurrency, MultiLimitDecisionAdmitsExactlyTheTightestLimit) {
  // Three limits on keys in different shards; the bucket runs out first, and every
  // admitted request charged all three exactly once.
  memory_store store(100'000);
  const auto window = limit_params::make(algorithm::fixed_window, 1000, hour, 0);
  const auto bucket = limit_params::make(algorithm::token_bucket, 1, hour, 700);
  const auto sliding = limit_params::make(algorithm::sliding_window, 5000, hour, 0);
  const check checks[] = {
      {key(1), &window, 1, false}, {key(2), &bucket, 1, false}, {key(3), &sliding, 2, false}};
  EXPECT_EQ(hammer(store, checks, 400), 700);
  EXPECT_EQ(store.peek(key(1), window, t0).remaining, 300);
  EXPECT_EQ(store.peek(key(2), bucket, t0).remaining, 0);
  EXPECT_EQ(store.peek(key(3), sliding, t0).remaining, 5000 - 1400);
}

TEST(MemoryStoreConcurrency, DistinctKeysDoNotInterfere) {
  memory_store store(100'000);
  const auto p = limit_params::make(algorithm::fixed_window, 100, hour, 0);
  std::vector<int> admitted(threads);
  run_together([&](int t) {
    decision d;
    for (int i = 0; i < 300; ++i) {
      for (int k = 0; k < 4; ++k) {
        const check c{key(1000 * t + k), &p, 1, false};
        admitted[t] += store.decide(std::span(&c, 1), t0, std::span(&d, 1)) ? 1 : 0;
      }
    }
  });
  for (int t = 0; t < threads; ++t) EXPECT_EQ(admitted[t], 400) << "thread " << t;
  EXPECT_EQ(store.size(), 4u * threads);
}

TEST(MemoryStoreConcurrency, OppositeShardOrdersDoNotDeadlock) {
  // Half the threads list the keys in one order, half in the other: the store locks
  // shards in its own order, so this finishes.
  memory_store store(100'000);
  const auto p = limit_params::make(algorithm::token_bucket, 1000, micros_per_second, 1000);
  run_together([&](int t) {
    decision out[4];
    for (int i = 0; i < 2000; ++i) {
      check checks[4];
      for (int k = 0; k < 4; ++k) {
        const int which = t % 2 == 0 ? k : 3 - k;
        checks[k] = check{key(50 + which + (i % 16) * 4), &p, 1, false};
      }
      store.decide(checks, t0 + i, out);
    }
  });
  EXPECT_LE(store.size(), 64u);
}

TEST(MemoryStoreConcurrency, DecideSweepResetAndPeekRaceSafely) {
  // A small store under churn: deciders on overlapping keys of every algorithm,
  // one sweeper, one resetter, one reader. Checked by TSan/ASan; the invariants hold.
  constexpr std::uint64_t max_keys = 512;
  memory_store store(max_keys);
  const limit_params params[] = {
      limit_params::make(algorithm::token_bucket, 10, micros_per_second, 5),
      limit_params::make(algorithm::leaky_bucket, 10, micros_per_second, 5),
      limit_params::make(algorithm::fixed_window, 5, micros_per_second, 0),
      limit_params::make(algorithm::sliding_window, 5, micros_per_second, 0),
      limit_params::make(algorithm::sliding_log, 5, micros_per_second, 0),
  };
  std::atomic<micros> clock{t0};
  std::atomic<bool> stop{false};
  std::atomic<bool> over_budget{false};
  run_together([&](int t) {
    std::uint64_t x = static_cast<std::uint64_t>(t) * 7919;
    auto next = [&] { return x = key(x); };
    if (t == 0) {  // sweeper
      while (!stop.load()) {
        if (store.sweep(clock.load()) > max_keys) over_budget = true;
        std::this_thread::yield();
      }
      return;
    }
    if (t == 1) {  // resetter and reader
      while (!stop.load()) {
        const std::uint64_t k = key(next() % 2000);
        store.reset(k);
        store.peek(k, params[next() % 5], clock.load());
        if (store.size() > max_keys) over_budget = true;
      }
      return;
    }
    decision out[3];
    for (int i = 0; i < 20'000; ++i) {
      const micros now = clock.fetch_add(50);
      check checks[3];
      const std::size_t n = 1 + next() % 3;
      for (std::size_t c = 0; c < n; ++c) {
        // A key keeps one algorithm, as real limits do; a few keys cross algorithms.
        const std::uint64_t id = next() % 2000;
        const limit_params& p = params[(id + (i % 97 == 0 ? 1 : 0)) % 5];
        checks[c] = check{key(id), &p, static_cast<std::int64_t>(next() % 3), c == 2};
      }
      store.decide(std::span(checks, n), now, std::span(out, n));
    }
    if (t == threads - 1) stop = true;
  });
  stop = true;
  EXPECT_FALSE(over_budget.load());
  EXPECT_LE(store.size(), max_keys);
  EXPECT_EQ(store.sweep(clock.load() + hour), 0u);
}

}  // namespace
}  // namespace sluice::limit
