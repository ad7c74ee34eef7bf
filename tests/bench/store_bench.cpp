// memory_store decision throughput: one limit per decide() over 1,000,000 uniformly
// random keys (SPEC §12: >= 10M decisions/s on one core, <= 64 bytes per tracked key).
//
// Each algorithm has one store per key count, built and warmed once (every key decided
// once) and shared by the single- and multi-threaded runs. The fake clock advances 1 us
// per decision, so keys refill between visits and most decisions write state.
//
// Variants, each BM_store_decide/<algorithm>/...:
//   /1000000                    cold: every decide() finds its set in DRAM (the table is
//                               ~60 MB), so one memory round trip bounds it
//   /10000                      cache-resident table: the CPU cost of a decision alone
//   /prefetch_ahead/1000000     the caller hints the key 4 decisions ahead (prefetch()),
//                               overlapping the round trips of consecutive decisions
//   .../threads:2               two threads on one shared store (sharding scales)
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "limit/memory_store.hpp"

namespace {

using namespace sluice::limit;

constexpr std::size_t key_count = 1'000'000;
constexpr micros t0 = micros{1'700'000'000} * micros_per_second;

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const std::vector<std::uint64_t>& keys() {
  static const std::vector<std::uint64_t> k = [] {
    std::vector<std::uint64_t> v(key_count);
    std::uint64_t seed = 42;
    for (auto& h : v) h = splitmix64(seed);
    return v;
  }();
  return k;
}

// The first `n` keys (a cache-resident baseline uses a small n).
std::span<const std::uint64_t> keys(std::size_t n) {
  return std::span(keys()).first(n);
}

limit_params params_for(algorithm a) {
  switch (a) {
    case algorithm::token_bucket:
      return limit_params::make(a, 1000, micros_per_second, 100);
    case algorithm::leaky_bucket:
      return limit_params::make(a, 1000, micros_per_second, 100);
    case algorithm::fixed_window:
      return limit_params::make(a, 100, micros_per_second, 0);
    case algorithm::sliding_window:
      return limit_params::make(a, 100, micros_per_second, 0);
    case algorithm::sliding_log:
      return limit_params::make(a, 5, 60 * micros_per_second, 0);
    case algorithm::concurrency:  // max 100 in flight, a minute's lease
      return limit_params::make(a, 100, 60 * micros_per_second, 0);
  }
  return {};
}

struct fixture {
  limit_params params;
  std::unique_ptr<memory_store> store;
  std::atomic<micros> clock{t0};
};

fixture& fixture_for(algorithm a, std::size_t n) {
  static std::map<std::pair<algorithm, std::size_t>, std::unique_ptr<fixture>> all;
  static std::mutex mu;
  std::lock_guard guard(mu);
  auto& f = all[{a, n}];
  if (!f) {
    f = std::make_unique<fixture>();
    f->params = params_for(a);
    f->store = std::make_unique<memory_store>(n);
    std::array<decision, 1> out;
    micros now = t0;
    for (std::uint64_t h : keys(n)) {
      const check c{h, &f->params, 1, false};
      f->store->decide(std::span(&c, 1), now++, out);
    }
    f->clock = now;
  }
  return *f;
}

void decide_one_limit(benchmark::State& state, algorithm a, std::size_t lookahead) {
  const auto n_keys = static_cast<std::size_t>(state.range(0));
  fixture& f = fixture_for(a, n_keys);
  const std::span<const std::uint64_t> k = keys(n_keys);
  const std::size_t n = k.size();
  // Each thread walks its own stretch of the key list. Time is shared: a thread takes
  // 256 microseconds of the clock at a time, so threads never drift apart.
  constexpr micros clock_chunk = 256;
  std::size_t i = n / static_cast<std::size_t>(state.threads()) *
                  static_cast<std::size_t>(state.thread_index());
  micros now = 0, chunk_end = 0;
  std::array<decision, 1> out;
  std::uint64_t admitted = 0;
  for (auto _ : state) {
    if (now == chunk_end) {
      now = f.clock.fetch_add(clock_chunk, std::memory_order_relaxed);
      chunk_end = now + clock_chunk;
    }
    if (lookahead != 0) f.store->prefetch(k[i + lookahead < n ? i + lookahead : i + lookahead - n]);
    const check c{k[i], &f.params, 1, false};
    admitted += f.store->decide(std::span(&c, 1), now, out) ? 1 : 0;
    ++now;
    if (++i == n) i = 0;
  }
  benchmark::DoNotOptimize(admitted);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["admitted"] =
      benchmark::Counter(static_cast<double>(admitted) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
  if (state.thread_index() == 0) {
    const double tracked = static_cast<double>(f.store->size());
    state.counters["tracked_keys"] = tracked;
    state.counters["bytes_per_key"] = static_cast<double>(f.store->allocated_bytes()) / tracked;
  }
}

// Three limits (token_bucket per client, fixed_window per route, sliding_window global-ish)
// on three random keys per decision: the sets of all three are requested before the
// first lock, so their round trips overlap.
void decide_three_limits(benchmark::State& state) {
  static const limit_params bucket = params_for(algorithm::token_bucket);
  static const limit_params window = params_for(algorithm::fixed_window);
  static const limit_params sliding = params_for(algorithm::sliding_window);
  const std::span<const std::uint64_t> k = keys(key_count);
  const std::size_t n = k.size();
  // Each limit hashes the key with its own seed, as the engine does.
  auto checks_for = [&](std::size_t i) {
    std::uint64_t seed = k[i];
    const std::uint64_t h1 = splitmix64(seed), h2 = splitmix64(seed);
    return std::array<check, 3>{check{k[i], &bucket, 1, false}, check{h1, &window, 1, false},
                                check{h2, &sliding, 1, false}};
  };
  static memory_store* store = [&] {
    auto* s = new memory_store(3 * key_count);  // lives until exit, like the fixtures
    std::array<decision, 3> out;
    for (std::size_t i = 0; i < n; ++i) s->decide(checks_for(i), t0, out);
    return s;
  }();
  // Time and position carry over between runs, so the fake clock never steps back.
  static micros now = t0 + 1;
  static std::size_t i = 0;
  std::array<decision, 3> out;
  std::uint64_t admitted = 0;
  for (auto _ : state) {
    admitted += store->decide(checks_for(i), now++, out) ? 1 : 0;
    if (++i == n) i = 0;
  }
  benchmark::DoNotOptimize(admitted);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["admitted"] =
      static_cast<double>(admitted) / static_cast<double>(state.iterations());
  state.counters["tracked_keys"] = static_cast<double>(store->size());
}

void register_all() {
  benchmark::RegisterBenchmark("BM_store_decide_three_limits/1000000", decide_three_limits);
  constexpr std::array algos{algorithm::token_bucket, algorithm::leaky_bucket,
                             algorithm::fixed_window, algorithm::sliding_window,
                             algorithm::sliding_log};
  for (algorithm a : algos) {
    const std::string name = std::string("BM_store_decide/") + std::string(to_string(a));
    benchmark::RegisterBenchmark(name.c_str(), decide_one_limit, a, 0)->Arg(key_count)->Arg(10'000);
    benchmark::RegisterBenchmark((name + "/prefetch_ahead").c_str(), decide_one_limit, a, 4)
        ->Arg(key_count);
    benchmark::RegisterBenchmark(name.c_str(), decide_one_limit, a, 0)
        ->Arg(key_count)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark((name + "/prefetch_ahead").c_str(), decide_one_limit, a, 4)
        ->Arg(key_count)
        ->Threads(2)
        ->UseRealTime();
  }
}

const int registered = (register_all(), 0);

}  // namespace
