// Calendar periods (issue 14, calendar quotas): the day, week or month of a time zone
// that holds an instant, for limits whose rate is N/day, N/week or N/month. A billing
// month starts on its anchor day at local midnight and ends at the next one, so its
// length varies (28 to 31 days, +-1 hour across daylight saving); the engine turns the
// period into a fixed window's origin and period per request (limit_params::origin).
//
// Pure functions over the system's tz database (/usr/share/zoneinfo, through Howard
// Hinnant's date library, Debian's libhowardhinnant-date-dev); thread-safe. It sits in
// config because the loader validates time zone names with it.
#pragma once

#include <string_view>

#include "config/limit_params.hpp"

namespace date {
class time_zone;
}

namespace sluice::limit {

struct calendar {
  const date::time_zone* zone = nullptr;  // null: UTC
  // N/month: the day of month a period starts, 1..31; a month shorter than that starts
  // on its last day (anchor 31: Jan 31, Feb 28/29, Mar 31, Apr 30...).
  // N/week: the weekday a period starts, 1 Monday .. 7 Sunday (ISO 8601).
  // N/day: unused (a day starts at local midnight).
  int anchor_day = 1;
};

// [start, end) in Unix microseconds.
struct calendar_period {
  micros start = 0;
  micros end = 0;
};

// The period of `unit` (not none) that holds `now`. Its bounds are local midnights;
// a midnight that daylight saving skips is the instant the clocks jump (the day starts
// then), one that repeats is its first occurrence.
calendar_period period_at(const calendar& c, calendar_unit unit, micros now);

// The calendar a config names (a validated zone name; "UTC" is the null zone, which
// needs no tz database lookup per request).
calendar calendar_of(std::string_view time_zone, int anchor_day);

// `p` as a request at `now` applies it: for a rate of a calendar unit, its fixed window
// set to the period that holds `now` (origin and period); otherwise `p` unchanged.
limit_params in_period(const limit_params& p, const calendar& c, micros now);

// The zone named `name` in the system's tz database ("UTC", "Europe/Berlin"), or null
// when there is none of that name.
const date::time_zone* find_time_zone(std::string_view name);

}  // namespace sluice::limit
