// Replays tests/fixtures/algorithm_vectors.json, the vectors every backend must agree
// on (the in-memory C++ algorithms here; the Redis Lua scripts replay the same file).
//
// Format: a JSON array of cases.
//   case: {
//     "name":         unique identifier,
//     "algorithm":    token_bucket | leaky_bucket | fixed_window | sliding_window | sliding_log,
//     "count":        N, units per period,
//     "period_us":    the rate's period in microseconds (the window for window algorithms),
//     "burst":        bucket capacity (buckets; 0 for windows),
//     "max_delay_us": leaky_bucket shaping hold limit (0 otherwise),
//     "why":          how the expected values were derived,
//     "steps": [ {
//       "t_us":  request time, microseconds since the Unix epoch (Redis TIME),
//       "cost":  units requested (0 = peek),
//       "expect": { "allowed", "remaining", "reset_us", "retry_after_us" (0 when allowed),
//                   "delay_us" (leaky_bucket hold, else 0), "cost_exceeds_limit" },
//       "why":   optional note } ]
//   }
// Each case starts from a fresh key; steps run in order on one key and the state is
// committed after every allowed step (cost 0 included), never after a denied one.
// Times may step backwards on purpose (clock-step cases). Every number is an integer
// below 2^53, so Lua doubles read them exactly. The expected values were derived by hand
// (see the "why" texts) and cross-checked with an independent model, not copied from an
// implementation's output.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <string>

#include "harness.hpp"
#include "vectors.hpp"

namespace sluice::limit {
namespace {

using namespace algo_test;
namespace json = boost::json;

TEST(AlgorithmVectors, FileIsWellFormed) {
  const json::array cases = load_vectors();
  std::map<std::string, int> per_algorithm;
  std::set<std::string> names;
  for (const json::value& v : cases) {
    const json::object& c = v.as_object();
    const std::string name(c.at("name").as_string());
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    EXPECT_FALSE(c.at("why").as_string().empty()) << name;
    ++per_algorithm[std::string(c.at("algorithm").as_string())];
    EXPECT_FALSE(c.at("steps").as_array().empty()) << name;
    for (const json::value& s : c.at("steps").as_array()) {
      const std::int64_t t = integer(s.as_object(), "t_us");
      EXPECT_GT(t, std::int64_t{1'700'000'000} * sec) << name << ": realistic epoch times";
      EXPECT_LE(t, max_exact_integer) << name;
    }
  }
  for (auto a : {algorithm::token_bucket, algorithm::leaky_bucket, algorithm::fixed_window,
                 algorithm::sliding_window, algorithm::sliding_log}) {
    EXPECT_GE(per_algorithm[std::string(to_string(a))], 5) << to_string(a);
  }
}

TEST(AlgorithmVectors, ReplayAgainstTheAlgorithms) {
  const json::array cases = load_vectors();
  ASSERT_FALSE(cases.empty());
  int steps = 0;
  for (const json::value& v : cases) {
    const json::object& c = v.as_object();
    const std::string name(c.at("name").as_string());
    const limit_params p = params_of(c);
    ASSERT_TRUE(p.exact()) << name;
    limiter l(p);
    int index = 0;
    for (const json::value& sv : c.at("steps").as_array()) {
      const json::object& s = sv.as_object();
      const decision want = expected(s, p);
      const decision got = l.request(integer(s, "t_us"), integer(s, "cost"));
      EXPECT_EQ(got, want) << name << " step " << index << " (t_us " << integer(s, "t_us")
                           << ", cost " << integer(s, "cost") << ")";
      ++index;
      ++steps;
    }
  }
  EXPECT_GT(steps, 100);
}

}  // namespace
}  // namespace sluice::limit
