#include "config/calendar.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

namespace sluice::limit {

namespace {

using std::chrono::microseconds;

// The local calendar day that holds `now` in `zone` (UTC when null).
date::local_days local_day(const date::time_zone* zone, micros now) {
  const date::sys_time<microseconds> t{microseconds{now}};
  if (zone == nullptr) return date::local_days{date::floor<date::days>(t).time_since_epoch()};
  return date::floor<date::days>(zone->to_local(t));
}

// The instant local midnight starts `day` in `zone`: the end of the gap for a
// midnight daylight saving skips; of a repeated midnight, the first (or the last).
micros midnight(const date::time_zone* zone, date::local_days day,
                date::choose which = date::choose::earliest) {
  if (zone == nullptr) {
    return std::chrono::duration_cast<microseconds>(day.time_since_epoch()).count();
  }
  const auto t = zone->to_sys(date::local_seconds{day}, which);
  return std::chrono::duration_cast<microseconds>(t.time_since_epoch()).count();
}

// The anchor day of month `ym`, clamped to its length.
date::local_days anchor_in(date::year_month ym, int anchor_day) {
  const unsigned last = static_cast<unsigned>((ym / date::last).day());
  const unsigned day = std::min(static_cast<unsigned>(anchor_day), last);
  return date::local_days{ym / date::day{day}};
}

}  // namespace

calendar_period period_at(const calendar& c, calendar_unit unit, micros now) {
  const date::local_days today = local_day(c.zone, now);
  date::local_days start = today;
  date::local_days end = today + date::days{1};
  switch (unit) {
    case calendar_unit::none:
    case calendar_unit::day:
      break;
    case calendar_unit::week: {
      const int weekday = static_cast<int>(date::weekday{today}.iso_encoding());  // 1..7
      start = today - date::days{(weekday - c.anchor_day + 7) % 7};
      end = start + date::days{7};
      break;
    }
    case calendar_unit::month: {
      const date::year_month_day ymd{today};
      const date::year_month month = ymd.year() / ymd.month();
      const date::local_days this_anchor = anchor_in(month, c.anchor_day);
      if (today >= this_anchor) {
        start = this_anchor;
        end = anchor_in(month + date::months{1}, c.anchor_day);
      } else {
        start = anchor_in(month - date::months{1}, c.anchor_day);
        end = this_anchor;
      }
      break;
    }
  }
  calendar_period p{midnight(c.zone, start), midnight(c.zone, end)};
  // A zone whose clocks went back across midnight shows the old day again after the
  // first midnight: that period ends at the last one, so it holds `now`.
  if (p.end <= now) p.end = midnight(c.zone, end, date::choose::latest);
  return p;
}

calendar calendar_of(std::string_view time_zone, int anchor_day) {
  calendar c;
  if (time_zone != "UTC") c.zone = find_time_zone(time_zone);
  c.anchor_day = anchor_day;
  return c;
}

limit_params in_period(const limit_params& p, const calendar& c, micros now) {
  if (p.calendar == calendar_unit::none) return p;
  const calendar_period period = period_at(c, p.calendar, now);
  limit_params out = p;
  out.origin = period.start;
  out.period = period.end - period.start;
  return out;
}

const date::time_zone* find_time_zone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;  // unknown name, or no tz database on this system
  }
}

}  // namespace sluice::limit
