// Load-aware limits (limit/load_factors.hpp): the latency histogram, the AIMD controller
// on a synthetic signal, and a simulated overloaded upstream it protects. No clock: the
// controller moves once per tick() and the tests call tick() as the gateway's timer would.
#include "limit/load_factors.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine_support.hpp"

namespace sluice::limit {
namespace {

constexpr micros ms = 1000;
constexpr micros t0 = 1'767'225'600LL * micros_per_second;

config::adaptive_def adaptive(config::adaptive_signal signal, double target,
                              double min_factor = 0.25) {
  config::adaptive_def a;
  a.signal = signal;
  a.target = target;
  a.min_factor = min_factor;
  a.max_factor = 1.0;
  return a;
}

class LoadFactorsTest : public ::testing::Test {
 protected:
  void build(config::adaptive_def a, std::int64_t rate = 300) {
    config::loaded_config c;
    auto l = make_limit("api", {config::key_part{}}, config::rate{rate, micros_per_second},
                        algorithm::token_bucket, rate);
    l.adaptive = a;
    c.policy.limits = {l};
    c.policy.limits.push_back(make_limit("other", {config::key_part{}}, config::rate{10, ms}));
    pol_ = std::make_unique<policy>(c, 7);
    request_facts f{"GET", "/", *ip_address::parse("192.0.2.1"), false, nullptr};
    prepare(*pol_, f, nullptr, t0, ev_);
    tick();  // the gateway ticks once at start: the limit gets its slot
  }
  // `n` requests answered in `latency` each (failed ones count as errors).
  void answer(int n, micros latency, bool failed = false) {
    for (int i = 0; i < n; ++i) {
      const auto counted = factors_.started(ev_);
      factors_.finished(ev_, counted, latency, failed);
    }
  }
  load_factors::reading tick() {
    auto r = factors_.tick(pol_->limits());
    EXPECT_EQ(r.size(), 1u);  // only the adaptive limit is read
    return r.empty() ? load_factors::reading{} : r[0];
  }
  double factor() const {
    scaling_query q;
    q.limit = &pol_->limits()[0];
    return factors_.factor(q);
  }

  std::unique_ptr<policy> pol_;
  evaluation ev_;
  load_factors factors_;
};

TEST(LatencyHistogram, QuantileIsTheUpperBoundOfItsBucket) {
  std::array<std::int64_t, load_factors::latency_buckets> counts{};
  EXPECT_EQ(load_factors::quantile(counts, 0.9), 0);
  counts[load_factors::bucket_of(20 * ms)] = 90;
  counts[load_factors::bucket_of(400 * ms)] = 10;
  const micros p90 = load_factors::quantile(counts, 0.9);
  EXPECT_GE(p90, 20 * ms);
  EXPECT_LT(p90, 25 * ms);  // buckets are 25% wide
  const micros p99 = load_factors::quantile(counts, 0.99);
  EXPECT_GE(p99, 400 * ms);
  EXPECT_LT(p99, 500 * ms);
  EXPECT_EQ(load_factors::bucket_of(0), 0u);
  EXPECT_EQ(load_factors::bucket_of(1'000'000 * ms), load_factors::latency_buckets - 1);
}

TEST_F(LoadFactorsTest, SlowAnswersCutTheFactorDownToMinFactorAndNoFurther) {
  build(adaptive(config::adaptive_signal::upstream_latency, 50 * ms));
  const double expected[] = {0.7, 0.49, 0.343, 0.25, 0.25};
  for (double e : expected) {
    answer(20, 200 * ms);
    EXPECT_NEAR(tick().factor, e, 1e-9);
  }
  EXPECT_NEAR(factor(), 0.25, 1e-9);
  // The other limit has no adaptive: never scaled.
  scaling_query q;
  q.limit = &pol_->limits()[1];
  EXPECT_EQ(factors_.factor(q), 1.0);
}

TEST_F(LoadFactorsTest, FastAnswersOrNoEvidenceRaiseItBackAdditively) {
  build(adaptive(config::adaptive_signal::upstream_latency, 50 * ms));
  for (int i = 0; i < 4; ++i) {
    answer(20, 200 * ms);
    tick();
  }
  // The slow answers still fill the two-tick window once more.
  answer(20, 10 * ms);
  EXPECT_NEAR(tick().factor, 0.25, 1e-9);
  answer(20, 10 * ms);
  EXPECT_NEAR(tick().factor, 0.30, 1e-9);
  EXPECT_NEAR(tick().factor, 0.35, 1e-9);  // the window still holds the fast answers
  EXPECT_NEAR(tick().factor, 0.40, 1e-9);  // an empty window: no evidence, keeps rising
  answer(5, 900 * ms);                     // too few answers to judge, however slow
  EXPECT_NEAR(tick().factor, 0.45, 1e-9);
  for (int i = 0; i < 30; ++i) tick();
  EXPECT_NEAR(factor(), 1.0, 1e-9);  // and never above max_factor
}

TEST_F(LoadFactorsTest, ErrorShareIsTheSignalForUpstreamErrors) {
  build(adaptive(config::adaptive_signal::upstream_errors, 0.1, 0.5));
  answer(18, 5 * ms);
  answer(2, 5 * ms, true);  // 10%: not past target
  auto r = tick();
  EXPECT_NEAR(r.signal, 0.1, 1e-9);
  EXPECT_EQ(r.factor, 1.0);
  answer(15, 5 * ms);
  answer(5, 5 * ms, true);  // window: 7 of 40
  r = tick();
  EXPECT_NEAR(r.signal, 7.0 / 40.0, 1e-9);
  EXPECT_NEAR(r.factor, 0.7, 1e-9);
  answer(10, 5 * ms, true);
  EXPECT_NEAR(tick().factor, 0.5, 1e-9);  // min_factor 0.5
}

TEST_F(LoadFactorsTest, InflightCountsRequestsStillWaitingForTheUpstream) {
  build(adaptive(config::adaptive_signal::upstream_inflight, 3));
  std::uint64_t counted = 0;
  for (int i = 0; i < 4; ++i) counted = factors_.started(ev_);  // 4 waiting: past 3
  EXPECT_EQ(counted, 1u);                                       // applied limit 0: "api"
  auto r = tick();
  EXPECT_EQ(r.signal, 4);
  EXPECT_NEAR(r.factor, 0.7, 1e-9);
  factors_.finished(ev_, counted, 5 * ms, false);
  factors_.abandoned(ev_, counted);  // 2 waiting now
  r = tick();
  EXPECT_EQ(r.signal, 4);  // the peak of the tick that ended
  r = tick();
  EXPECT_EQ(r.signal, 2);
  EXPECT_NEAR(r.factor, 0.54, 1e-9);  // 0.49 + 0.05
}

// A limit gets its slot at the first tick after it appears (start, reload): a request
// that went upstream before counts neither in nor out.
TEST(LoadFactors, ARequestStartedBeforeTheLimitsFirstTickNeverCountsOut) {
  config::loaded_config c;
  auto l = make_limit("api", {config::key_part{}}, config::rate{10, micros_per_second});
  l.adaptive = adaptive(config::adaptive_signal::upstream_inflight, 1);
  c.policy.limits = {l};
  policy pol(c, 7);
  evaluation ev;
  request_facts f{"GET", "/", *ip_address::parse("192.0.2.1"), false, nullptr};
  prepare(pol, f, nullptr, t0, ev);
  load_factors factors;
  const auto early = factors.started(ev);
  EXPECT_EQ(early, 0u);
  factors.tick(pol.limits());  // the slot appears
  factors.finished(ev, early, 5 * ms, false);
  const auto one = factors.started(ev);
  EXPECT_EQ(factors.tick(pol.limits())[0].signal, 1);  // one in flight, not zero
  factors.abandoned(ev, one);
  factors.tick(pol.limits());
  EXPECT_EQ(factors.tick(pol.limits())[0].signal, 0);
}

TEST_F(LoadFactorsTest, TheFleetsLowerFactorWinsButNotBelowMinFactor) {
  build(adaptive(config::adaptive_signal::upstream_latency, 50 * ms));
  factors_.set_fleet_factor("api", 0.4);
  EXPECT_NEAR(factor(), 0.4, 1e-9);
  auto r = tick();  // no evidence here: own stays 1.0, the fleet's 0.4 applies
  EXPECT_EQ(r.factor, 1.0);
  EXPECT_NEAR(r.effective, 0.4, 1e-9);
  EXPECT_TRUE(r.logged_change);  // 1.0 -> 0.4: more than 10%
  EXPECT_FALSE(tick().logged_change);
  factors_.set_fleet_factor("api", 0.1);
  EXPECT_NEAR(tick().effective, 0.25, 1e-9);
  factors_.set_fleet_factor("api", 1.0);
  EXPECT_EQ(factor(), 1.0);
}

// An upstream that answers in 20 ms up to 100 requests a second and slows with the
// square of its overload beyond; 300 requests a second offered through a 300/s limit
// with `adaptive: { signal: upstream_latency, target: 50ms }`, ticks of 250 ms.
TEST_F(LoadFactorsTest, SimulationSettlesNearCapacityAndRecovers) {
  build(adaptive(config::adaptive_signal::upstream_latency, 50 * ms));
  constexpr double capacity = 100, limit = 300;
  auto run = [&](double offered, int ticks, std::vector<double>& admitted_per_s) {
    for (int t = 0; t < ticks; ++t) {
      const double admitted = std::min(offered, limit * factor());
      const double load = admitted / capacity;
      const auto latency = static_cast<micros>(20 * ms * std::max(1.0, load * load));
      answer(static_cast<int>(admitted / 4), latency);
      tick();
      admitted_per_s.push_back(admitted);
      EXPECT_GE(factor(), 0.25);
    }
  };
  std::vector<double> overload, after;
  run(300, 40, overload);
  // Reacts within a second: by the fourth tick under 1.6 x capacity.
  EXPECT_LT(overload[4], 160);
  double sum = 0;
  for (std::size_t i = 8; i < overload.size(); ++i) sum += overload[i];
  const double mean = sum / static_cast<double>(overload.size() - 8);
  EXPECT_GT(mean, 0.9 * capacity);  // not starved
  EXPECT_LT(mean, 1.6 * capacity);  // while 3 x capacity is offered
  // The overload ends (80/s offered): back to the full limit within 5 s.
  run(80, 20, after);
  EXPECT_EQ(factor(), 1.0);
  std::printf(
      "simulation: admitted/s under 300/s offered to a 100/s upstream: tick 0 %.0f, "
      "tick 4 %.0f, mean of ticks 8-39 %.0f; factor after recovery %.2f\n",
      overload[0], overload[4], mean, factor());
}

}  // namespace
}  // namespace sluice::limit
