// The rate limit service's decisions on envoyproxy/ratelimit's README examples
// (tests/fixtures/rls/examples), with an injected clock and the memory store: each
// descriptor's status, all-or-nothing against charging each, peeks and hits_addend,
// unlimited, shadow_mode, replaces, a descriptor's own limit, unknown domains, and the
// requests the service refuses.
#include "limit/rls_decision.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "config/rls_loader.hpp"
#include "config/yaml_tree.hpp"

namespace sluice::limit {
namespace {

constexpr micros second = micros_per_second;
constexpr micros day = 86'400 * second;
// 2026-12-05T10:00:00Z: 10 hours into a day, a whole second.
constexpr micros t0 = 1'796'464'800 * second;

config::rls_config examples() {
  auto result = config::load_rls_config(std::string(SLUICE_FIXTURES_DIR) + "/rls/examples",
                                        [](std::string_view) { return std::nullopt; });
  if (!result.ok()) throw std::runtime_error(result.errors[0].to_string());
  return *result.config;
}

// One domain read from `text` (a test's own document).
config::rls_config document(std::string_view text) {
  auto parsed = config::parse_yaml(text, "rls.yaml", [](std::string_view) { return std::nullopt; });
  if (!parsed.root) throw std::runtime_error("unparsable test document");
  std::vector<config::config_error> errors;
  config::rls_config out;
  config::read_rls_document(*parsed.root, "rls.yaml", errors, out);
  if (!errors.empty()) throw std::runtime_error(errors[0].to_string());
  return out;
}

rls_descriptor_request descriptor(std::vector<rls_entry> entries) {
  return rls_descriptor_request{std::move(entries), std::nullopt, std::nullopt};
}

class RlsDecision : public ::testing::Test {
 protected:
  // Decides `request` at `now` and returns the evaluation (valid until the next call).
  const rls_evaluation& ask(const rls_request& request, micros now = t0,
                            rls_charging charging = rls_charging::all_or_nothing) {
    decide_rls(policy, request, store, now, charging, ev);
    EXPECT_TRUE(ev.problem.empty()) << ev.problem;
    return ev;
  }

  rls_request marketing(std::string_view to_number) const {
    return rls_request{"messaging",
                       {descriptor({{"message_type", "marketing"}, {"to_number", to_number}})}};
  }

  rls_policy policy{examples(), 42};
  memory_store store{1024};
  rls_evaluation ev;
};

TEST_F(RlsDecision, AllowsUpToTheLimitThenAnswersOverLimitUntilTheWindowEnds) {
  for (std::uint32_t i = 1; i <= 5; ++i) {
    const auto& e = ask(marketing("2061111111"));
    EXPECT_EQ(e.overall, rls_code::ok);
    ASSERT_EQ(e.statuses.size(), 1u);
    EXPECT_EQ(e.statuses[0].code, rls_code::ok);
    EXPECT_EQ(e.statuses[0].limit_remaining, 5 - i);
  }
  const auto& over = ask(marketing("2061111111"), t0 + 3 * second);
  EXPECT_EQ(over.overall, rls_code::over_limit);
  const auto& s = over.statuses[0];
  EXPECT_EQ(s.code, rls_code::over_limit);
  EXPECT_EQ(s.limit_remaining, 0u);
  ASSERT_TRUE(s.current_limit.has_value());
  EXPECT_EQ(s.current_limit->requests_per_unit, 5u);
  EXPECT_EQ(s.current_limit->unit, config::rls_unit::day);
  // Windows are aligned to the epoch: this day ends 14 hours after t0.
  EXPECT_EQ(s.duration_until_reset, 14 * 3600 * second - 3 * second);
  EXPECT_EQ(over.reported, 0);
  // The next day's window starts empty.
  EXPECT_EQ(ask(marketing("2061111111"), t0 + 14 * 3600 * second).overall, rls_code::ok);
}

TEST_F(RlsDecision, AKeyWithoutValueCountsEachValueApart) {
  for (int i = 0; i < 5; ++i) ask(marketing("1"));
  EXPECT_EQ(ask(marketing("1")).overall, rls_code::over_limit);
  EXPECT_EQ(ask(marketing("2")).statuses[0].limit_remaining, 4u);
}

TEST_F(RlsDecision, ARequestOverOneLimitChargesNoneOfItsDescriptors) {
  const rls_request both{"messaging",
                         {descriptor({{"message_type", "marketing"}, {"to_number", "7"}}),
                          descriptor({{"to_number", "7"}})}};
  for (int i = 0; i < 5; ++i) ask(both);
  const auto& denied = ask(both);
  EXPECT_EQ(denied.overall, rls_code::over_limit);
  EXPECT_EQ(denied.statuses[0].code, rls_code::over_limit);
  EXPECT_EQ(denied.statuses[1].code, rls_code::ok);
  EXPECT_EQ(denied.statuses[1].limit_remaining, 95u);  // what is left: not charged
  EXPECT_EQ(denied.reported, 0);
  // The per-number limit was charged 5 times, not 6.
  EXPECT_EQ(
      ask(rls_request{"messaging", {descriptor({{"to_number", "7"}})}}).statuses[0].limit_remaining,
      94u);
}

TEST_F(RlsDecision, ChargingEachDescriptorIsEnvoyproxyRatelimitsBehaviour) {
  const rls_request both{"messaging",
                         {descriptor({{"message_type", "marketing"}, {"to_number", "7"}}),
                          descriptor({{"to_number", "7"}})}};
  for (int i = 0; i < 5; ++i) ask(both, t0, rls_charging::each);
  const auto& denied = ask(both, t0, rls_charging::each);
  EXPECT_EQ(denied.overall, rls_code::over_limit);
  EXPECT_EQ(denied.statuses[1].code, rls_code::ok);
  EXPECT_EQ(denied.statuses[1].limit_remaining, 94u);  // charged although the request is over
}

TEST_F(RlsDecision, HitsAddendChargesThatManyAndZeroOnADescriptorIsAPeek) {
  rls_request three = marketing("9");
  three.hits_addend = 3;
  EXPECT_EQ(ask(three).statuses[0].limit_remaining, 2u);

  rls_request peek = marketing("9");
  peek.descriptors[0].hits_addend = 0;  // overrides the request's (unset = 1)
  EXPECT_EQ(ask(peek).statuses[0].limit_remaining, 2u);
  EXPECT_EQ(ask(peek).statuses[0].limit_remaining, 2u);

  // More than is left: over, nothing charged; then exactly what is left fits.
  three.descriptors[0].hits_addend = 3;
  EXPECT_EQ(ask(three).overall, rls_code::over_limit);
  rls_request two = marketing("9");
  two.descriptors[0].hits_addend = 2;
  EXPECT_EQ(ask(two).statuses[0].limit_remaining, 0u);
  // A peek of an exhausted limit is not over it (as there: 0 hits never exceed).
  EXPECT_EQ(ask(peek).statuses[0].code, rls_code::ok);

  // Hits beyond any limit are over, however many.
  rls_request huge = marketing("10");
  huge.descriptors[0].hits_addend = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(ask(huge).overall, rls_code::over_limit);
  EXPECT_EQ(ask(marketing("10")).statuses[0].limit_remaining, 4u);
}

TEST_F(RlsDecision, UnlimitedNoLimitAndUnknownDomainsAnswerOk) {
  const auto& unlimited = ask(rls_request{"internal", {descriptor({{"ldap", "x"}})}});
  EXPECT_EQ(unlimited.statuses[0].code, rls_code::ok);
  EXPECT_FALSE(unlimited.statuses[0].current_limit.has_value());
  EXPECT_EQ(unlimited.statuses[0].limit_remaining, std::numeric_limits<std::uint32_t>::max());
  EXPECT_TRUE(unlimited.checks.empty());

  const auto& none = ask(rls_request{"internal", {descriptor({{"nothing", "x"}})}});
  EXPECT_EQ(none.statuses[0].code, rls_code::ok);
  EXPECT_FALSE(none.statuses[0].current_limit.has_value());
  EXPECT_EQ(none.statuses[0].limit_remaining, 0u);
  EXPECT_EQ(none.reported, -1);

  // An unknown domain has no limits, not even a descriptor's own.
  rls_request unknown{"nope", {descriptor({{"a", "b"}})}};
  unknown.descriptors[0].limit = rls_limit_override{0, static_cast<int>(config::rls_unit::second)};
  const auto& u = ask(unknown);
  EXPECT_EQ(u.overall, rls_code::ok);
  EXPECT_FALSE(u.statuses[0].current_limit.has_value());
}

TEST_F(RlsDecision, ShadowModeCountsButAnswersOk) {
  const rls_request a{"example6", {descriptor({{"service", "s"}, {"user", "user-a"}})}};
  for (int i = 0; i < 10; ++i) ask(a);
  const auto& over = ask(a);
  EXPECT_EQ(over.overall, rls_code::ok);
  EXPECT_EQ(over.statuses[0].code, rls_code::ok);
  EXPECT_EQ(over.statuses[0].limit_remaining, 0u);
  // A shadow limit never makes a request over, so it charges the others.
  const rls_request ab{"example6",
                       {descriptor({{"service", "s"}, {"user", "user-a"}}),
                        descriptor({{"service", "s"}, {"user", "user-b"}})}};
  EXPECT_EQ(ask(ab).statuses[1].limit_remaining, 19u);
}

TEST_F(RlsDecision, AReplacingLimitTakesThePlaceOfTheNamedOne) {
  const rls_request request{"example7",
                            {descriptor({{"key_1", "value_1"}, {"user", "bkthomps"}}),
                             descriptor({{"key_2", "value_2"}, {"user", "bkthomps"}})}};
  for (std::uint32_t i = 1; i <= 10; ++i) {
    const auto& e = ask(request);
    EXPECT_EQ(e.overall, rls_code::ok) << i;
    EXPECT_FALSE(e.statuses[0].current_limit.has_value());  // replaced: no limit
    EXPECT_EQ(e.statuses[1].limit_remaining, 10 - i);
  }
  EXPECT_EQ(ask(request).overall, rls_code::over_limit);
  // Alone, the named limit applies (5/s).
  const auto& alone =
      ask(rls_request{"example7", {descriptor({{"key_1", "value_1"}, {"user", "bkthomps"}})}});
  ASSERT_TRUE(alone.statuses[0].current_limit.has_value());
  EXPECT_EQ(alone.statuses[0].current_limit->name, "specific_limit");
  EXPECT_EQ(alone.statuses[0].limit_remaining, 4u);
}

TEST_F(RlsDecision, ADescriptorsOwnLimitReplacesTheConfiguredOne) {
  rls_request request{"example9", {descriptor({{"key1", "value1"}})}};
  request.descriptors[0].limit = rls_limit_override{2, static_cast<int>(config::rls_unit::second)};
  EXPECT_EQ(ask(request).statuses[0].limit_remaining, 1u);
  EXPECT_EQ(ask(request).statuses[0].limit_remaining, 0u);
  const auto& over = ask(request);
  EXPECT_EQ(over.overall, rls_code::over_limit);
  ASSERT_TRUE(over.statuses[0].current_limit.has_value());
  EXPECT_EQ(over.statuses[0].current_limit->requests_per_unit, 2u);
  EXPECT_EQ(over.statuses[0].current_limit->name, "");
  EXPECT_EQ(over.statuses[0].duration_until_reset, second);
  // The next second is a new window.
  EXPECT_EQ(ask(request, t0 + second).overall, rls_code::ok);
  // A limit of 0 lets only peeks through.
  request.descriptors[0].limit->requests_per_unit = 0;
  EXPECT_EQ(ask(request).overall, rls_code::over_limit);
  request.descriptors[0].hits_addend = 0;
  EXPECT_EQ(ask(request).overall, rls_code::ok);
}

// Issue 14's calendar quotas through the `sluice:` extension: a month counts from local
// midnight of the anchor day (Europe/Berlin here), not 30-day epoch windows; a descriptor's
// own limit of the same unit keeps the reference's windows and its own state.
TEST_F(RlsDecision, TheExtensionsCalendarCountsCalendarMonths) {
  const rls_policy billing(document("domain: billing\ndescriptors:\n  - key: org\n    rate_limit:\n"
                                    "      unit: month\n      requests_per_unit: 2\n"
                                    "      sluice: { calendar: { time_zone: Europe/Berlin } }\n"),
                           42);
  const auto at = [&](const rls_request& r, micros now) -> const rls_evaluation& {
    decide_rls(billing, r, store, now, rls_charging::all_or_nothing, ev);
    EXPECT_TRUE(ev.problem.empty()) << ev.problem;
    return ev;
  };
  // From Python's zoneinfo: December 2026 in Berlin is [2026-11-30T23:00Z, 2026-12-31T23:00Z).
  constexpr micros december = 1'796'079'600 * second;
  constexpr micros january = 1'798'758'000 * second;
  const rls_request request{"billing", {descriptor({{"org", "acme"}})}};
  EXPECT_EQ(at(request, december - 1).overall, rls_code::ok) << "November's";
  EXPECT_EQ(at(request, december).overall, rls_code::ok);
  EXPECT_EQ(ev.statuses[0].duration_until_reset, january - december);
  EXPECT_EQ(at(request, t0).overall, rls_code::ok);
  EXPECT_EQ(at(request, t0).overall, rls_code::over_limit);
  EXPECT_EQ(ev.statuses[0].duration_until_reset, january - t0);
  EXPECT_EQ(at(request, january).overall, rls_code::ok) << "January starts at local midnight";

  // A descriptor's own limit of the same unit: the reference's 30-day epoch window, and
  // state apart from the calendar's.
  rls_request own = request;
  own.descriptors[0].limit = rls_limit_override{1, static_cast<int>(config::rls_unit::month)};
  EXPECT_EQ(at(own, january).overall, rls_code::ok);
  EXPECT_EQ(ev.statuses[0].duration_until_reset, 30 * day - january % (30 * day));
}

TEST_F(RlsDecision, TheHeadersDescribeTheLongestWaitOrTheLeastRemaining) {
  // 100/day for the number, 5/day for marketing to it.
  const rls_request two{"messaging",
                        {descriptor({{"to_number", "3"}}),
                         descriptor({{"message_type", "marketing"}, {"to_number", "3"}})}};
  EXPECT_EQ(ask(two).reported, 1);  // 4 left of 5, against 99 of 100
  for (int i = 0; i < 4; ++i) ask(two);
  const auto& over = ask(two);
  EXPECT_EQ(over.reported, 1);
  EXPECT_EQ(over.statuses[1].duration_until_reset, 14 * 3600 * second);
}

TEST_F(RlsDecision, MalformedRequestsAreRefusedWithAReason) {
  auto problem = [&](const rls_request& r) {
    decide_rls(policy, r, store, t0, rls_charging::all_or_nothing, ev);
    return std::string(ev.problem);
  };
  EXPECT_EQ(problem(rls_request{"", {descriptor({{"a", "b"}})}}),
            "rate limit domain must not be empty");
  EXPECT_EQ(problem(rls_request{"messaging", {}}), "rate limit descriptor list must not be empty");
  rls_request many{"messaging", {}};
  many.descriptors.assign(max_rls_descriptors + 1, descriptor({{"to_number", "1"}}));
  EXPECT_EQ(problem(many), "too many descriptors (at most 64)");
  rls_request deep{"messaging", {descriptor({})}};
  deep.descriptors[0].entries.assign(max_rls_entries + 1, rls_entry{"k", "v"});
  EXPECT_EQ(problem(deep), "too many entries in a descriptor (at most 16)");
  rls_request bad_unit{"messaging", {descriptor({{"to_number", "1"}})}};
  bad_unit.descriptors[0].limit = rls_limit_override{5, 0};
  EXPECT_EQ(problem(bad_unit), "a descriptor's limit has an unknown unit");
  bad_unit.descriptors[0].limit->unit = 8;
  EXPECT_EQ(problem(bad_unit), "a descriptor's limit has an unknown unit");
  EXPECT_TRUE(ev.statuses.empty());
  // Nothing was charged by any of them.
  EXPECT_EQ(
      ask(rls_request{"messaging", {descriptor({{"to_number", "1"}})}}).statuses[0].limit_remaining,
      99u);
}

TEST_F(RlsDecision, AReloadThatKeepsTheUnitKeepsTheCounts) {
  for (int i = 0; i < 3; ++i) ask(marketing("5"));
  rls_policy reloaded{examples(), 42};
  decide_rls(reloaded, marketing("5"), store, t0, rls_charging::all_or_nothing, ev);
  EXPECT_EQ(ev.statuses[0].limit_remaining, 1u);
}

TEST_F(RlsDecision, TheSluiceExtensionDecidesWithTheNamedAlgorithmInItsOwnState) {
  // 2 per second as a token bucket of 4: a burst of 4 at once, then one every 500 ms.
  rls_policy bucket{document("domain: api\ndescriptors:\n  - key: user\n    rate_limit:\n"
                             "      unit: second\n      requests_per_unit: 2\n"
                             "      sluice: { algorithm: token_bucket, burst: 4 }\n"),
                    42};
  const rls_request req{"api", {descriptor({{"user", "u1"}})}};
  for (std::uint32_t i = 1; i <= 4; ++i) {
    decide_rls(bucket, req, store, t0, rls_charging::all_or_nothing, ev);
    EXPECT_EQ(ev.overall, rls_code::ok);
    EXPECT_EQ(ev.statuses[0].limit_remaining, 4 - i);
  }
  decide_rls(bucket, req, store, t0 + 499'999, rls_charging::all_or_nothing, ev);
  EXPECT_EQ(ev.overall, rls_code::over_limit);
  EXPECT_EQ(ev.statuses[0].current_limit->requests_per_unit, 2u);
  // Until the bucket is full again, as the proxy's reset headers count for a bucket.
  EXPECT_EQ(ev.statuses[0].duration_until_reset, 4 * 500'000 - 499'999);
  decide_rls(bucket, req, store, t0 + 500'000, rls_charging::all_or_nothing, ev);
  EXPECT_EQ(ev.overall, rls_code::ok);
  EXPECT_EQ(ev.state_names[0], "rls:api:second:token_bucket");

  // The same entries under the reference's fixed window count apart from the bucket.
  rls_policy window{document("domain: api\ndescriptors:\n  - key: user\n    rate_limit:\n"
                             "      unit: second\n      requests_per_unit: 2\n"),
                    42};
  decide_rls(window, req, store, t0 + 500'000, rls_charging::all_or_nothing, ev);
  EXPECT_EQ(ev.overall, rls_code::ok);
  EXPECT_EQ(ev.statuses[0].limit_remaining, 1u);
  EXPECT_EQ(ev.state_names[0], "rls:api:second");
}

}  // namespace
}  // namespace sluice::limit
