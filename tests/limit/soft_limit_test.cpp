// Soft limits (limit/soft_limit.hpp): the threshold of a share or a count on the
// decision's effective capacity, and conclude() marking an admitted request degraded by
// the enforced limits it took past their `soft:` (shadow ones: counted, never marked).
#include "limit/soft_limit.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine_support.hpp"
#include "limit/scaling.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;
constexpr micros minute = 60 * micros_per_second;

config::soft_def share(std::int32_t basis_points) {
  return config::soft_def{0, basis_points};
}
config::soft_def count(std::int64_t n) {
  return config::soft_def{n, 0};
}

decision admitted_with(std::int64_t limit, std::int64_t remaining) {
  decision d;
  d.allowed = true;
  d.limit = limit;
  d.remaining = remaining;
  return d;
}

TEST(SoftThreshold, AShareOfTheEffectiveLimitRoundedDown) {
  EXPECT_EQ(soft_threshold(share(8000), 10), 8);
  EXPECT_EQ(soft_threshold(share(8000), 7), 5);  // 5.6
  EXPECT_EQ(soft_threshold(share(8250), 1000), 825);
  EXPECT_EQ(soft_threshold(share(1), 9999), 0);  // 0.9999
  EXPECT_EQ(soft_threshold(share(9999), 1), 0);
  EXPECT_EQ(soft_threshold(share(5000), 0), 0);
  // No overflow at the largest exact limit: floor((2^53 - 1) * 0.9999).
  constexpr std::int64_t big = max_exact_integer;
  EXPECT_EQ(soft_threshold(share(9999), big),
            static_cast<std::int64_t>(static_cast<__int128>(big) * 9999 / 10000));
}

TEST(SoftThreshold, ACountIsClippedToTheEffectiveLimit) {
  EXPECT_EQ(soft_threshold(count(7), 10), 7);
  EXPECT_EQ(soft_threshold(count(7), 5), 5);  // scaled down below the count
  EXPECT_EQ(soft_threshold(count(7), 0), 0);
}

TEST(PastSoft, UsedUnitsAfterTheRequestAboveTheThreshold) {
  const auto s = share(8000);                        // 8 of 10
  EXPECT_FALSE(past_soft(s, admitted_with(10, 2)));  // 8 used
  EXPECT_TRUE(past_soft(s, admitted_with(10, 1)));   // 9 used
  EXPECT_TRUE(past_soft(s, admitted_with(10, 0)));
  decision denied = admitted_with(10, 0);
  denied.allowed = false;
  EXPECT_FALSE(past_soft(s, denied));  // a 429 is not degraded
  // A count clipped to a scaled-down limit is never passed.
  EXPECT_FALSE(past_soft(count(7), admitted_with(5, 0)));
}

// Factors by key text (what a penalty or load-aware source would say).
class table_source final : public scaling_source {
 public:
  double factor(const scaling_query& q) const override {
    auto it = by_key.find(std::string(q.key));
    return it == by_key.end() ? 1.0 : it->second;
  }
  std::map<std::string, double> by_key;
};

class SoftLimitTest : public ::testing::Test {
 protected:
  config::limit_def& add(std::string name, std::int64_t n, std::optional<config::soft_def> soft,
                         algorithm algo = algorithm::token_bucket) {
    auto l = make_limit(std::move(name), {config::key_part{config::key_part_kind::ip, {}}},
                        config::rate{n, minute}, algo);
    l.soft = soft;
    cfg_.policy.limits.push_back(l);
    return cfg_.policy.limits.back();
  }
  void build() {
    pol_ = std::make_unique<policy>(cfg_, 7);
    sources_.add(&source_);
  }
  const evaluation& run(std::string_view client = "192.0.2.1") {
    request_facts f{"GET", "/", *ip_address::parse(client), false, nullptr};
    prepare(*pol_, f, nullptr, t0, ev_, &sources_);
    conclude(ev_, store_.decide(ev_.checks, t0, ev_.decisions));
    return ev_;
  }
  std::string names() const {
    std::string out;
    append_degraded_names(ev_, out);
    return out;
  }
  // Per request of `n`: "." forwarded plain, "d" degraded, "x" limited.
  std::string pattern(int n, std::string_view client = "192.0.2.1") {
    std::string out;
    for (int i = 0; i < n; ++i) {
      const auto& ev = run(client);
      out += ev.result == outcome::limited ? 'x' : ev.degraded ? 'd' : '.';
    }
    return out;
  }

  config::loaded_config cfg_;
  std::unique_ptr<policy> pol_;
  table_source source_;
  scaling_sources sources_;
  memory_store store_{1000};
  evaluation ev_;
};

TEST_F(SoftLimitTest, RequestsPastTheSoftShareAreDegradedThenLimited) {
  add("per-ip", 10, share(8000));
  build();
  EXPECT_EQ(pattern(12), "........ddxx");
}

TEST_F(SoftLimitTest, DegradedRequestsNameTheLimit) {
  add("per-ip", 10, share(8000));
  build();
  for (int i = 0; i < 8; ++i) run();
  EXPECT_EQ(names(), "");
  run();
  EXPECT_TRUE(ev_.degraded);
  EXPECT_TRUE(ev_.applied[0].degraded);
  EXPECT_EQ(names(), "per-ip");
  run();
  run();  // limited: nothing is degraded
  EXPECT_EQ(ev_.result, outcome::limited);
  EXPECT_FALSE(ev_.degraded);
  EXPECT_FALSE(ev_.applied[0].degraded);
  EXPECT_EQ(names(), "");
}

TEST_F(SoftLimitTest, AnAbsoluteCount) {
  add("per-ip", 5, count(3));
  build();
  EXPECT_EQ(pattern(6), "...ddx");
}

TEST_F(SoftLimitTest, WindowAlgorithmsToo) {
  add("window", 4, share(5000), algorithm::fixed_window);
  build();
  EXPECT_EQ(pattern(5), "..ddx");
}

TEST_F(SoftLimitTest, SeveralLimitsPastTheirSoftAreListedInOrder) {
  add("per-ip", 10, share(5000));
  add("hard-only", 100, std::nullopt);
  add("global", 8, count(2));
  build();
  for (int i = 0; i < 3; ++i) run();  // 3 used: past global's 2, not per-ip's 5
  EXPECT_EQ(names(), "global");
  for (int i = 0; i < 3; ++i) run();  // 6 used: past both
  EXPECT_EQ(names(), "per-ip, global");
  EXPECT_FALSE(ev_.applied[1].degraded);
}

TEST_F(SoftLimitTest, AShadowLimitIsCountedButNeverMarksTheRequest) {
  add("shadow", 4, share(5000)).shadow = true;
  add("per-ip", 10, std::nullopt);
  build();
  for (int i = 0; i < 3; ++i) run();
  EXPECT_TRUE(ev_.applied[0].degraded);  // for rate_limit_degraded_total
  EXPECT_FALSE(ev_.degraded);
  EXPECT_EQ(names(), "");
  EXPECT_EQ(pattern(3), "...");  // past the shadow limit's capacity: still forwarded plain
}

TEST_F(SoftLimitTest, OneLimitDenyingMeansNoneDegrades) {
  add("soft", 10, share(1000));
  add("hard", 3, std::nullopt);
  build();
  EXPECT_EQ(pattern(4), ".ddx");
  EXPECT_FALSE(ev_.applied[0].degraded);
}

// Other parts of issue 15 scale a limit down per request: a share is taken of the
// effective (scaled) capacity, a count is clipped to it.
TEST_F(SoftLimitTest, AShareAppliesToTheScaledCapacity) {
  add("per-ip", 10, share(8000)).penalty = config::penalty_def{};
  build();
  source_.by_key["192.0.2.1"] = 0.5;  // capacity 5: 80% is 4
  EXPECT_EQ(pattern(6), "....dx");
  EXPECT_EQ(ev_.applied[0].result.limit, 5);
  EXPECT_EQ(pattern(11, "192.0.2.2"), "........ddx");  // unscaled key: 80% of 10
}

TEST_F(SoftLimitTest, ACountIsClippedToTheScaledCapacity) {
  add("per-ip", 10, count(7)).penalty = config::penalty_def{};
  build();
  source_.by_key["192.0.2.1"] = 0.5;  // capacity 5 <= 7: never past the soft count
  EXPECT_EQ(pattern(6), ".....x");
}

}  // namespace
}  // namespace sluice::limit
