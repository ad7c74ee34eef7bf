// The penalty box (limit/penalty_box.hpp): the sliding counter, the threshold with
// min_requests, expiry, bounded eviction, the factor it gives prepare(), and
// concurrent use. A fake clock throughout (`now` passed in).
#include "limit/penalty_box.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "engine_support.hpp"
#include "limit/engine.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;  // a multiple of every window here
constexpr micros second = micros_per_second;
constexpr micros minute = 60 * second;

config::penalty_def penalty(double share, std::int64_t min_requests, micros window, double factor,
                            micros duration) {
  config::penalty_def p;
  p.rejected_share = share;
  p.min_requests = min_requests;
  p.window = window;
  p.factor = factor;
  p.duration = duration;
  return p;
}

compiled_limit limit_with(config::penalty_def p, std::string name = "per-ip") {
  compiled_limit l;
  l.name = std::move(name);
  l.scales = true;
  l.penalty = p;
  l.state_seed = 42;
  return l;
}

TEST(PenaltyCounter, SlidesOverTwoBuckets) {
  penalty_counter c;
  for (int i = 0; i < 10; ++i) c.add(i < 4, t0 + i * second, minute);
  EXPECT_DOUBLE_EQ(c.estimated_requests(t0 + 10 * second, minute), 10);
  EXPECT_DOUBLE_EQ(c.estimated_rejected(t0 + 10 * second, minute), 4);
  // A quarter into the next window: three quarters of the last one still count.
  c.add(false, t0 + minute + 15 * second, minute);
  EXPECT_DOUBLE_EQ(c.estimated_requests(t0 + minute + 15 * second, minute), 10 * 0.75 + 1);
  EXPECT_DOUBLE_EQ(c.estimated_rejected(t0 + minute + 15 * second, minute), 4 * 0.75);
  // Without traffic the estimate decays, then nothing is left.
  EXPECT_DOUBLE_EQ(c.estimated_requests(t0 + 2 * minute + 30 * second, minute), 0.5);
  EXPECT_DOUBLE_EQ(c.estimated_requests(t0 + 3 * minute, minute), 0);
  // A gap longer than a window forgets the old bucket.
  c.add(true, t0 + 5 * minute, minute);
  EXPECT_DOUBLE_EQ(c.estimated_requests(t0 + 5 * minute, minute), 1);
  EXPECT_DOUBLE_EQ(c.estimated_rejected(t0 + 5 * minute, minute), 1);
}

TEST(PenaltyBox, BoxesAtTheShareOnlyWithMinRequests) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 10, minute, 0.3, 10 * minute));
  const auto h = state_key(l, "192.0.2.1");
  // 4 rejections of 4 requests: the share is 1 but min_requests is not reached.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(box.observe(l, h, "192.0.2.1", true, t0 + i));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(box.observe(l, h, "192.0.2.1", false, t0 + 10 + i));
  // 10 requests, 5 rejected: the share reaches 0.5 with this one.
  EXPECT_TRUE(box.observe(l, h, "192.0.2.1", true, t0 + 20));
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "192.0.2.1", h, t0 + 21}), 0.3);
  // Already boxed: no second boxing.
  EXPECT_FALSE(box.observe(l, h, "192.0.2.1", true, t0 + 22));
  auto listed = box.list(t0 + 30, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].limit, "per-ip");
  EXPECT_EQ(listed[0].key, "192.0.2.1");
  EXPECT_EQ(listed[0].expires_at, t0 + 20 + 10 * minute);
  EXPECT_DOUBLE_EQ(listed[0].factor, 0.3);
  std::uint64_t dropped = 9;
  auto fresh = box.take_new(dropped);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(dropped, 0u);
  EXPECT_TRUE(box.take_new(dropped).empty());
}

TEST(PenaltyBox, BelowTheShareNeverBoxes) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 10, minute, 0.3, minute));
  const auto h = state_key(l, "k");
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(box.observe(l, h, "k", i % 3 == 0, t0 + i * 1000));
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "k", h, t0 + minute}), 1.0);
  EXPECT_TRUE(box.list(t0 + minute, 10).empty());
}

TEST(PenaltyBox, OtherKeysAndLimitsWithoutPenaltyAreUnaffected) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 1, minute, 0.25, minute));
  EXPECT_TRUE(box.observe(l, state_key(l, "a"), "a", true, t0));
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "b", state_key(l, "b"), t0 + 1}), 1.0);
  compiled_limit plain = l;
  plain.penalty.reset();
  EXPECT_DOUBLE_EQ(box.factor({0, &plain, "a", state_key(l, "a"), t0 + 1}), 1.0);
  EXPECT_FALSE(box.observe(plain, state_key(l, "c"), "c", true, t0));
}

TEST(PenaltyBox, ExpiresAfterDurationAndBoxesAgainIfStillAbusive) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 2, 10 * second, 0.5, 30 * second));
  const auto h = state_key(l, "k");
  box.observe(l, h, "k", true, t0);
  EXPECT_TRUE(box.observe(l, h, "k", true, t0 + 1));
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "k", h, t0 + 30 * second}), 0.5);
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "k", h, t0 + 1 + 30 * second}), 1.0);
  EXPECT_TRUE(box.list(t0 + 1 + 30 * second, 10).empty());
  // Quiet for longer than the window: two new requests are needed again.
  EXPECT_FALSE(box.observe(l, h, "k", true, t0 + minute));
  EXPECT_TRUE(box.observe(l, h, "k", true, t0 + minute + 1));
}

TEST(PenaltyBox, RemoveUnboxesAndRestartsTheCount) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 1, minute, 0.5, minute));
  const auto h = state_key(l, "k");
  EXPECT_TRUE(box.observe(l, h, "k", true, t0));
  EXPECT_TRUE(box.remove(h, t0 + 1));
  EXPECT_FALSE(box.remove(h, t0 + 2));  // not boxed any more
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "k", h, t0 + 3}), 1.0);
  EXPECT_TRUE(box.observe(l, h, "k", true, t0 + 4));  // counting starts again: 1 of 1
}

TEST(PenaltyBox, LearntPenaltiesApplyAndAreCappedByTheLocalDuration) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 20, minute, 0.3, minute));
  const auto h = state_key(l, "k");
  EXPECT_TRUE(box.learn(l, h, "k", t0 + 10 * minute, t0));
  auto listed = box.list(t0, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].expires_at, t0 + minute);
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "k", h, t0 + 1}), 0.3);
  EXPECT_FALSE(box.learn(l, h, "k", t0 - 1, t0));  // already over
  std::uint64_t dropped = 0;
  EXPECT_TRUE(box.take_new(dropped).empty());  // learnt, not boxed here
}

TEST(PenaltyBox, BoundedAndPenaltiesOutliveCounters) {
  penalty_box box(512);  // one 8-way set per shard
  EXPECT_EQ(box.capacity(), 512u);
  const auto l = limit_with(penalty(0.5, 1, minute, 0.5, 10 * minute));
  // Fill with boxed keys, then hammer with many plain keys.
  std::vector<std::string> boxed_keys;
  for (int i = 0; i < 100; ++i) {
    const std::string k = "boxed-" + std::to_string(i);
    if (box.observe(l, state_key(l, k), k, true, t0 + i)) boxed_keys.push_back(k);
  }
  EXPECT_EQ(boxed_keys.size(), 100u);
  for (int i = 0; i < 20'000; ++i) {
    const std::string k = "plain-" + std::to_string(i);
    box.observe(l, state_key(l, k), k, false, t0 + 1000 + i);
  }
  for (const auto& k : boxed_keys) {
    EXPECT_DOUBLE_EQ(box.factor({0, &l, k, state_key(l, k), t0 + 30'000}), 0.5) << k;
  }
  // A set full of live penalties: a learnt one replaces the one that ends first.
  std::size_t live = box.list(t0 + 30'000, 100'000).size();
  EXPECT_LE(live, 512u);
  for (int i = 0; i < 5000; ++i) {
    const std::string k = "learnt-" + std::to_string(i);
    box.learn(l, state_key(l, k), k, t0 + 5 * minute + i, t0 + 30'000);
  }
  EXPECT_EQ(box.list(t0 + 30'000, 100'000).size(), 512u);
  auto counts = box.counts(t0 + 30'000);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].first, "per-ip");
  EXPECT_EQ(counts[0].second, 512u);
}

TEST(PenaltyBox, LongKeysAreBoxedButCut) {
  penalty_box box(1024);
  const auto l = limit_with(penalty(0.5, 1, minute, 0.5, minute));
  const std::string k(2000, 'x');
  EXPECT_TRUE(box.observe(l, state_key(l, k), k, true, t0));
  auto listed = box.list(t0, 1);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key.size(), penalty_box::max_key_bytes);
  EXPECT_FALSE(listed[0].whole_key);
}

TEST(PenaltyBox, ThreadsCountEveryRequest) {
  penalty_box box(4096);
  const auto l = limit_with(penalty(0.5, 4000, minute, 0.5, minute));
  const auto h = state_key(l, "shared");
  std::atomic<int> boxings{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        boxings += box.observe(l, h, "shared", true, t0 + i);
        const std::string own = "own-" + std::to_string(t) + "-" + std::to_string(i % 50);
        box.observe(l, state_key(l, own), own, false, t0 + i);
        (void)box.factor({0, &l, "shared", h, t0 + i});
      }
    });
  }
  for (auto& th : threads) th.join();
  // Exactly the 4000th request crossed min_requests, once.
  EXPECT_EQ(boxings.load(), 1);
  EXPECT_DOUBLE_EQ(box.factor({0, &l, "shared", h, t0 + 2000}), 0.5);
}

// Through prepare(): the box as the gateway's scaling source lowers that key's limit.
TEST(PenaltyBox, ScalesTheLimitThroughPrepare) {
  config::loaded_config c;
  auto def = make_limit("per-ip", {config::key_part{config::key_part_kind::ip, {}}},
                        config::rate{10, minute}, algorithm::fixed_window);
  def.penalty = penalty(0.5, 5, minute, 0.3, 10 * minute);
  c.policy.limits = {def};
  policy pol(c, 7);
  penalty_box box(1024);
  scaling_sources sources;
  sources.add(&box);
  memory_store store(1000);
  evaluation ev;
  int boxed_limit = -1;
  auto run = [&](std::string_view client, micros now) {
    request_facts f{"GET", "/", *ip_address::parse(client), false, nullptr};
    prepare(pol, f, nullptr, now, ev, &sources);
    conclude(ev, store.decide(ev.checks, now, ev.decisions));
    box.record(ev, [&](int limit) { boxed_limit = limit; });
    return ev.result;
  };
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += run("192.0.2.1", t0 + i) == outcome::allowed;
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(boxed_limit, 0);      // 20 requests, 10 rejected
  run("192.0.2.1", t0 + minute);  // the next window: 3 of the scaled limit
  EXPECT_EQ(ev.applied[0].result.limit, 3);
  EXPECT_DOUBLE_EQ(ev.applied[0].factor, 0.3);
  run("192.0.2.2", t0 + minute);
  EXPECT_EQ(ev.applied[0].result.limit, 10);
}

}  // namespace
}  // namespace sluice::limit
