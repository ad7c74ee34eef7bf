// The shared algorithm vectors (tests/fixtures/algorithm_vectors.json, format in
// tests/limit/algorithms/vectors_test.cpp) replayed through the Redis decision script
// with the test-only clock override: the same expected decisions as the C++ algorithms
// (STYLE 5). Also replayed through memory_store, the C++ twin the script's
// commit-or-delete rules mirror.
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

TEST(RedisVectors, ReplayThroughTheScript) {
  redis_server server;
  decide_runner redis(server);
  const json::array cases = load_vectors();
  ASSERT_FALSE(cases.empty());
  int steps = 0;
  for (const json::value& v : cases) {
    const json::object& c = v.as_object();
    const std::string name(c.at("name").as_string());
    const limit_params p = params_of(c);
    ASSERT_TRUE(p.exact()) << name;
    int index = 0;
    for (const json::value& sv : c.at("steps").as_array()) {
      const json::object& s = sv.as_object();
      const script_limit l{"vectors:" + name, &p, integer(s, "cost"), false};
      const decide_outcome got = redis.decide(std::span(&l, 1), false, integer(s, "t_us"));
      const decision want = expected(s, p);
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
}

// The script stores like memory_store (a state equal to a fresh one is dropped), not
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
