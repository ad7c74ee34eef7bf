// The Redis decision script against a real redis-server: the same decisions as the C++
// memory store (random differential runs, reloads, 2^53 edges), all-or-nothing and
// shadow rules in Redis state, peeks that never write, expiry of every key, atomicity
// across connections, and the NOSCRIPT error the client must handle. Plus the argument
// builder and reply parser on their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "limit/algorithms/harness.hpp"
#include "limit/memory_store.hpp"
#include "redis/decide_runner.hpp"
#include "redis/lua_sources.hpp"
#include "util/hash.hpp"

namespace sluice::redis::test {
namespace {

using limit::algorithm;
using limit::decision;
using limit::limit_params;
using limit::micros;
using namespace limit::algo_test;

constexpr algorithm all_algorithms[] = {algorithm::token_bucket, algorithm::leaky_bucket,
                                        algorithm::fixed_window, algorithm::sliding_window,
                                        algorithm::sliding_log};

std::string describe(const limit_params& p) {
  std::ostringstream os;
  os << to_string(p.algo) << " count=" << p.count << " period=" << p.period << " burst=" << p.burst
     << " max_delay=" << p.max_delay;
  return os.str();
}

std::string print(const decision& d) {
  std::ostringstream os;
  limit::PrintTo(d, &os);
  return os.str();
}

// ---- argument builder and reply parser (no Redis) ----

TEST(RedisDecideArgs, LayoutOfKeysAndArgv) {
  const limit_params tb = limit_params::make(algorithm::leaky_bucket, 7, sec, 3, 250 * ms);
  const limit_params fw = limit_params::make(algorithm::fixed_window, 100, minute, 0);
  const script_limit limits[] = {{"k:tb", &tb, 2, false}, {"k:fw", &fw, 5, true}};
  std::vector<std::string> out = {"EVALSHA", "sha"};
  append_decide_args(limits, false, out);
  const std::vector<std::string> want = {
      "EVALSHA", "sha", "2", "k:tb", "k:fw", "0",
      // leaky_bucket = 1, count, period, burst, max_delay, T = 1e6/7, cost, shadow
      "1", "7", "1000000", "3", "250000", "1000000", "7", "2", "0",
      // fixed_window = 2; windows have no burst or delay; T = 60e6/100
      "2", "100", "60000000", "0", "0", "600000", "1", "5", "1"};
  EXPECT_EQ(out, want);

  std::vector<std::string> peek;
  append_decide_args(limits, true, peek);
  EXPECT_EQ(peek[3], "1");
  EXPECT_EQ(peek[3 + 8], "0") << "a peek costs nothing";
  EXPECT_EQ(peek[3 + 9 + 8], "0");
  EXPECT_EQ(peek.size(), 1 + 2 + 1 + 2 * decide_arg_fields) << "never the now override";
}

TEST(RedisDecideArgs, ParsesTheReply) {
  const std::vector<std::int64_t> values = {0, 1767225600000000,
                                            // allowed, exceeds, limit, remaining, reset, ra, delay
                                            1, 0, 10, 4, 6000, 0, 250,  //
                                            0, 1, 5, 0, 9000, 1000000, 0};
  std::vector<decision> out(2);
  EXPECT_EQ(parse_decide_reply(values, out), std::optional<bool>(false));
  EXPECT_EQ(out[0],
            (decision{.allowed = true, .limit = 10, .remaining = 4, .reset = 6000, .delay = 250}));
  EXPECT_EQ(
      out[1],
      (decision{.cost_exceeds_limit = true, .limit = 5, .reset = 9000, .retry_after = 1000000}));
  EXPECT_EQ(decide_reply_now(values), 1767225600000000);

  std::vector<decision> none;
  EXPECT_EQ(parse_decide_reply(std::vector<std::int64_t>{1, 5}, none), std::optional<bool>(true));
}

TEST(RedisDecideArgs, RejectsMalformedReplies) {
  std::vector<decision> one(1);
  auto parse = [&](std::vector<std::int64_t> v) { return parse_decide_reply(v, one); };
  EXPECT_EQ(parse({1, 0, 1, 0, 10, 4, 0, 0, 0}), std::optional<bool>(true));
  EXPECT_EQ(parse({}), std::nullopt);
  EXPECT_EQ(parse({1, 0}), std::nullopt) << "too short for one limit";
  EXPECT_EQ(parse({1, 0, 1, 0, 10, 4, 0, 0, 0, 0}), std::nullopt) << "too long";
  EXPECT_EQ(parse({2, 0, 1, 0, 10, 4, 0, 0, 0}), std::nullopt) << "admitted is a flag";
  EXPECT_EQ(parse({1, 0, -1, 0, 10, 4, 0, 0, 0}), std::nullopt) << "allowed is a flag";
  EXPECT_EQ(parse({1, 0, 1, 7, 10, 4, 0, 0, 0}), std::nullopt) << "exceeds is a flag";
}

TEST(RedisDecideArgs, ScriptIsTheAlgorithmFilesThenTheDriver) {
  const std::string& script = decide_script();
  std::size_t at = 0;
  for (const char* name : {"decision.lua", "bucket.lua", "fixed_window.lua", "sliding_window.lua",
                           "sliding_log.lua", "decide.lua"}) {
    const std::string_view source = lua_source(name);
    ASSERT_FALSE(source.empty()) << name;
    const std::size_t found = script.find(source, at);
    ASSERT_NE(found, std::string::npos) << name << " missing or out of order";
    at = found + source.size();
  }
  EXPECT_EQ(&decide_script(), &script) << "assembled once";
}

// ---- differential: the script against memory_store ----

// The memory store's index of a Redis key: well spread, as the engine's keyed hash is
// (small consecutive numbers would all land in one set and evict each other).
std::uint64_t memory_key(const std::string& key) {
  return hash64(key, 0x5eed);
}

// One limit on one key, decided by both backends at the same instant.
struct twin {
  limit::memory_store& store;
  decide_runner& redis;

  // Returns an empty string when both agree, else what differed.
  std::string request(const limit_params& p, const std::string& key, micros now, std::int64_t cost,
                      bool peek) {
    const std::uint64_t hash = memory_key(key);
    decision want;
    bool want_admitted = true;
    if (peek) {
      want = store.peek(hash, p, now);
    } else {
      const limit::check c{hash, &p, cost, false};
      want_admitted = store.decide(std::span(&c, 1), now, std::span(&want, 1));
    }
    const script_limit l{key, &p, cost, false};
    const decide_outcome got = redis.decide(std::span(&l, 1), peek, now);
    if (got.decisions[0] == want && got.admitted == want_admitted) return "";
    return describe(p) + " now=" + std::to_string(now) + " cost=" + std::to_string(cost) +
           (peek ? " peek" : "") + "\n redis  " + print(got.decisions[0]) + " admitted " +
           std::to_string(got.admitted) + "\n memory " + print(want) + " admitted " +
           std::to_string(want_admitted);
  }
};

// Mostly the harness' steps (none, about one interval, windows, days, boundaries),
// plus clock steps backwards, which the script must handle like the C++ code.
micros next_time(const limit_params& p, micros now, std::mt19937_64& rng) {
  if (uniform(rng, 0, 99) < 4) return now - uniform(rng, 1, p.period);
  return now + random_step(p, now, rng);
}

TEST(RedisDecide, RandomSequencesMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server);
  limit::memory_store store(1 << 16);
  twin both{store, redis};
  std::mt19937_64 rng(20260101);
  constexpr int sequences = 40, steps = 150;
  for (algorithm a : all_algorithms) {
    int compared = 0;
    for (int seq = 0; seq < sequences; ++seq) {
      const limit_params p = random_params(a, rng);
      ASSERT_TRUE(p.exact()) << describe(p);
      const std::string key = "diff:" + std::string(to_string(a)) + ":" + std::to_string(seq);
      micros now = epoch_2026 + uniform(rng, 0, day);
      for (int i = 0; i < steps; ++i) {
        now = next_time(p, now, rng);
        const bool peek = uniform(rng, 0, 99) < 5;
        const std::int64_t cost = peek ? 0 : random_cost(p, rng);
        const std::string diff = both.request(p, key, now, cost, peek);
        ASSERT_EQ(diff, "") << "sequence " << seq << " step " << i;
        ++compared;
      }
    }
    EXPECT_EQ(compared, sequences * steps) << to_string(a);
  }
}

// A reload changes a limit's numbers or its algorithm while its key keeps its state:
// the script must read foreign state exactly as the memory store does (other params:
// rounded or floored conservatively; another algorithm: fresh).
TEST(RedisDecide, RandomReloadsMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server);
  limit::memory_store store(1 << 16);
  twin both{store, redis};
  std::mt19937_64 rng(7);
  for (int seq = 0; seq < 30; ++seq) {
    const std::string key = "reload:" + std::to_string(seq);
    limit_params p = random_params(all_algorithms[uniform(rng, 0, 4)], rng);
    micros now = epoch_2026 + uniform(rng, 0, day);
    for (int i = 0; i < 200; ++i) {
      const int change = static_cast<int>(uniform(rng, 0, 99));
      if (change < 5)
        p = random_params(p.algo, rng);  // new numbers
      else if (change < 8)
        p = random_params(all_algorithms[uniform(rng, 0, 4)], rng);  // algorithm
      now = next_time(p, now, rng);
      const bool peek = uniform(rng, 0, 99) < 5;
      const std::int64_t cost = peek ? 0 : random_cost(p, rng);
      ASSERT_EQ(both.request(p, key, now, cost, peek), "") << "sequence " << seq << " step " << i;
    }
  }
}

// A reload that lowers a sliding_log's N: the next charge (here of cost 0, which always
// passes) keeps only the newest N entries, as the C++ ring's resize does; raising N again
// shows how many were kept.
TEST(RedisDecide, LoweredLogCapacityKeepsTheNewestEntries) {
  redis_server server;
  decide_runner redis(server);
  limit::memory_store store(1 << 10);
  twin both{store, redis};
  const limit_params five = limit_params::make(algorithm::sliding_log, 5, minute, 0);
  const limit_params two = limit_params::make(algorithm::sliding_log, 2, minute, 0);
  const micros t = epoch_2026 + 3 * sec;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(both.request(five, "trim", t + i * sec, 1, false), "");
  ASSERT_EQ(both.request(two, "trim", t + 5 * sec, 1, false), "") << "denied: 5 in the window";
  ASSERT_EQ(both.request(two, "trim", t + 5 * sec, 0, false), "") << "a charge of 0 trims";
  EXPECT_EQ(redis.run({"ZCARD", "trim"}).integer, 2);
  ASSERT_EQ(both.request(five, "trim", t + 6 * sec, 0, true), "");
  EXPECT_EQ(redis.decide(std::vector<script_limit>{{"trim", &five, 0, false}}, true, t + 6 * sec)
                .decisions[0]
                .remaining,
            3);
  ASSERT_EQ(both.request(five, "trim", t + 6 * sec, 3, false), "");
  ASSERT_EQ(both.request(five, "trim", t + 6 * sec, 1, false), "");
}

// Several limits per request, some shadow: the same admission and decisions as
// memory_store::decide, so the same all-or-nothing charging.
TEST(RedisDecide, RandomMultiLimitRequestsMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server);
  limit::memory_store store(1 << 16);
  std::mt19937_64 rng(42);
  int admitted = 0, denied = 0;
  for (int seq = 0; seq < 25; ++seq) {
    struct pooled {
      limit_params p;
      std::string key;
      bool shadow;
    };
    std::vector<pooled> pool;
    for (int k = 0; k < 5; ++k) {
      pool.push_back({random_params(all_algorithms[uniform(rng, 0, 4)], rng),
                      "multi:" + std::to_string(seq) + ":" + std::to_string(k),
                      uniform(rng, 0, 3) == 0});
    }
    micros now = epoch_2026 + uniform(rng, 0, day);
    for (int i = 0; i < 120; ++i) {
      now = next_time(pool[uniform(rng, 0, 4)].p, now, rng);
      std::vector<limit::check> checks;
      std::vector<script_limit> limits;
      for (const pooled& l : pool) {
        if (uniform(rng, 0, 2) == 0) continue;
        const std::int64_t cost = random_cost(l.p, rng);
        checks.push_back({memory_key(l.key), &l.p, cost, l.shadow});
        limits.push_back({l.key, &l.p, cost, l.shadow});
      }
      std::vector<decision> want(checks.size());
      const bool want_admitted = store.decide(checks, now, want);
      const decide_outcome got = redis.decide(limits, false, now);
      ASSERT_EQ(got.admitted, want_admitted) << "sequence " << seq << " step " << i;
      for (std::size_t j = 0; j < checks.size(); ++j) {
        ASSERT_EQ(got.decisions[j], want[j])
            << "sequence " << seq << " step " << i << " limit " << j << " "
            << describe(*checks[j].params) << " shadow " << checks[j].shadow;
      }
      (want_admitted ? admitted : denied) += 1;
    }
  }
  EXPECT_GT(admitted, 100);
  EXPECT_GT(denied, 100);
}

// ---- all-or-nothing, shadow, peek and expiry in Redis state ----

struct four_limits {
  limit_params tb = limit_params::make(algorithm::token_bucket, 10, sec, 10);
  limit_params fw = limit_params::make(algorithm::fixed_window, 2, minute, 0);
  limit_params sw = limit_params::make(algorithm::sliding_window, 10, minute, 0);
  limit_params sl = limit_params::make(algorithm::sliding_log, 5, minute, 0);
  std::vector<script_limit> limits(const std::string& prefix, bool fw_shadow = false) const {
    return {{prefix + "tb", &tb, 1, false},
            {prefix + "fw", &fw, 1, fw_shadow},
            {prefix + "sw", &sw, 1, false},
            {prefix + "sl", &sl, 1, false}};
  }
};

std::vector<std::string> snapshot_all(decide_runner& redis, std::span<const script_limit> limits) {
  std::vector<std::string> out;
  for (const script_limit& l : limits) out.push_back(redis.snapshot(l.key));
  return out;
}

TEST(RedisDecide, DeniedRequestLeavesEveryKeyUnchanged) {
  redis_server server;
  decide_runner redis(server);
  const four_limits f;
  const auto limits = f.limits("aon:");
  const micros t = epoch_2026 + 10 * sec;
  ASSERT_TRUE(redis.decide(limits, false, t).admitted);
  ASSERT_TRUE(redis.decide(limits, false, t + 1).admitted);
  const auto before = snapshot_all(redis, limits);
  for (const std::string& s : before) EXPECT_FALSE(s.empty());

  // The fixed window (2/min) is full; the others would allow.
  const decide_outcome denied = redis.decide(limits, false, t + 2);
  EXPECT_FALSE(denied.admitted);
  EXPECT_FALSE(denied.decisions[1].allowed);
  EXPECT_TRUE(denied.decisions[0].allowed);
  EXPECT_TRUE(denied.decisions[2].allowed);
  EXPECT_TRUE(denied.decisions[3].allowed);
  EXPECT_EQ(snapshot_all(redis, limits), before) << "a denied request charges no limit";

  // Nothing was charged: the others still report what two requests left.
  EXPECT_EQ(redis.decide(limits, true, t + 2).decisions[3].remaining, 3);
}

TEST(RedisDecide, ShadowLimitsNeverDenyAndAreChargedOnlyWhenTheyAllow) {
  redis_server server;
  decide_runner redis(server);
  const four_limits f;
  const micros t = epoch_2026 + 10 * sec;

  // The shadow fixed window fills up; requests keep passing and charging the others.
  const auto limits = f.limits("shadow:", true);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(redis.decide(limits, false, t + i).admitted);
  const std::string full_window = redis.snapshot("shadow:fw");
  const std::string log_before = redis.snapshot("shadow:sl");
  const decide_outcome third = redis.decide(limits, false, t + 2);
  EXPECT_TRUE(third.admitted);
  EXPECT_FALSE(third.decisions[1].allowed) << "the shadow limit denies, never enforced";
  EXPECT_EQ(redis.snapshot("shadow:fw"), full_window) << "a denying shadow limit is not charged";
  EXPECT_NE(redis.snapshot("shadow:sl"), log_before) << "the enforced limits are charged";

  // An enforced denial is all-or-nothing for shadow limits too.
  const limit_params one = limit_params::make(algorithm::fixed_window, 1, minute, 0);
  const std::vector<script_limit> pair = {{"shadow:enforced", &one, 1, false},
                                          {"shadow:watch", &one, 1, true}};
  ASSERT_TRUE(redis.decide(std::span(pair.data(), 1), false, t).admitted);
  const decide_outcome blocked = redis.decide(pair, false, t);
  EXPECT_FALSE(blocked.admitted);
  EXPECT_TRUE(blocked.decisions[1].allowed);
  EXPECT_EQ(redis.snapshot("shadow:watch"), "") << "an allowing shadow limit of a denied request";
}

TEST(RedisDecide, PeekNeverWrites) {
  redis_server server;
  decide_runner redis(server);
  const four_limits f;
  const micros t = epoch_2026 + 10 * sec;

  // Fresh keys: every limit reports its full capacity and no key appears.
  const auto fresh = f.limits("peek:fresh:");
  const decide_outcome p = redis.decide(fresh, true, t);
  EXPECT_TRUE(p.admitted);
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    EXPECT_TRUE(p.decisions[i].allowed);
    EXPECT_EQ(p.decisions[i].remaining, fresh[i].params->capacity());
    EXPECT_EQ(redis.snapshot(fresh[i].key), "") << fresh[i].key;
  }

  // Used and exhausted keys: reported as they are, unchanged, TTL untouched.
  const auto used = f.limits("peek:used:");
  for (int i = 0; i < 3; ++i) redis.decide(used, false, t);
  const auto before = snapshot_all(redis, used);
  const decide_outcome q = redis.decide(used, true, t + 5 * sec);
  EXPECT_TRUE(q.admitted);
  EXPECT_EQ(q.decisions[1].remaining, 0) << "the full fixed window";
  EXPECT_EQ(q.decisions[3].remaining, 3) << "two entries in the log";
  EXPECT_EQ(snapshot_all(redis, used), before);
}

TEST(RedisDecide, EveryKeyHasAnExpiryJustAfterItsStateTurnsFresh) {
  redis_server server;
  decide_runner redis(server);
  const four_limits f;
  const auto limits = f.limits("ttl:");
  const micros t = epoch_2026 + 10 * sec;  // 50 s before the minute ends
  ASSERT_TRUE(redis.decide(limits, false, t).admitted);
  // Fresh again at: tb one token (0.1 s), fw the window end (50 s), sw both windows
  // slid out (110 s), sl the entry left the window (60 s); + 1 s margin.
  const long long want_ms[] = {100 + 1000, 50'000 + 1000, 110'000 + 1000, 60'000 + 1000};
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const long long pttl = redis.pttl(limits[i].key);
    EXPECT_LE(pttl, want_ms[i]) << limits[i].key;
    EXPECT_GT(pttl, want_ms[i] - 500) << limits[i].key;
  }
}

TEST(RedisDecide, IdleKeysDisappearByThemselves) {
  redis_server server;
  decide_runner redis(server);
  // Real Redis clock: the state is fresh after 100 ms, the key goes within the margin.
  const limit_params tb = limit_params::make(algorithm::token_bucket, 1, 100 * ms, 1);
  const limit_params fw = limit_params::make(algorithm::fixed_window, 5, 100 * ms, 0);
  const limit_params sl = limit_params::make(algorithm::sliding_log, 5, 100 * ms, 0);
  const std::vector<script_limit> limits = {
      {"idle:tb", &tb, 1, false}, {"idle:fw", &fw, 1, false}, {"idle:sl", &sl, 1, false}};
  ASSERT_TRUE(redis.decide(limits).admitted);
  for (const auto& l : limits) {
    EXPECT_GT(redis.pttl(l.key), 0) << l.key;
    EXPECT_LE(redis.pttl(l.key), 1100) << l.key;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = std::all_of(limits.begin(), limits.end(),
                       [&](const script_limit& l) { return redis.snapshot(l.key).empty(); });
  }
  EXPECT_TRUE(gone);
}

// A charge that leaves the state equal to a fresh one (cost 0 on an idle key) keeps
// no key, like the memory store, which frees the slot.
TEST(RedisDecide, ChargeLeavingAFreshStateKeepsNoKey) {
  redis_server server;
  decide_runner redis(server);
  const limit_params tb = limit_params::make(algorithm::token_bucket, 1, sec, 2);
  const script_limit zero{"fresh:tb", &tb, 0, false};
  const script_limit one{"fresh:tb", &tb, 1, false};
  const micros t = epoch_2026;
  EXPECT_TRUE(redis.decide(std::span(&zero, 1), false, t).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "");
  ASSERT_TRUE(redis.decide(std::span(&one, 1), false, t).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "string:tb 1767225601000000 0");
  EXPECT_TRUE(redis.decide(std::span(&zero, 1), false, t + 2 * sec).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "") << "refilled: dropped";
}

// The state layout, and state of another algorithm under the same key (the limit's
// algorithm changed at reload) reads as fresh and is replaced.
TEST(RedisDecide, StateLayoutAndForeignStateReadsAsFresh) {
  redis_server server;
  decide_runner redis(server);
  const micros t = epoch_2026 + 7 * sec + 3;
  const limit_params tb = limit_params::make(algorithm::token_bucket, 7, sec, 3);
  const limit_params lb = limit_params::make(algorithm::leaky_bucket, 7, sec, 3);
  const limit_params fw = limit_params::make(algorithm::fixed_window, 4, minute, 0);
  const limit_params sw = limit_params::make(algorithm::sliding_window, 4, minute, 0);
  const limit_params sl = limit_params::make(algorithm::sliding_log, 4, minute, 0);
  auto decide = [&](const limit_params& p, std::int64_t cost) {
    const script_limit l{"layout", &p, cost, false};
    return redis.decide(std::span(&l, 1), false, t).decisions[0];
  };

  EXPECT_EQ(decide(tb, 1).remaining, 2);
  // 1e6/7 us per token: tat = t + 142857 + 1/7 us.
  EXPECT_EQ(redis.snapshot("layout"), "string:tb 1767225607142860 1");
  EXPECT_EQ(decide(lb, 1).remaining, 2) << "token_bucket state is not leaky_bucket state";
  EXPECT_EQ(redis.snapshot("layout"), "string:lb 1767225607142860 1");
  EXPECT_EQ(decide(fw, 2).remaining, 2);
  EXPECT_EQ(redis.snapshot("layout"), "string:fw 1767225600000000 2");
  EXPECT_EQ(decide(sw, 1).remaining, 3);
  EXPECT_EQ(redis.snapshot("layout"), "string:sw 1767225600000000 1 0");
  EXPECT_EQ(decide(sl, 2).remaining, 2) << "a string key read as a log";
  EXPECT_EQ(redis.snapshot("layout"),
            "zset:1767225607000003:0000000001,1767225607000003,"
            "1767225607000003:0000000002,1767225607000003,");
  EXPECT_EQ(decide(sl, 1).remaining, 1);
  EXPECT_EQ(redis.snapshot("layout"),
            "zset:1767225607000003:0000000001,1767225607000003,"
            "1767225607000003:0000000002,1767225607000003,"
            "1767225607000003:0000000003,1767225607000003,")
      << "members at one instant stay unique";
  EXPECT_EQ(decide(fw, 1).remaining, 3) << "a log read as a window";
  EXPECT_EQ(redis.snapshot("layout"), "string:fw 1767225600000000 1");
}

// ---- atomicity, exactness, NOSCRIPT ----

TEST(RedisDecide, ConcurrentConnectionsAdmitExactlyTheLimit) {
  redis_server server;
  // One window of 2^50 us (35 years) so the test never straddles a boundary.
  const limit_params p = limit_params::make(algorithm::fixed_window, 1000, micros{1} << 50, 0);
  constexpr int threads = 8, per_thread = 250;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      try {
        decide_runner redis(server);  // its own connection
        const script_limit l{"race", &p, 1, false};
        for (int j = 0; j < per_thread; ++j) admitted += redis.decide(std::span(&l, 1)).admitted;
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), 1000);
  const std::string state = server.command({"GET", "race"});
  EXPECT_TRUE(std::regex_match(state, std::regex("fw [0-9]+ 1000"))) << state;
}

TEST(RedisDecide, UsesTheRedisClockWithoutOverride) {
  redis_server server;
  decide_runner redis(server);
  const limit_params p = limit_params::make(algorithm::token_bucket, 1, sec, 1);
  const script_limit l{"clock", &p, 1, false};
  const micros before = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const decide_outcome d = redis.decide(std::span(&l, 1));
  EXPECT_NEAR(static_cast<double>(d.now), static_cast<double>(before), 5e6);
  // The stored tat is one interval after the Redis clock.
  EXPECT_EQ(server.command({"GET", "clock"}), "tb " + std::to_string(d.now + sec) + " 0");
}

// Parameters right at limit_params::exact()'s bound: every intermediate value near 2^53
// must still be exact in Lua doubles. Random sequences against the memory store.
TEST(RedisDecide, ExactAtThe2Pow53Boundary) {
  constexpr std::int64_t top = limit::max_exact_integer;
  // token_bucket 3/s: T = 1e6/3, debt in thirds of a microsecond; 2 * burst * 1e6 <= top.
  const std::int64_t tb_burst = top / 2'000'000;
  const limit_params tb = limit_params::make(algorithm::token_bucket, 3, sec, tb_burst);
  // leaky_bucket 7/s, burst 1e9: 2e15 of debt plus max_delay * 7 <= top.
  const micros lb_delay = (top - 2 * std::int64_t{1'000'000'000} * 1'000'000) / 7;
  const limit_params lb =
      limit_params::make(algorithm::leaky_bucket, 7, sec, 1'000'000'000, lb_delay);
  const limit_params fw = limit_params::make(algorithm::fixed_window, top, hour, 0);
  // sliding_window: count * window_ms * 3 <= top with count = INT32_MAX.
  const std::int64_t sw_ms = top / (3 * std::int64_t{INT32_MAX});
  const limit_params sw = limit_params::make(algorithm::sliding_window, INT32_MAX, sw_ms * ms, 0);
  const limit_params sl = limit_params::make(algorithm::sliding_log, 10'000, minute, 0);

  // Each is exact, and one step further is not.
  for (const limit_params* p : {&tb, &lb, &fw, &sw, &sl}) ASSERT_TRUE(p->exact()) << describe(*p);
  EXPECT_FALSE(limit_params::make(algorithm::token_bucket, 3, sec, tb_burst + 1).exact());
  EXPECT_FALSE(
      limit_params::make(algorithm::leaky_bucket, 7, sec, 1'000'000'000, lb_delay + 1).exact());
  EXPECT_FALSE(limit_params::make(algorithm::fixed_window, top + 1, hour, 0).exact());
  EXPECT_FALSE(
      limit_params::make(algorithm::sliding_window, INT32_MAX, (sw_ms + 1) * ms, 0).exact());
  EXPECT_FALSE(limit_params::make(algorithm::sliding_log, 10'001, minute, 0).exact());

  redis_server server;
  decide_runner redis(server);
  limit::memory_store store(1 << 10);
  twin both{store, redis};
  std::mt19937_64 rng(53);
  const std::regex decimal_state("string:[a-z]{2}( [0-9]+)+");
  for (const limit_params* p : {&tb, &lb, &fw, &sw, &sl}) {
    const std::string key = "edge:" + std::string(to_string(p->algo));
    const std::int64_t cap = p->capacity();
    micros now = epoch_2026 + uniform(rng, 0, day);
    const int steps = p->algo == algorithm::sliding_log ? 40 : 150;
    for (int i = 0; i < steps; ++i) {
      // Huge costs and huge time steps, up to the whole capacity and its refill time.
      const int kind = static_cast<int>(uniform(rng, 0, 9));
      const std::int64_t cost = kind < 3   ? 1
                                : kind < 5 ? cap
                                : kind < 6 ? cap + 1
                                : kind < 7 ? 0
                                           : uniform(rng, 1, cap);
      const int step_kind = static_cast<int>(uniform(rng, 0, 9));
      const micros step = step_kind < 3   ? 0
                          : step_kind < 6 ? uniform(rng, 1, sec)
                          : step_kind < 9 ? uniform(rng, 1, p->period * 3)
                                          : uniform(rng, 1, micros{1} << 44);
      now += step;
      ASSERT_LT(now, micros{1} << 53);
      ASSERT_EQ(both.request(*p, key, now, cost, false), "") << "step " << i;
      const std::string state = redis.snapshot(key);
      if (p->algo != algorithm::sliding_log && !state.empty()) {
        EXPECT_TRUE(std::regex_match(state, decimal_state)) << state;
      }
    }
  }
}

TEST(RedisDecide, NoscriptAfterFlushIsReportedAndReloadable) {
  redis_server server;
  decide_runner redis(server);
  const limit_params p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const script_limit l{"noscript", &p, 1, false};
  ASSERT_TRUE(redis.decide(std::span(&l, 1)).admitted);
  EXPECT_EQ(redis.run({"SCRIPT", "FLUSH"}).text, "OK");

  std::vector<std::string> args = {"EVALSHA", redis.sha()};
  append_decide_args(std::span(&l, 1), false, args);
  const auto r = redis.run(args);
  EXPECT_EQ(r.type, REDIS_REPLY_ERROR);
  // What the client detects to SCRIPT LOAD again and retry.
  EXPECT_EQ(r.text.rfind("NOSCRIPT", 0), 0u) << r.text;

  const std::string sha = redis.sha();
  EXPECT_EQ(redis.load(), sha) << "the SHA1 is the script's, stable across loads";
  const decide_outcome again = redis.decide(std::span(&l, 1));
  EXPECT_TRUE(again.admitted);
  EXPECT_EQ(again.decisions[0].remaining, 3) << "state survives a script flush";
}

TEST(RedisDecide, BadArgumentsAreAnErrorReply) {
  redis_server server;
  decide_runner redis(server);
  EXPECT_EQ(redis.run({"EVALSHA", redis.sha(), "1", "k", "0", "1"}).text.rfind("ERR sluice", 0),
            0u);
  EXPECT_NE(
      redis
          .run({"EVALSHA", redis.sha(), "1", "k", "0", "9", "1", "1", "1", "0", "1", "1", "1", "0"})
          .text.find("unknown algorithm"),
      std::string::npos);
}

}  // namespace
}  // namespace sluice::redis::test
