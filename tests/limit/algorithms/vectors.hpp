// Reading tests/fixtures/algorithm_vectors.json, shared by the replays against the C++
// algorithms (vectors_test.cpp) and against the Lua scripts in Redis
// (tests/redis/vectors_redis_test.cpp): both read the cases the same way.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string_view>

#include "harness.hpp"

namespace sluice::limit::algo_test {

inline boost::json::array load_vectors() {
  std::ifstream in(SLUICE_FIXTURES_DIR "/algorithm_vectors.json");
  EXPECT_TRUE(in) << "cannot open algorithm_vectors.json";
  std::stringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str()).as_array();
}

inline std::int64_t integer(const boost::json::object& o, std::string_view key) {
  return o.at(key).to_number<std::int64_t>();
}

// A case's limit; "origin_us" (optional, fixed_window) moves where windows start, as a
// calendar period does (config/calendar.hpp).
inline limit_params params_of(const boost::json::object& c) {
  limit_params p =
      limit_params::make(algorithm_from_name(c.at("algorithm").as_string()), integer(c, "count"),
                         integer(c, "period_us"), integer(c, "burst"), integer(c, "max_delay_us"));
  if (c.contains("origin_us")) p.origin = integer(c, "origin_us");
  return p;
}

// A step's expected answer.
inline decision expected(const boost::json::object& step, const limit_params& p) {
  const boost::json::object& e = step.at("expect").as_object();
  return decision{
      .allowed = e.at("allowed").as_bool(),
      .cost_exceeds_limit = e.at("cost_exceeds_limit").as_bool(),
      .limit = p.capacity(),
      .remaining = integer(e, "remaining"),
      .reset = integer(e, "reset_us"),
      .retry_after = integer(e, "retry_after_us"),
      .delay = integer(e, "delay_us"),
  };
}

}  // namespace sluice::limit::algo_test
