// The refund of the Redis decision code (the compensating call of a Redis Cluster
// request whose keys span slots) against a real redis-server, through the Functions
// library and the EVAL script: a charge refunded at once is as if never made (the same
// decisions as a memory store that never saw it), a refund after other charges gives
// back exactly its cost, time elapsed since the charge is deducted from a bucket's
// refund, a refund never raises remaining above the limit, and, over random sequences
// with refunds at random later times, every request the Redis state kept would have
// been admitted by a limit that never saw the refunded ones (never over-admission).
// Plus the argument builder on its own.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "limit/algorithms/harness.hpp"
#include "limit/memory_store.hpp"
#include "redis/decide_runner.hpp"
#include "util/hash.hpp"

namespace sluice::redis::test {
namespace {

using namespace limit::algo_test;

std::uint64_t memory_key(const std::string& key) {
  return hash64(key, 0x5eed);
}

// ---- the argument builder (no Redis) ----

TEST(RedisRefundArgs, LayoutHasOnlyTheChargedLimitsAndChargedAt) {
  const limit_params tb = limit_params::make(algorithm::token_bucket, 7, sec, 3);
  const limit_params fw = limit_params::make(algorithm::fixed_window, 100, minute, 0);
  const script_limit limits[] = {{"k:tb", &tb, 2, false},
                                 {"k:watch", &fw, 1, true},   // a shadow limit that denied
                                 {"k:fw", &fw, 5, true},      // a shadow limit that allowed
                                 {"k:free", &fw, 0, false}};  // cost 0: charged nothing
  const decision allowed{.allowed = true};
  const decision denied{};
  const decision decisions[] = {allowed, denied, allowed, allowed};
  std::vector<std::string> out = {"FCALL", "f"};
  EXPECT_EQ(append_refund_args(limits, decisions, 1767225600123456, out), 2u);
  EXPECT_EQ(out, (std::vector<std::string>{
                     "FCALL", "f", "2", "k:tb", "k:fw", "0 7 1000000 3 0 1000000 7 0 0", "2",
                     "2 100 60000000 0 0 600000 1 1 0", "5", "1767225600123456"}));

  std::vector<std::string> none;
  const decision nothing[] = {denied, denied, denied, allowed};
  EXPECT_EQ(append_refund_args(limits, nothing, 5, none), 0u);
  EXPECT_TRUE(none.empty()) << "nothing to refund: nothing appended";

  EXPECT_TRUE(refund_reply_ok(0, 2));
  EXPECT_TRUE(refund_reply_ok(2, 2));
  EXPECT_FALSE(refund_reply_ok(3, 2));
  EXPECT_FALSE(refund_reply_ok(-1, 2));
}

TEST(RedisRefundArgs, HeadAndScripts) {
  const decision_code& code = decide_code();
  EXPECT_EQ(code.refund_function, code.library_name + "_refund");
  EXPECT_NE(code.library.find("'" + code.library_name + "_refund'"), std::string::npos);
  EXPECT_TRUE(code.refund_script.ends_with("\nreturn refund(KEYS, ARGV)\n"));
  EXPECT_EQ(code.refund_sha, sha1_hex(code.refund_script));
  const decide_head f = refund_head_of(decide_via::function);
  EXPECT_EQ(std::string(f.command) + " " + std::string(f.name), "FCALL " + code.refund_function);
  const decide_head s = refund_head_of(decide_via::script);
  EXPECT_EQ(std::string(s.command) + " " + std::string(s.name), "EVALSHA " + code.refund_sha);
  EXPECT_EQ(script_of(code.refund_sha), code.refund_script);
  EXPECT_EQ(script_of(code.decide_sha), code.decide_script);
  EXPECT_EQ(script_of(code.peek_sha), code.peek_script);
  EXPECT_EQ(script_of("0000"), "");
}

class RedisRefundVia : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisRefundVia,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

std::vector<script_limit> one(const std::string& key, const limit_params& p, std::int64_t cost,
                              bool shadow = false) {
  return {{key, &p, cost, shadow}};
}

// Random forward sequences per algorithm: Redis charges every request, and refunds about
// a third of the admitted ones at once (same instant); the memory store sees only the
// others. Every decision must be equal: a charge refunded at once leaves no trace.
TEST_P(RedisRefundVia, ChargeThenRefundIsAsIfNeverCharged) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 16);
  std::mt19937_64 rng(1010);
  for (algorithm a : all_algorithms) {
    int refunded = 0;
    for (int seq = 0; seq < 30; ++seq) {
      const limit_params p = random_params(a, rng);
      const std::string key = "undo:" + std::string(to_string(a)) + ":" + std::to_string(seq);
      micros now = epoch_2026 + uniform(rng, 0, day);
      for (int i = 0; i < 120; ++i) {
        now += random_step(p, now, rng);
        const std::int64_t cost = random_cost(p, rng);
        const auto limits = one(key, p, cost);
        const bool refund = uniform(rng, 0, 2) == 0;
        const decide_outcome got = redis.decide(limits, false, now);
        if (refund && got.admitted) {
          // What the memory store (never charged) says at this instant.
          const decision want = store.peek(memory_key(key), p, now);
          const long long r = redis.refund(limits, got, now);
          ASSERT_EQ(r, cost > 0 ? 1 : -1) << describe(p) << " step " << i;
          ++refunded;
          const decide_outcome after = redis.decide(limits, true, now);
          ASSERT_EQ(after.decisions[0], want) << describe(p) << " step " << i << " after refund";
          continue;
        }
        decision want;
        const limit::check c{memory_key(key), &p, cost, false};
        const bool want_admitted = store.decide(std::span(&c, 1), now, std::span(&want, 1));
        ASSERT_EQ(got.decisions[0], want) << describe(p) << " step " << i;
        ASSERT_EQ(got.admitted, want_admitted) << describe(p) << " step " << i;
      }
    }
    EXPECT_GT(refunded, 500) << to_string(a);
  }
}

// A, then B and C at the same instant or later in the same window; refunding A gives back
// exactly A's cost: the state equals that of B and C alone (the memory store's).
TEST_P(RedisRefundVia, RefundAfterOtherChargesGivesBackExactlyTheCost) {
  redis_server server;
  decide_runner redis(server, GetParam());
  limit::memory_store store(1 << 10);
  for (algorithm a : all_algorithms) {
    const bool bucket = a == algorithm::token_bucket || a == algorithm::leaky_bucket;
    const limit_params p =
        bucket ? limit_params::make(a, 10, sec, 20) : limit_params::make(a, 20, minute, 0);
    const std::string key = "between:" + std::string(to_string(a));
    const micros t = epoch_2026 + 7 * sec;
    // Windows: the others come later in the window; buckets: at the same instant (time
    // elapsed since the charge is deducted from a bucket's refund, tested below).
    const micros later = bucket ? t : t + 5 * sec;
    const decide_outcome charged = redis.decide(one(key, p, 3), false, t);
    ASSERT_TRUE(charged.admitted);
    for (micros at : {later, later}) {
      ASSERT_TRUE(redis.decide(one(key, p, 2), false, at).admitted);
      decision d;
      const limit::check c{memory_key(key), &p, 2, false};
      ASSERT_TRUE(store.decide(std::span(&c, 1), at, std::span(&d, 1)));
    }
    EXPECT_EQ(redis.decide(one(key, p, 0), true, later).decisions[0].remaining, 20 - 3 - 4);
    EXPECT_EQ(redis.refund(one(key, p, 3), charged, later), 1);
    EXPECT_EQ(redis.decide(one(key, p, 0), true, later).decisions[0],
              store.peek(memory_key(key), p, later))
        << to_string(a);
    EXPECT_EQ(redis.decide(one(key, p, 0), true, later).decisions[0].remaining, 20 - 4);
  }
}

// A bucket's refund gives back cost * interval minus the time since the charge: refill
// that a full bucket would have lost is not given back twice.
TEST_P(RedisRefundVia, BucketRefundDeductsTheTimeSinceTheCharge) {
  redis_server server;
  decide_runner redis(server, GetParam());
  for (algorithm a : {algorithm::token_bucket, algorithm::leaky_bucket}) {
    // 10/s: one token per 100 ms; burst 5.
    const limit_params p = limit_params::make(a, 10, sec, 5);
    const std::string key = "elapsed:" + std::string(to_string(a));
    const micros t = epoch_2026 + 3 * sec;
    const decide_outcome charged = redis.decide(one(key, p, 2), false, t);
    ASSERT_TRUE(charged.admitted);
    ASSERT_EQ(charged.decisions[0].remaining, 3);
    // 150 ms later: the bucket refilled 1.5 tokens (4.5 of 5). Without the charge it
    // would be full (5): the charge still holds 0.5 token, and the refund gives back
    // exactly that, not 2.
    const micros r = t + 150 * ms;
    EXPECT_EQ(redis.refund(one(key, p, 2), charged, r), 1);
    const decision after = redis.decide(one(key, p, 0), true, r).decisions[0];
    EXPECT_EQ(after.remaining, 5);
    EXPECT_EQ(after.reset, 0) << "full, not fuller";
    EXPECT_EQ(redis.snapshot(key),
              "packed:" + std::string(a == algorithm::token_bucket ? "tb" : "lb") + " " +
                  std::to_string(r) + " 0");

    // A bucket drained by others after the charge: 5 at t2, then 1 more at t2 + 100 ms
    // (when it has one token again): the first charge of 2 refunded 50 ms after it
    // gives back 2 tokens minus 50 ms of refill = 1.5 tokens.
    const std::string key2 = key + ":2";
    const micros t2 = epoch_2026 + 9 * sec;
    const decide_outcome first = redis.decide(one(key2, p, 2), false, t2);
    ASSERT_TRUE(redis.decide(one(key2, p, 3), false, t2).admitted);
    ASSERT_FALSE(redis.decide(one(key2, p, 1), false, t2 + 50 * ms).admitted);
    EXPECT_EQ(redis.refund(one(key2, p, 2), first, t2 + 50 * ms), 1);
    // tat was t2 + 500 ms and is now t2 + 350 ms: at t2 + 50 ms a debt of 300 ms, 3
    // tokens used, 2 left (1 more than before the refund, and 0.5 of a token below a
    // bucket that saw only the charge of 3 at t2).
    EXPECT_EQ(redis.decide(one(key2, p, 0), true, t2 + 50 * ms).decisions[0].remaining, 2);
    EXPECT_EQ(redis.snapshot(key2),
              "packed:" + std::string(a == algorithm::token_bucket ? "tb" : "lb") + " " +
                  std::to_string(t2 + 350 * ms) + " 0");

    // Refunded after the whole charge has refilled: nothing to give back.
    const std::string key3 = key + ":3";
    const decide_outcome late = redis.decide(one(key3, p, 2), false, t2);
    EXPECT_EQ(redis.refund(one(key3, p, 2), late, t2 + 200 * ms), 0);
    // The clock went back: no bound on what the charge still holds, nothing given back.
    const decide_outcome back = redis.decide(one(key3, p, 1), false, t2 + 300 * ms);
    EXPECT_EQ(redis.refund(one(key3, p, 1), back, t2 + 299 * ms), 0);
  }
}

// However often a refund is (wrongly) repeated, or however stale, remaining never
// exceeds the limit and a state never turns older than fresh.
TEST_P(RedisRefundVia, RefundNeverRaisesRemainingAboveTheLimit) {
  redis_server server;
  decide_runner redis(server, GetParam());
  for (algorithm a : all_algorithms) {
    const bool bucket = a == algorithm::token_bucket || a == algorithm::leaky_bucket;
    const limit_params p =
        bucket ? limit_params::make(a, 10, sec, 4) : limit_params::make(a, 4, minute, 0);
    const std::string key = "cap:" + std::string(to_string(a));
    const micros t = epoch_2026 + 20 * sec;
    const decide_outcome charged = redis.decide(one(key, p, 1), false, t);
    ASSERT_TRUE(charged.admitted);
    for (int i = 0; i < 3; ++i) redis.refund(one(key, p, 4), charged, t);
    const decision after = redis.decide(one(key, p, 0), true, t).decisions[0];
    EXPECT_EQ(after.remaining, 4) << to_string(a);
    EXPECT_EQ(after.limit, 4) << to_string(a);
    // Four requests fit again, the fifth does not.
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(redis.decide(one(key, p, 1), false, t).admitted) << to_string(a) << " " << i;
    }
    EXPECT_FALSE(redis.decide(one(key, p, 1), false, t).admitted) << to_string(a);

    // A refund of a charge whose window is gone (or bucket refilled) gives nothing.
    const micros much_later = t + 3 * p.period;
    const decide_outcome fresh = redis.decide(one(key, p, 1), false, much_later);
    ASSERT_TRUE(fresh.admitted);
    EXPECT_EQ(redis.refund(one(key, p, 1), charged, much_later), 0) << to_string(a);
    EXPECT_EQ(redis.decide(one(key, p, 0), true, much_later).decisions[0].remaining, 3)
        << to_string(a);
  }
}

// Absent keys and keys holding another algorithm's state get nothing; a refund writes
// no key that was not there, and keeps the key's expiry.
TEST_P(RedisRefundVia, AbsentOrForeignKeysGetNothingAndExpiriesStay) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params tb = limit_params::make(algorithm::token_bucket, 10, sec, 5);
  const limit_params sl = limit_params::make(algorithm::sliding_log, 5, minute, 0);
  const micros t = epoch_2026 + 30 * sec;
  decide_outcome fake{.admitted = true, .now = t, .decisions = {decision{.allowed = true}}};
  EXPECT_EQ(redis.refund(one("none", tb, 1), fake, t), 0);
  EXPECT_EQ(redis.snapshot("none"), "");
  // A log key read as a bucket, and a bucket key read as a log.
  ASSERT_TRUE(redis.decide(one("log", sl, 2), false, t).admitted);
  ASSERT_TRUE(redis.decide(one("tb", tb, 2), false, t).admitted);
  const std::string log_state = redis.snapshot("log"), tb_state = redis.snapshot("tb");
  EXPECT_EQ(redis.refund(one("log", tb, 1), fake, t), 0);
  EXPECT_EQ(redis.refund(one("tb", sl, 1), fake, t), 0);
  EXPECT_EQ(redis.snapshot("log"), log_state);
  EXPECT_EQ(redis.snapshot("tb"), tb_state);
  // Expiries stay: the refund lowers a state, which the charge's expiry still covers.
  const long long log_ttl = redis.pttl("log"), tb_ttl = redis.pttl("tb");
  ASSERT_GT(log_ttl, 0);
  ASSERT_GT(tb_ttl, 0);
  EXPECT_EQ(redis.refund(one("log", sl, 1), fake, t), 1);
  EXPECT_EQ(redis.refund(one("tb", tb, 1), fake, t), 1);
  EXPECT_GT(redis.pttl("log"), 0);
  EXPECT_LE(redis.pttl("log"), log_ttl);
  EXPECT_GT(redis.pttl("tb"), 0);
  EXPECT_LE(redis.pttl("tb"), tb_ttl);
  EXPECT_EQ(redis.run({"ZCARD", "log"}).integer, 1);
  // The last member gone: the sorted set is gone (no key without an expiry).
  EXPECT_EQ(redis.refund(one("log", sl, 5), fake, t), 1);
  EXPECT_EQ(redis.snapshot("log"), "");
}

// Several limits, one shadow that denied: the builder leaves it out, so its state is
// untouched; the others (a shadow that allowed included) get their cost back.
TEST_P(RedisRefundVia, ShadowLimitsAreRefundedWhenTheyWereCharged) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params fw1 = limit_params::make(algorithm::fixed_window, 1, minute, 0);
  const limit_params fw5 = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const limit_params sw = limit_params::make(algorithm::sliding_window, 5, minute, 0);
  const micros t = epoch_2026 + 40 * sec;
  ASSERT_TRUE(redis.decide(one("s:full", fw1, 1, true), false, t).admitted);
  const std::string full = redis.snapshot("s:full");
  const std::vector<script_limit> limits = {
      {"s:enforced", &fw5, 2, false}, {"s:full", &fw1, 1, true}, {"s:watch", &sw, 1, true}};
  const decide_outcome charged = redis.decide(limits, false, t);
  ASSERT_TRUE(charged.admitted);
  ASSERT_FALSE(charged.decisions[1].allowed);
  ASSERT_TRUE(charged.decisions[2].allowed);
  EXPECT_EQ(redis.refund(limits, charged, t), 2);
  EXPECT_EQ(redis.snapshot("s:full"), full) << "the denying shadow limit was not charged";
  EXPECT_EQ(redis.decide(limits, true, t).decisions[0].remaining, 5);
  EXPECT_EQ(redis.decide(limits, true, t).decisions[2].remaining, 5);
}

// The safety property over random sequences: Redis charges every request and refunds
// some admitted ones later (after other requests, at a later time, in any order). Every
// request Redis kept (admitted, never refunded), replayed alone through a memory store,
// must be admitted there: the limit never admitted more than it allows. At the end the
// Redis state is at least as full as the replay's (remaining never higher).
TEST_P(RedisRefundVia, KeptRequestsAlwaysConformWithoutTheRefundedOnes) {
  redis_server server;
  decide_runner redis(server, GetParam());
  std::mt19937_64 rng(99);
  for (algorithm a : all_algorithms) {
    int refunds = 0, kept_total = 0;
    for (int seq = 0; seq < 25; ++seq) {
      const limit_params p = random_params(a, rng);
      const std::string key = "safe:" + std::string(to_string(a)) + ":" + std::to_string(seq);
      struct request {
        micros t;
        std::int64_t cost;
        decide_outcome outcome;
        bool refunded = false;
      };
      std::vector<request> requests;
      std::vector<std::size_t> pending;  // admitted, to be refunded later
      micros now = epoch_2026 + uniform(rng, 0, day);
      for (int i = 0; i < 150; ++i) {
        now += random_step(p, now, rng);
        if (!pending.empty() && uniform(rng, 0, 3) == 0) {
          const std::size_t at = static_cast<std::size_t>(
              uniform(rng, 0, static_cast<std::int64_t>(pending.size()) - 1));
          request& r = requests[pending[at]];
          pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(at));
          redis.refund(one(key, p, r.cost), r.outcome, now);
          r.refunded = true;
          ++refunds;
          continue;
        }
        const std::int64_t cost = std::min(random_cost(p, rng), p.capacity());
        requests.push_back({now, cost, redis.decide(one(key, p, cost), false, now)});
        if (requests.back().outcome.admitted && cost > 0 && uniform(rng, 0, 2) == 0) {
          pending.push_back(requests.size() - 1);
        }
      }
      limit::memory_store replay(1 << 8);
      const std::uint64_t h = memory_key(key);
      for (const request& r : requests) {
        if (!r.outcome.admitted || r.refunded) continue;
        decision d;
        const limit::check c{h, &p, r.cost, false};
        ASSERT_TRUE(replay.decide(std::span(&c, 1), r.t, std::span(&d, 1)))
            << describe(p) << " seq " << seq << " t " << r.t << " cost " << r.cost;
        ++kept_total;
      }
      EXPECT_LE(redis.decide(one(key, p, 0), true, now).decisions[0].remaining,
                replay.peek(h, p, now).remaining)
          << describe(p) << " seq " << seq;
    }
    EXPECT_GT(refunds, 300) << to_string(a);
    EXPECT_GT(kept_total, 1000) << to_string(a);
  }
}

// More distinct limits in one call than the library remembers specs for (it starts
// its memory over midway): every key still gets its own spec back.
TEST_P(RedisRefundVia, MoreDistinctLimitsThanRememberedSpecs) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const micros t = epoch_2026 + 45 * sec;
  std::vector<limit_params> params;
  for (int n = 1; n <= 1100; ++n) {
    params.push_back(limit_params::make(algorithm::fixed_window, n + 1, minute, 0));
  }
  std::vector<script_limit> limits;
  for (int n = 0; n < 1100; ++n) {
    limits.push_back({"many:{x}:" + std::to_string(n), &params[n], 1, false});
  }
  const decide_outcome charged = redis.decide(limits, false, t);
  ASSERT_TRUE(charged.admitted);
  EXPECT_EQ(redis.refund(limits, charged, t), 1100);
  const decide_outcome after = redis.decide(limits, true, t);
  for (int n = 0; n < 1100; ++n) {
    ASSERT_EQ(after.decisions[n].remaining, n + 2) << n;
  }
}

TEST_P(RedisRefundVia, BadArgumentsAreAnErrorReplyAndWriteNothing) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const limit_params fw = limit_params::make(algorithm::fixed_window, 5, minute, 0);
  const micros t = epoch_2026 + 50 * sec;
  ASSERT_TRUE(redis.decide(one("k", fw, 2), false, t).admitted);
  const std::string before = redis.snapshot("k");
  const decide_head head = refund_head_of(GetParam());
  auto call = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(head.command), std::string(head.name)});
    return redis.run(args).text;
  };
  const std::string spec = limit_spec(fw, false);
  const std::string at = std::to_string(t);
  const std::string expected =
      "ERR sluice refund: expected a spec and a cost per key, charged_at (+ now)";
  EXPECT_EQ(call({"1", "k", spec, "1"}), expected);
  EXPECT_EQ(call({"1", "k", spec, "1", at, "", "x"}), expected);
  EXPECT_EQ(call({"1", "k", spec, "1", "x"}), "ERR sluice refund: malformed charged_at");
  EXPECT_EQ(call({"1", "k", spec, "1", "-1"}), "ERR sluice refund: malformed charged_at");
  EXPECT_EQ(call({"1", "k", spec, "1", at, "x"}), "ERR sluice refund: malformed now");
  EXPECT_EQ(call({"1", "k", spec, "-1", at}), "ERR sluice refund: malformed cost \"-1\"");
  EXPECT_EQ(call({"1", "k", spec, "1.5", at}), "ERR sluice refund: malformed cost \"1.5\"");
  EXPECT_EQ(call({"2", "k", "k2", spec, "1", "9 1 1 1 0 1 1 0 0", "1", at}),
            "ERR sluice decide: unknown algorithm 9");
  EXPECT_EQ(redis.snapshot("k"), before) << "a bad call changes no key";
}

}  // namespace
}  // namespace sluice::redis::test
