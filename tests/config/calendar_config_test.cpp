// A limit's `calendar:` and the calendar rates N/day, N/week, N/month (issue 14,
// calendar quotas): one fixture per error, exact messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/units.hpp"
#include "config_test_support.hpp"
#include "limit/policy.hpp"

namespace sluice::config {
namespace {

using testing::fake_env;
using testing::fixture;

constexpr limit::micros day = 86400 * limit::micros_per_second;

TEST(ConfigCalendar, RatesPerDayWeekAndMonth) {
  auto month = units::parse_rate("1000000/month");
  ASSERT_TRUE(month.value) << month.error;
  EXPECT_EQ(month.value->calendar, limit::calendar_unit::month);
  EXPECT_EQ(month.value->period, 31 * day) << "the longest month, for validation";
  EXPECT_EQ(units::format_rate(*month.value), "1000000/month");
  auto week = units::parse_rate("5000/week");
  ASSERT_TRUE(week.value);
  EXPECT_EQ(week.value->calendar, limit::calendar_unit::week);
  EXPECT_EQ(week.value->period, 7 * day);
  for (const char* text : {"100/day", "100/d"}) {
    auto d = units::parse_rate(text);
    ASSERT_TRUE(d.value) << text;
    EXPECT_EQ(d.value->calendar, limit::calendar_unit::day);
    EXPECT_EQ(d.value->period, day);
    EXPECT_EQ(units::format_rate(*d.value), "100/day");
  }
  // A duration is a fixed length, never a calendar period.
  auto hours = units::parse_rate("100/24h");
  ASSERT_TRUE(hours.value);
  EXPECT_EQ(hours.value->calendar, limit::calendar_unit::none);
  EXPECT_EQ(units::format_rate(*hours.value), "100/1d");
  EXPECT_FALSE(units::parse_rate("100/months").value);
  EXPECT_FALSE(units::parse_rate("100/year").value);
}

TEST(ConfigCalendar, ReadsTheBlockAndCompilesTheZone) {
  auto result =
      load_config(fixture("policy/config.yaml"), fake_env({{"POLICY", "cases/calendar_ok.yaml"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& limits = result.config->policy.limits;
  ASSERT_EQ(limits.size(), 4u);
  ASSERT_TRUE(limits[0].calendar);
  EXPECT_EQ(limits[0].calendar->time_zone, "Europe/Berlin");
  EXPECT_EQ(limits[0].calendar->anchor_day, 15);
  EXPECT_FALSE(limits[1].calendar) << "N/week without calendar: UTC weeks from Monday";
  ASSERT_TRUE(limits[2].calendar);
  EXPECT_EQ(limits[2].calendar->time_zone, "America/New_York");
  EXPECT_EQ(limits[2].calendar->anchor_day, 1);

  const limit::policy pol(*result.config, 1);
  const auto compiled = pol.limits();
  ASSERT_TRUE(compiled[0].calendar);
  EXPECT_EQ(compiled[0].calendar->zone, limit::find_time_zone("Europe/Berlin"));
  EXPECT_EQ(compiled[0].calendar->anchor_day, 15);
  EXPECT_EQ(compiled[0].params.calendar, limit::calendar_unit::month);
  ASSERT_TRUE(compiled[1].calendar);
  EXPECT_EQ(compiled[1].calendar->zone, nullptr) << "UTC";
  EXPECT_EQ(compiled[1].params.calendar, limit::calendar_unit::week);
  ASSERT_TRUE(compiled[2].calendar);
  EXPECT_EQ(compiled[2].params.calendar, limit::calendar_unit::day);
  // N/day without calendar: the 24 h window from UTC midnight it always was.
  EXPECT_FALSE(compiled[3].calendar);
  EXPECT_EQ(compiled[3].params.calendar, limit::calendar_unit::none);
  EXPECT_EQ(compiled[3].params.period, day);
  EXPECT_EQ(compiled[3].params.algo, limit::algorithm::token_bucket);
}

TEST(ConfigCalendar, WeeksAndMonthsAreQuotasOfFixedWindows) {
  EXPECT_POLICY_ERROR("calendar_month_token_bucket",
                      "4:11: limits[0].rate: rate 1000000/month is a quota per calendar month: "
                      "it needs algorithm: fixed_window (this limit uses token_bucket)");
  EXPECT_POLICY_ERROR("calendar_block_sliding_window",
                      "6:15: limits[0].calendar: calendar: counts a quota per calendar period, "
                      "which needs algorithm: fixed_window (this limit uses sliding_window)");
}

TEST(ConfigCalendar, TheBlockNeedsACalendarRate) {
  EXPECT_POLICY_ERROR("calendar_fixed_length_rate",
                      "5:11: limits[0].rate: calendar: counts per calendar day, week or month, so "
                      "the rate must be N/day, N/week or N/month (got 100/h)");
  EXPECT_POLICY_ERROR("calendar_tier_hourly",
                      "8:11: limits[0].tier: tier 'pro': calendar: counts per calendar day, week "
                      "or month, so the rate must be N/day, N/week or N/month (got 100/h)");
}

TEST(ConfigCalendar, ZoneFromTheTzDatabaseAndAnAnchorThatFitsTheUnit) {
  EXPECT_POLICY_ERROR("calendar_unknown_zone",
                      "6:28: limits[0].calendar.time_zone: unknown time zone 'Europe/Atlantis' (an "
                      "IANA name from the system's tz database, e.g. Europe/Berlin or UTC)");
  EXPECT_POLICY_ERROR("calendar_anchor_32",
                      "6:29: limits[0].calendar.anchor_day: must be between 1 and 31 (got 32)");
  EXPECT_POLICY_ERROR("calendar_anchor_for_day",
                      "6:29: limits[0].calendar.anchor_day: anchor_day applies to N/week and "
                      "N/month (a day starts at local midnight); remove it or use another rate "
                      "than 100/day");
  EXPECT_POLICY_ERROR("calendar_week_anchor_8",
                      "6:29: limits[0].calendar.anchor_day: with rate 100/week, anchor_day is the "
                      "weekday a week starts: 1 (Monday) to 7 (Sunday), got 8");
}

TEST(ConfigCalendar, NoLeaseOnACalendarQuota) {
  EXPECT_POLICY_ERROR("calendar_lease",
                      "6:12: limits[0].lease: a lease cannot serve a quota per calendar period "
                      "(its windows move with the calendar, so unspent leased units could not be "
                      "given back exactly); remove the lease");
}

}  // namespace
}  // namespace sluice::config
