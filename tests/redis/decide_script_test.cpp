// The Redis decision code against a real redis-server, through the Functions library
// (FCALL/FCALL_RO) and through the EVAL scripts of servers without Functions (EVALSHA),
// every behaviour test run both ways: the same decisions as the C++ memory store
// (random differential runs, reloads, 2^53 edges), all-or-nothing and shadow rules in
// Redis state, peeks that never write, expiry of every key, atomicity across
// connections, the packed state and the text state of earlier versions, and the errors
// the client must handle (Function not found, NOSCRIPT). Plus the argument builder,
// the reply parser and the assembly of the code on their own.
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

using namespace limit::algo_test;

std::string print(const decision& d) {
  std::ostringstream os;
  limit::PrintTo(d, &os);
  return os.str();
}

// ---- argument builder and reply parser (no Redis) ----

TEST(RedisDecideArgs, LayoutOfKeysAndArgv) {
  const limit_params lb = limit_params::make(algorithm::leaky_bucket, 7, sec, 3, 250 * ms);
  const limit_params fw = limit_params::make(algorithm::fixed_window, 100, minute, 0);
  const script_limit limits[] = {{"k:lb", &lb, 2, false}, {"k:fw", &fw, 5, true}};
  std::vector<std::string> out = {"FCALL", "f"};
  append_decide_args(limits, false, out);
  const std::vector<std::string> want = {
      "FCALL", "f", "2", "k:lb", "k:fw",
      // leaky_bucket = 1, count, period, burst, max_delay, T = 1e6/7, shadow, origin; the cost
      "1 7 1000000 3 250000 1000000 7 0 0", "2",
      // fixed_window = 2; windows have no burst or delay; T = 60e6/100; shadow; origin 0
      "2 100 60000000 0 0 600000 1 1 0", "5"};
  EXPECT_EQ(out, want);

  std::vector<std::string> peek;
  append_decide_args(limits, true, peek);
  EXPECT_EQ(peek, (std::vector<std::string>{"2", "k:lb", "k:fw", want[5], "0", want[7], "0"}))
      << "a peek costs nothing, and never sends the now override";

  // Integers near 2^53 are written in full.
  const limit_params top =
      limit_params::make(algorithm::leaky_bucket, limit::max_exact_integer, hour, 1 << 20, hour);
  EXPECT_EQ(limit_spec(top, true), "1 9007199254740991 3600000000 1048576 3600000000 " +
                                       std::to_string(top.interval_num) + " " +
                                       std::to_string(top.interval_den) + " 1 0");
}

TEST(RedisDecideArgs, HeadCallsTheLibraryOrTheScripts) {
  const decision_code& code = decide_code();
  const auto head = [](decide_via via, bool peek) {
    const decide_head h = decide_head_of(via, peek);
    return std::string(h.command) + " " + std::string(h.name);
  };
  EXPECT_EQ(head(decide_via::function, false), "FCALL " + code.decide_function);
  EXPECT_EQ(head(decide_via::function, true), "FCALL_RO " + code.peek_function);
  EXPECT_EQ(head(decide_via::script, false), "EVALSHA " + code.decide_sha);
  EXPECT_EQ(head(decide_via::script, true), "EVALSHA " + code.peek_sha);
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

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST(RedisDecideCode, LibraryAndScriptsAreTheFilesInOrder) {
  const decision_code& code = decide_code();
  EXPECT_TRUE(std::regex_match(code.library_name, std::regex("sluice_[0-9a-f]{8}")))
      << code.library_name;
  EXPECT_EQ(code.decide_function, code.library_name + "_decide");
  EXPECT_EQ(code.peek_function, code.library_name + "_peek");
  EXPECT_EQ(code.library.rfind("#!lua name=" + code.library_name + "\n", 0), 0u);

  for (const std::string* text : {&code.library, &code.decide_script, &code.peek_script}) {
    std::size_t at = 0;
    for (const char* name : {"decision.lua", "bucket.lua", "fixed_window.lua", "sliding_window.lua",
                             "sliding_log.lua", "decide.lua"}) {
      const std::string_view source = lua_source(name);
      ASSERT_FALSE(source.empty()) << name;
      const std::size_t found = text->find(source, at);
      ASSERT_NE(found, std::string::npos) << name << " missing or out of order";
      at = found + source.size();
    }
  }
  // The library ends by registering its functions under its name.
  const std::string registered =
      replace_all(std::string(lua_source("register.lua")), "@LIBRARY@", code.library_name);
  EXPECT_TRUE(code.library.ends_with(registered));
  EXPECT_NE(registered.find("'" + code.library_name + "_decide'"), std::string::npos);
  EXPECT_EQ(code.library.find("@LIBRARY@"), std::string::npos);
  EXPECT_TRUE(code.decide_script.ends_with("\nreturn decide(KEYS, ARGV, false)\n"));
  EXPECT_TRUE(code.peek_script.ends_with("\nreturn decide(KEYS, ARGV, true)\n"));

  // The name is the hash of the library with the placeholder where the name goes.
  const std::string with_placeholder = replace_all(code.library, code.library_name, "@LIBRARY@");
  EXPECT_EQ(code.library_name, "sluice_" + sha1_hex(with_placeholder).substr(0, 8));
  EXPECT_EQ(code.decide_sha, sha1_hex(code.decide_script));
  EXPECT_EQ(code.peek_sha, sha1_hex(code.peek_script));
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(&decide_code(), &code) << "assembled once";
}

// The behaviour tests run through the Functions library and through the EVAL scripts.
class RedisDecideVia : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisDecideVia,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// ---- differential: the code against memory_store ----

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

TEST_P(RedisDecideVia, RandomSequencesMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server, GetParam());
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
TEST_P(RedisDecideVia, RandomReloadsMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server, GetParam());
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
TEST_P(RedisDecideVia, LoweredLogCapacityKeepsTheNewestEntries) {
  redis_server server;
  decide_runner redis(server, GetParam());
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
TEST_P(RedisDecideVia, RandomMultiLimitRequestsMatchTheMemoryStore) {
  redis_server server;
  decide_runner redis(server, GetParam());
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

TEST_P(RedisDecideVia, DeniedRequestLeavesEveryKeyUnchanged) {
  redis_server server;
  decide_runner redis(server, GetParam());
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

TEST_P(RedisDecideVia, ShadowLimitsNeverDenyAndAreChargedOnlyWhenTheyAllow) {
  redis_server server;
  decide_runner redis(server, GetParam());
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

TEST_P(RedisDecideVia, PeekNeverWrites) {
  redis_server server;
  decide_runner redis(server, GetParam());
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

TEST_P(RedisDecideVia, EveryKeyHasAnExpiryJustAfterItsStateTurnsFresh) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const four_limits f;
  const auto limits = f.limits("ttl:");
  const micros t = epoch_2026 + 10 * sec;  // 50 s before the minute ends
  ASSERT_TRUE(redis.decide(limits, false, t).admitted);
  // Fresh again at: tb one token (0.1 s), fw the window end (50 s), sw both windows
  // slid out (110 s), sl the entry left the window (60 s); + 1 s margin, and for the
  // strings 1 s of slack (their expiry is then kept while it covers the state).
  const long long want_ms[] = {100 + 2000, 50'000 + 2000, 110'000 + 2000, 60'000 + 1000};
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const long long pttl = redis.pttl(limits[i].key);
    EXPECT_LE(pttl, want_ms[i]) << limits[i].key;
    EXPECT_GT(pttl, want_ms[i] - 500) << limits[i].key;
  }
}

// A string state's expiry is set with 1 s of slack and kept (SET KEEPTTL) while it
// still covers the state plus the margin; then set again. 10/s, burst 100: each
// request moves the bucket's full time 100 ms further.
TEST_P(RedisDecideVia, ExpiryIsKeptWhileItCoversTheState) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params p = limit_params::make(algorithm::token_bucket, 10, sec, 100);
  const script_limit l{"kept", &p, 1, false};
  const micros t = epoch_2026;
  auto expiry = [&] {
    std::int64_t at = 0;
    packed_state_text(redis.run({"GET", "kept"}).text, &at);
    return at;
  };
  ASSERT_TRUE(redis.decide(std::span(&l, 1), false, t).admitted);
  EXPECT_EQ(expiry(), t + (100 + 2000 - 1) * ms);
  const long long first = redis.pttl("kept");
  EXPECT_GT(first, 2100 - 500);
  // Requests 2 to 10 need the key until t + 0.2 s .. t + 1 s, + 1 s: covered.
  for (int i = 2; i <= 10; ++i) {
    ASSERT_EQ(redis.decide(std::span(&l, 1), false, t).decisions[0].remaining, 100 - i);
    EXPECT_EQ(expiry(), t + 2099 * ms) << i;
    EXPECT_LE(redis.pttl("kept"), first) << "kept, not set again: " << i;
  }
  // The 11th needs it until t + 2.1 s: set again, from its own state.
  ASSERT_TRUE(redis.decide(std::span(&l, 1), false, t).admitted);
  EXPECT_EQ(expiry(), t + (1100 + 2000 - 1) * ms);
  EXPECT_GT(redis.pttl("kept"), 3100 - 500);
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
    // 0.1 s + 1 s margin (+ 1 s slack for strings).
    EXPECT_LE(redis.pttl(l.key), l.params->algo == algorithm::sliding_log ? 1100 : 2100) << l.key;
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
TEST_P(RedisDecideVia, ChargeLeavingAFreshStateKeepsNoKey) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params tb = limit_params::make(algorithm::token_bucket, 1, sec, 2);
  const script_limit zero{"fresh:tb", &tb, 0, false};
  const script_limit one{"fresh:tb", &tb, 1, false};
  const micros t = epoch_2026;
  EXPECT_TRUE(redis.decide(std::span(&zero, 1), false, t).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "");
  ASSERT_TRUE(redis.decide(std::span(&one, 1), false, t).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "packed:tb 1767225601000000 0");
  EXPECT_TRUE(redis.decide(std::span(&zero, 1), false, t + 2 * sec).admitted);
  EXPECT_EQ(redis.snapshot("fresh:tb"), "") << "refilled: dropped";
}

std::string little_endian(std::int64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff));
  return out;
}

// The state layout (packed: a tag byte, then little-endian int64s), and state of another
// algorithm under the same key (the limit's algorithm changed at reload) reads as fresh
// and is replaced.
TEST_P(RedisDecideVia, StateLayoutAndForeignStateReadsAsFresh) {
  redis_server server;
  decide_runner redis(server, GetParam());
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
  EXPECT_EQ(redis.snapshot("layout"), "packed:tb 1767225607142860 1");
  // The bytes themselves: tag 1, then 1767225607142860 = 0x00064748468d3dcc, 1, and the
  // expiry it set: 143 ms for the state + 1 s margin + 1 s slack, recorded 1 ms short.
  EXPECT_EQ(server.command({"GET", "layout"}),
            std::string("\x01\xcc\x3d\x8d\x46\x48\x47\x06\x00\x01\0\0\0\0\0\0\0", 17) +
                little_endian(t + 2142 * ms));
  EXPECT_EQ(decide(lb, 1).remaining, 2) << "token_bucket state is not leaky_bucket state";
  EXPECT_EQ(redis.snapshot("layout"), "packed:lb 1767225607142860 1");
  EXPECT_EQ(decide(fw, 2).remaining, 2);
  EXPECT_EQ(redis.snapshot("layout"), "packed:fw 1767225600000000 2");
  EXPECT_EQ(decide(sw, 1).remaining, 3);
  EXPECT_EQ(redis.snapshot("layout"), "packed:sw 1767225600000000 1 0");
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
  EXPECT_EQ(redis.snapshot("layout"), "packed:fw 1767225600000000 1");
}

// ---- atomicity, exactness, NOSCRIPT ----

TEST_P(RedisDecideVia, ConcurrentConnectionsAdmitExactlyTheLimit) {
  const decide_via via = GetParam();
  redis_server server;
  // One window of 2^50 us (35 years) so the test never straddles a boundary.
  const limit_params p = limit_params::make(algorithm::fixed_window, 1000, micros{1} << 50, 0);
  constexpr int threads = 8, per_thread = 250;
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      try {
        decide_runner redis(server, via);  // its own connection
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
  const std::string state = decide_runner(server, via).snapshot("race");
  EXPECT_TRUE(std::regex_match(state, std::regex("packed:fw [0-9]+ 1000"))) << state;
}

TEST_P(RedisDecideVia, UsesTheRedisClockWithoutOverride) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params p = limit_params::make(algorithm::token_bucket, 1, sec, 1);
  const script_limit l{"clock", &p, 1, false};
  const micros before = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const decide_outcome d = redis.decide(std::span(&l, 1));
  EXPECT_NEAR(static_cast<double>(d.now), static_cast<double>(before), 5e6);
  // The stored tat is one interval after the Redis clock.
  EXPECT_EQ(redis.snapshot("clock"), "packed:tb " + std::to_string(d.now + sec) + " 0");
}

// Parameters right at limit_params::exact()'s bound: every intermediate value near 2^53
// must still be exact in Lua doubles. Random sequences against the memory store.
TEST_P(RedisDecideVia, ExactAtThe2Pow53Boundary) {
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
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 10);
  twin both{store, redis};
  std::mt19937_64 rng(53);
  const std::regex packed_state("packed:[a-z]{2}( [0-9]+)+");
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
        EXPECT_TRUE(std::regex_match(state, packed_state)) << state;
      }
    }
  }
}

TEST(RedisDecide, NoscriptAfterFlushIsReportedAndReloadable) {
  redis_server server;
  decide_runner redis(server, decide_via::script);
  const limit_params p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const script_limit l{"noscript", &p, 1, false};
  ASSERT_TRUE(redis.decide(std::span(&l, 1)).admitted);
  EXPECT_EQ(redis.run({"SCRIPT", "FLUSH"}).text, "OK");

  for (bool peek : {false, true}) {
    const auto r = redis.run(redis.command(std::span(&l, 1), peek));
    EXPECT_EQ(r.type, REDIS_REPLY_ERROR);
    // What the client detects to send the script with EVAL and retry.
    EXPECT_EQ(r.text.rfind("NOSCRIPT", 0), 0u) << r.text;
  }
  redis.load();  // checks that the SHA1s are the scripts'
  const decide_outcome again = redis.decide(std::span(&l, 1));
  EXPECT_TRUE(again.admitted);
  EXPECT_EQ(again.decisions[0].remaining, 3) << "state survives a script flush";
}

TEST(RedisDecide, FunctionNotFoundAfterFlushIsReportedAndReloadable) {
  redis_server server;
  decide_runner redis(server, decide_via::function);
  const decision_code& code = decide_code();
  const limit_params p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const script_limit l{"flushed", &p, 1, false};
  ASSERT_TRUE(redis.decide(std::span(&l, 1)).admitted);
  EXPECT_EQ(redis.run({"FUNCTION", "FLUSH"}).text, "OK");

  for (bool peek : {false, true}) {
    const auto r = redis.run(redis.command(std::span(&l, 1), peek));
    EXPECT_EQ(r.type, REDIS_REPLY_ERROR);
    // What the client detects to FUNCTION LOAD again and retry.
    EXPECT_EQ(r.text.rfind("ERR Function not found", 0), 0u) << r.text;
  }
  // Loading without REPLACE: the first load creates it, a second finds it there (what
  // the client treats as loaded: another request or gateway was first).
  EXPECT_EQ(redis.run({"FUNCTION", "LOAD", code.library}).text, code.library_name);
  EXPECT_EQ(redis.run({"FUNCTION", "LOAD", code.library}).text,
            "ERR Library '" + code.library_name + "' already exists");
  const decide_outcome again = redis.decide(std::span(&l, 1));
  EXPECT_TRUE(again.admitted);
  EXPECT_EQ(again.decisions[0].remaining, 3) << "state survives a function flush";
}

// Where FUNCTION is unknown (Redis 6; here renamed away on a 7.x server), FCALL of a
// function nobody loaded says "not found" and FUNCTION LOAD says "unknown command":
// what switches the client to the scripts, which work there.
TEST(RedisDecide, WithoutFunctionsTheScriptsStillDecide) {
  redis_server server({"--rename-command", "FUNCTION", ""});
  decide_runner scripts(server, decide_via::script);
  const auto r = scripts.run({"FUNCTION", "LOAD", decide_code().library});
  EXPECT_EQ(r.text.rfind("ERR unknown command", 0), 0u) << r.text;
  EXPECT_THROW(decide_runner(server, decide_via::function), std::runtime_error);
  const limit_params p = limit_params::make(algorithm::token_bucket, 1, minute, 2);
  const script_limit l{"old", &p, 1, false};
  EXPECT_EQ(scripts.decide(std::span(&l, 1)).decisions[0].remaining, 1);
}

// The peek function is flagged no-writes: FCALL_RO may call it (on a replica too), and
// nothing can call the decide function read-only.
TEST(RedisDecide, PeekIsReadOnlyAndRunsOnAReplica) {
  // Replication over the socket only: no RDB file in the working directory.
  redis_server primary({"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"});
  decide_runner redis(primary, decide_via::function);
  const decision_code& code = decide_code();
  const limit_params p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const script_limit l{"replicated", &p, 2, false};
  ASSERT_TRUE(redis.decide(std::span(&l, 1)).admitted);
  std::vector<std::string> ro = {"FCALL_RO", code.decide_function};
  append_decide_args(std::span(&l, 1), false, ro);
  EXPECT_NE(redis.run(ro).text.find("write flag"), std::string::npos) << redis.run(ro).text;

  // A replica receives the library and the state with the replication stream.
  redis_server replica({"--replicaof", "127.0.0.1", std::to_string(primary.port()),
                        "--repl-diskless-load", "on-empty-db"});
  decide_runner on_replica(replica, decide_via::script);  // connects; loads only scripts
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string peeked;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto r = on_replica.run(decide_command(decide_via::function, std::span(&l, 1), true));
    if (r.type == REDIS_REPLY_ARRAY && r.integers.size() == 9) {
      peeked = std::to_string(r.integers[5]);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(peeked, "3") << "FCALL_RO of the peek on the replica: 3 of 5 left "
                         << redis.snapshot("replicated") << " "
                         << on_replica.snapshot("replicated");
  const auto write = on_replica.run(decide_command(decide_via::function, std::span(&l, 1), false));
  EXPECT_EQ(write.type, REDIS_REPLY_ERROR);
  EXPECT_EQ(write.text.rfind("READONLY", 0), 0u) << write.text;
}

// Two Sluice versions on one Redis (a rolling upgrade): each library has its own name,
// so loading one never replaces the other, and both decide on the same keys.
TEST(RedisDecide, TwoVersionsOfTheLibraryLiveSideBySide) {
  redis_server server;
  decide_runner redis(server, decide_via::function);
  const decision_code& code = decide_code();
  // "Another version": the same code with one more line, named by the same rule.
  const std::string with_placeholder =
      replace_all(code.library, code.library_name, "@LIBRARY@") + "-- another version\n";
  const std::string other_name = "sluice_" + sha1_hex(with_placeholder).substr(0, 8);
  ASSERT_NE(other_name, code.library_name);
  EXPECT_EQ(
      redis.run({"FUNCTION", "LOAD", replace_all(with_placeholder, "@LIBRARY@", other_name)}).text,
      other_name);
  const std::string libraries = server.command({"FUNCTION", "LIST", "LIBRARYNAME", "sluice_*"});
  EXPECT_NE(libraries.find(code.library_name), std::string::npos) << libraries;
  EXPECT_NE(libraries.find(other_name), std::string::npos) << libraries;
  const limit_params p = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const script_limit l{"shared", &p, 1, false};
  EXPECT_EQ(redis.decide(std::span(&l, 1)).decisions[0].remaining, 4);
  std::vector<std::string> other = {"FCALL", other_name + "_decide"};
  append_decide_args(std::span(&l, 1), false, other);
  const auto r = redis.run(other);
  ASSERT_EQ(r.integers.size(), 9u) << r.text;
  EXPECT_EQ(r.integers[5], 3) << "the other version charged the same key";
  EXPECT_EQ(redis.decide(std::span(&l, 1)).decisions[0].remaining, 2);
}

// Earlier versions stored decimal text ("tb <tat_us> <tat_frac>"); a rolling upgrade
// keeps that state: random sequences against the memory store where, now and then, the
// stored state is rewritten as the text an earlier version would have written.
TEST_P(RedisDecideVia, TextStateOfEarlierVersionsIsRead) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 12);
  twin both{store, redis};
  std::mt19937_64 rng(8);
  int rewritten = 0;
  for (algorithm a : {algorithm::token_bucket, algorithm::leaky_bucket, algorithm::fixed_window,
                      algorithm::sliding_window}) {
    for (int seq = 0; seq < 10; ++seq) {
      const limit_params p = random_params(a, rng);
      const std::string key = "text:" + std::string(to_string(a)) + ":" + std::to_string(seq);
      micros now = epoch_2026 + uniform(rng, 0, day);
      for (int i = 0; i < 60; ++i) {
        const std::string state = redis.snapshot(key);
        if (state.starts_with("packed:") && uniform(rng, 0, 2) == 0) {
          const auto pttl = std::to_string(redis.pttl(key));
          redis.run({"SET", key, state.substr(7), "PX", pttl});
          ASSERT_EQ(redis.snapshot(key), "string:" + state.substr(7));
          ++rewritten;
        }
        now += random_step(p, now, rng);
        ASSERT_EQ(both.request(p, key, now, random_cost(p, rng), false), "")
            << "sequence " << seq << " step " << i;
      }
    }
  }
  EXPECT_GT(rewritten, 100);
}

// Specs are remembered by their text, up to a bound past which the memory starts over:
// more distinct limits than that still decide exactly.
TEST_P(RedisDecideVia, ManyDistinctLimitsDecideExactly) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 12);
  twin both{store, redis};
  const micros t = epoch_2026 + 5 * sec;
  for (int round = 0; round < 2; ++round) {
    for (int n = 1; n <= 1100; ++n) {
      const limit_params p = limit_params::make(algorithm::token_bucket, n, minute, n);
      ASSERT_EQ(both.request(p, "many:" + std::to_string(n), t + round, 1, false), "") << n;
    }
  }
}

TEST_P(RedisDecideVia, BadArgumentsAreAnErrorReply) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const decide_head head = decide_head_of(GetParam(), false);
  auto call = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(head.command), std::string(head.name)});
    return redis.run(args).text;
  };
  const std::string spec = "0 1 1000000 1 0 1000000 1 0 0";
  EXPECT_EQ(call({"1", "k", spec}),
            "ERR sluice decide: expected a spec and a cost per key (+ now, + lease top-ups)");
  EXPECT_EQ(call({"1", "k", spec, "1", "now", "1", "extra"}),
            "ERR sluice decide: expected a spec and a cost per key (+ now, + lease top-ups)");
  EXPECT_EQ(call({"1", "k", spec, "1", "now", "extra"}),
            "ERR sluice decide: malformed lease top-ups");
  EXPECT_EQ(call({"1", "k", "9 1 1000000 1 0 1000000 1 0 0", "1"}),
            "ERR sluice decide: unknown algorithm 9");
  EXPECT_EQ(call({"1", "k", "0 1 1000000 1 0 1000000 1", "1"}),
            "ERR sluice decide: malformed limit spec \"0 1 1000000 1 0 1000000 1\"");
  EXPECT_EQ(call({"1", "k", "0 1 0 1 0 1000000 1 0 0", "1"}),
            "ERR sluice decide: limit spec out of range \"0 1 0 1 0 1000000 1 0 0\"");
  EXPECT_EQ(call({"1", "k", spec, "-1"}), "ERR sluice decide: malformed cost \"-1\"");
  EXPECT_EQ(call({"1", "k", spec, "x"}), "ERR sluice decide: malformed cost \"x\"");
  EXPECT_EQ(call({"1", "k", spec, "1", "x"}), "ERR sluice decide: malformed now");
  EXPECT_EQ(redis.snapshot("k"), "") << "nothing written";
}

}  // namespace
}  // namespace sluice::redis::test
