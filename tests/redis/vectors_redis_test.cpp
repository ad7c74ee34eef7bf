// The shared algorithm vectors (tests/fixtures/algorithm_vectors.json, format in
// tests/limit/algorithms/vectors_test.cpp) replayed through the Redis decision code with
// the test-only clock override, through the Functions library (FCALL; every cost-0 step
// also as a peek, FCALL_RO) and through the EVAL scripts of servers without Functions
// (EVALSHA): the same expected decisions as the C++ algorithms (STYLE 5). Also replayed
// through memory_store, the C++ twin the code's commit-or-delete rules mirror.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "limit/algorithms/harness.hpp"
#include "limit/algorithms/vectors.hpp"
#include "limit/memory_store.hpp"
#include "redis/decide_runner.hpp"
#include "util/hash.hpp"

namespace sluice::redis::test {
namespace {

using limit::algorithm;
using limit::decision;
using limit::limit_params;
using limit::micros;
namespace json = boost::json;

using limit::algo_test::expected;
using limit::algo_test::integer;
using limit::algo_test::load_vectors;
using limit::algo_test::params_of;

class RedisVectors : public ::testing::TestWithParam<decide_via> {};
INSTANTIATE_TEST_SUITE_P(Both, RedisVectors,
                         ::testing::Values(decide_via::function, decide_via::script),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST_P(RedisVectors, ReplayThroughTheRedisCode) {
  redis_server server;
  decide_runner redis(server, GetParam());
  const json::array cases = load_vectors();
  ASSERT_FALSE(cases.empty());
  int steps = 0, peeks = 0;
  for (const json::value& v : cases) {
    const json::object& c = v.as_object();
    const std::string name(c.at("name").as_string());
    const limit_params p = params_of(c);
    ASSERT_TRUE(p.exact()) << name;
    int index = 0;
    for (const json::value& sv : c.at("steps").as_array()) {
      const json::object& s = sv.as_object();
      const script_limit l{"vectors:" + name, &p, integer(s, "cost"), false};
      const decision want = expected(s, p);
      if (integer(s, "cost") == 0) {
        // A step of cost 0 answers what a peek answers, and the peek writes nothing.
        const std::string before = redis.snapshot(l.key);
        const decide_outcome peek = redis.decide(std::span(&l, 1), true, integer(s, "t_us"));
        EXPECT_EQ(peek.decisions[0], want) << name << " step " << index << " (peek)";
        EXPECT_TRUE(peek.admitted);
        EXPECT_EQ(redis.snapshot(l.key), before) << name << " step " << index << " (peek)";
        ++peeks;
      }
      const decide_outcome got = redis.decide(std::span(&l, 1), false, integer(s, "t_us"));
      EXPECT_EQ(got.decisions[0], want)
          << name << " step " << index << " (t_us " << integer(s, "t_us") << ", cost "
          << integer(s, "cost") << ")";
      EXPECT_EQ(got.admitted, want.allowed) << name << " step " << index;
      EXPECT_EQ(got.now, integer(s, "t_us"));
      ++index;
      ++steps;
    }
  }
  EXPECT_GT(steps, 100);
  EXPECT_GT(peeks, 5);
}

// The Redis code stores like memory_store (a state equal to a fresh one is dropped), not
// like the test harness' limiter (which keeps it): the vectors hold for both.
TEST(RedisVectors, ReplayThroughTheMemoryStore) {
  limit::memory_store store(1 << 12);
  const json::array cases = load_vectors();
  for (const json::value& v : cases) {
    const json::object& c = v.as_object();
    const std::string name(c.at("name").as_string());
    const limit_params p = params_of(c);
    const std::uint64_t key = hash64(name, 0x5eed);  // spread like the engine's keys
    int index = 0;
    for (const json::value& sv : c.at("steps").as_array()) {
      const json::object& s = sv.as_object();
      const limit::check check{key, &p, integer(s, "cost"), false};
      decision got;
      store.decide(std::span(&check, 1), integer(s, "t_us"), std::span(&got, 1));
      EXPECT_EQ(got, expected(s, p)) << name << " step " << index;
      ++index;
    }
  }
}

}  // namespace
}  // namespace sluice::redis::test
