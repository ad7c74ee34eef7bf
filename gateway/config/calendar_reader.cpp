// Pass 1 for a limit's `calendar:` (issue 14, calendar quotas; config/calendar.hpp), and
// the same block in the rate limit service's `sluice:` extension (rls_reader.cpp):
//   calendar: { time_zone: Europe/Berlin, anchor_day: 1 }
// Both keys are optional (UTC, day 1). The zone must be in the system's tz database;
// anchor_day is 1..31 here, and pass 2 checks it against the rate's unit (1..7 for
// N/week, absent for N/day) and that the limit counts calendar periods at all.
#include "config/calendar.hpp"
#include "config/loader_internal.hpp"

namespace sluice::config::detail {

std::optional<calendar_def> read_calendar_def(const yaml_node& node, const std::string& path,
                                              error_sink& sink,
                                              std::optional<source_location>* anchor_at) {
  map_reader m(node, path, sink, {"time_zone", "anchor_day"});
  if (!m.ok()) return std::nullopt;
  const std::size_t errors_before = sink.count();
  calendar_def calendar;
  if (auto* v = m.get("time_zone")) {
    if (auto name = read_string(*v, m.path("time_zone"), sink)) {
      if (limit::find_time_zone(*name) == nullptr) {
        sink.add(*v, m.path("time_zone"),
                 "unknown time zone '" + *name +
                     "' (an IANA name from the system's tz database, e.g. Europe/Berlin or UTC)");
      } else {
        calendar.time_zone = *name;
      }
    }
  }
  if (auto* v = m.get("anchor_day")) {
    if (auto day = read_int(*v, m.path("anchor_day"), sink, 1, 31)) {
      calendar.anchor_day = static_cast<int>(*day);
      calendar.anchor_set = true;
      if (anchor_at != nullptr) *anchor_at = sink.where(*v);
    }
  }
  if (sink.count() != errors_before) return std::nullopt;
  return calendar;
}

void read_calendar(const yaml_node& node, const std::string& path, error_sink& sink,
                   limit_def& limit, limit_info& info) {
  auto calendar = read_calendar_def(node, path, sink, &info.anchor_at);
  if (!calendar) return;
  limit.calendar = *calendar;
  info.calendar_at = sink.where(node);
}

}  // namespace sluice::config::detail
