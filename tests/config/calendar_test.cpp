// Calendar periods (issue 14, calendar quotas): the day, week or month of a time zone
// that holds an instant. Expected instants computed independently with Python's
// zoneinfo over the same tz database (datetime(..., tzinfo=ZoneInfo(zone)).timestamp()).
#include "config/calendar.hpp"

#include <gtest/gtest.h>

namespace sluice::limit {
namespace {

constexpr micros hour = 3600 * micros_per_second;
constexpr micros day = 24 * hour;

calendar in(std::string_view zone, int anchor_day = 1) {
  calendar c;
  c.zone = find_time_zone(zone);
  EXPECT_NE(c.zone, nullptr) << zone;
  c.anchor_day = anchor_day;
  return c;
}

void expect_period(const calendar& c, calendar_unit unit, micros now, micros start, micros end) {
  const calendar_period p = period_at(c, unit, now);
  EXPECT_EQ(p.start, start) << "now " << now;
  EXPECT_EQ(p.end, end) << "now " << now;
}

TEST(CalendarPeriod, UtcMonthStartsOnTheFirstAtMidnight) {
  const calendar utc;  // no zone: UTC, anchor day 1
  // 2026-02-15 -> [2026-02-01, 2026-03-01)
  expect_period(utc, calendar_unit::month, 1771113600000000, 1769904000000000, 1772323200000000);
  // The last microsecond of February is February's; the next is March's.
  expect_period(utc, calendar_unit::month, 1772323200000000 - 1, 1769904000000000,
                1772323200000000);
  expect_period(utc, calendar_unit::month, 1772323200000000, 1772323200000000, 1775001600000000);
}

TEST(CalendarPeriod, BerlinMonthAcrossTheSpringChangeIsAnHourShort) {
  // 2026-03-15 12:00 CET -> [2026-03-01 00:00 CET, 2026-04-01 00:00 CEST).
  expect_period(in("Europe/Berlin"), calendar_unit::month, 1773572400000000, 1772319600000000,
                1774994400000000);
  EXPECT_EQ(1774994400000000 - 1772319600000000, 31 * day - hour);
}

TEST(CalendarPeriod, BerlinDaysOfTheClockChangesLast23And25Hours) {
  const calendar berlin = in("Europe/Berlin");
  // 2026-03-29 (clocks forward at 02:00): 23 h.
  expect_period(berlin, calendar_unit::day, 1774778400000000, 1774738800000000, 1774821600000000);
  EXPECT_EQ(1774821600000000 - 1774738800000000, 23 * hour);
  // 2026-10-25 (clocks back at 03:00): 25 h.
  expect_period(berlin, calendar_unit::day, 1792926000000000, 1792879200000000, 1792969200000000);
  EXPECT_EQ(1792969200000000 - 1792879200000000, 25 * hour);
}

TEST(CalendarPeriod, AMidnightDaylightSavingSkipsStartsTheDayAtTheJump) {
  // America/Sao_Paulo, 2018-11-04: 00:00 -03 became 01:00 -02 (03:00Z), so the day
  // starts at 03:00Z and lasts 23 h; the day before ends there.
  const calendar sp = in("America/Sao_Paulo");
  expect_period(sp, calendar_unit::day, 1541340000000000, 1541300400000000, 1541383200000000);
  expect_period(sp, calendar_unit::day, 1541257200000000, 1541214000000000, 1541300400000000);
}

TEST(CalendarPeriod, AnchorDayClampsToShortMonths) {
  calendar c;
  c.anchor_day = 31;
  // 2026-02-15 -> [2026-01-31, 2026-02-28): February's period starts on its last day.
  expect_period(c, calendar_unit::month, 1771113600000000, 1769817600000000, 1772236800000000);
  // 2026-02-28 00:00 -> [2026-02-28, 2026-03-31).
  expect_period(c, calendar_unit::month, 1772236800000000, 1772236800000000, 1774915200000000);
  // Leap year: 2028-03-01 -> [2028-02-29, 2028-03-31).
  expect_period(c, calendar_unit::month, 1835481600000000, 1835395200000000, 1838073600000000);
}

TEST(CalendarPeriod, AnchorBeforeTodayStartsInThePreviousMonthAndYear) {
  calendar c;
  c.anchor_day = 15;
  // 2026-01-10 -> [2025-12-15, 2026-01-15).
  expect_period(c, calendar_unit::month, 1768003200000000, 1765756800000000, 1768435200000000);
}

TEST(CalendarPeriod, WeeksStartOnTheAnchorWeekday) {
  calendar monday;  // anchor 1: ISO weeks
  // Saturday 2026-12-05 15:00 -> [Monday 2026-11-30, Monday 2026-12-07).
  expect_period(monday, calendar_unit::week, 1796482800000000, 1795996800000000, 1796601600000000);
  calendar sunday;
  sunday.anchor_day = 7;
  expect_period(sunday, calendar_unit::week, 1796482800000000, 1795910400000000, 1796515200000000);
  // Monday 00:00 exactly starts a Monday week.
  expect_period(monday, calendar_unit::week, 1795996800000000, 1795996800000000, 1796601600000000);
}

TEST(CalendarPeriod, UnknownZonesAreNotFound) {
  EXPECT_EQ(find_time_zone("Europe/Atlantis"), nullptr);
  EXPECT_EQ(find_time_zone(""), nullptr);
  EXPECT_NE(find_time_zone("UTC"), nullptr);
}

}  // namespace
}  // namespace sluice::limit
