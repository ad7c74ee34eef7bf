// Limits scaled at run time (limit/scaling.hpp): the scaled parameters, and prepare()
// pointing a request at them when a source gives a factor below 1, with the memory
// store keeping each key's state across factor changes.
#include "limit/scaling.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "engine_support.hpp"
#include "limit/engine.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;
constexpr micros minute = 60 * micros_per_second;

TEST(Scaled, MultipliesCountAndBurstKeepsThePeriod) {
  const auto p = limit_params::make(algorithm::token_bucket, 100, minute, 40);
  const auto s = scaled(p, 0.25);
  EXPECT_EQ(s.count, 25);
  EXPECT_EQ(s.burst, 10);
  EXPECT_EQ(s.period, minute);
  EXPECT_EQ(s.capacity(), 10);
  EXPECT_EQ(s.interval_num * 25, s.interval_den * minute);  // 25 per minute
}

TEST(Scaled, WindowsScaleTheirCountOnly) {
  const auto p = limit_params::make(algorithm::fixed_window, 10, minute, 0);
  const auto s = scaled(p, 0.3);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.burst, 0);
  EXPECT_EQ(s.capacity(), 3);
}

TEST(Scaled, NeverBelowOneAndNeverUp) {
  const auto p = limit_params::make(algorithm::sliding_log, 3, minute, 0);
  EXPECT_EQ(scaled(p, 0.01).count, 1);
  EXPECT_EQ(scaled(p, 1.0).count, 3);
  EXPECT_EQ(scaled(p, 2.5).count, 3);           // the configured numbers are the ceiling
  EXPECT_EQ(scaled(p, std::nan("")).count, 3);  // a broken source changes nothing
  EXPECT_EQ(scaled(p, -1.0).count, 3);
}

// Factors by key text, for one limit name.
class table_source final : public scaling_source {
 public:
  double factor(const scaling_query& q) const override {
    ++asked;
    auto it = by_key.find(std::string(q.key));
    return it == by_key.end() ? 1.0 : it->second;
  }
  std::map<std::string, double> by_key;
  mutable int asked = 0;
};

class ScalingTest : public ::testing::Test {
 protected:
  void build(bool scales) {
    config::loaded_config c;
    auto l = make_limit("per-ip", {config::key_part{config::key_part_kind::ip, {}}},
                        config::rate{10, minute}, algorithm::token_bucket, 10);
    if (scales) l.penalty = config::penalty_def{};
    c.policy.limits = {l};
    c.policy.limits.push_back(
        make_limit("global", {config::key_part{}}, config::rate{1000, minute}));
    pol_ = std::make_unique<policy>(c, 7);
    sources_.add(&source_);
  }
  const evaluation& run(std::string_view client) {
    request_facts f{"GET", "/", *ip_address::parse(client), false, nullptr};
    prepare(*pol_, f, nullptr, t0, ev_, &sources_);
    conclude(ev_, store_.decide(ev_.checks, t0, ev_.decisions));
    return ev_;
  }
  int admitted(int n, std::string_view client) {
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += run(client).result == outcome::allowed;
    return ok;
  }

  std::unique_ptr<policy> pol_;
  table_source source_;
  scaling_sources sources_;
  memory_store store_{1000};
  evaluation ev_;
};

TEST_F(ScalingTest, AFactorBelowOneScalesThatKeyOnly) {
  build(true);
  source_.by_key["192.0.2.1"] = 0.3;
  EXPECT_EQ(admitted(20, "192.0.2.1"), 3);
  EXPECT_EQ(ev_.applied[0].result.limit, 3);  // the headers report the effective limit
  EXPECT_DOUBLE_EQ(ev_.applied[0].factor, 0.3);
  EXPECT_EQ(admitted(20, "192.0.2.2"), 10);
  EXPECT_EQ(ev_.applied[0].params, &pol_->limits()[0].params);  // unscaled: the policy's own
}

// A bucket's state is the time it will be full again (limit/algorithms/bucket.hpp), so
// a key's debt keeps its length in time across a factor change, as across a reload.
TEST_F(ScalingTest, StateCarriesAcrossAFactorChange) {
  build(true);
  EXPECT_EQ(admitted(2, "192.0.2.1"), 2);  // 10/min: 2 tokens are 12 s of debt
  source_.by_key["192.0.2.1"] = 0.5;       // 5/min, burst 5: 12 s is 1 token, 4 left
  EXPECT_EQ(admitted(20, "192.0.2.1"), 4);
  EXPECT_EQ(ev_.applied[0].result.limit, 5);
  source_.by_key.erase("192.0.2.1");  // back to 10/min: 60 s of debt is the whole burst
  EXPECT_EQ(admitted(20, "192.0.2.1"), 0);
  EXPECT_EQ(ev_.applied[0].result.limit, 10);
  EXPECT_EQ(ev_.applied[0].result.retry_after, 6 * micros_per_second);  // one token's time
}

TEST_F(ScalingTest, LimitsWithoutAdaptiveOrPenaltyAreNeverAsked) {
  build(false);
  source_.by_key["192.0.2.1"] = 0.1;
  EXPECT_EQ(admitted(12, "192.0.2.1"), 10);
  EXPECT_EQ(source_.asked, 0);
}

// The check API asks with prepare_single: it sees the effective limit too.
TEST_F(ScalingTest, TheCheckApiDecidesOnTheScaledLimit) {
  build(true);
  source_.by_key["192.0.2.9"] = 0.5;
  const limit_params& params = pol_->limits()[0].params;
  int ok = 0;
  for (int i = 0; i < 8; ++i) {
    prepare_single(*pol_, 0, params, "192.0.2.9", 1, t0, ev_, &sources_);
    ok += store_.decide(ev_.checks, t0, ev_.decisions);
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(ev_.decisions[0].limit, 5);
  prepare_single(*pol_, 0, params, "192.0.2.9", 1, t0, ev_);  // without sources: as configured
  EXPECT_EQ(ev_.checks[0].params, &params);
}

TEST(ScalingSources, FactorsMultiply) {
  table_source a, b;
  a.by_key["k"] = 0.5;
  b.by_key["k"] = 0.5;
  scaling_sources s;
  EXPECT_TRUE(s.empty());
  s.add(&a);
  s.add(&b);
  scaling_query q;
  q.key = "k";
  EXPECT_DOUBLE_EQ(s.factor(q), 0.25);
  q.key = "other";
  EXPECT_DOUBLE_EQ(s.factor(q), 1.0);
}

}  // namespace
}  // namespace sluice::limit
