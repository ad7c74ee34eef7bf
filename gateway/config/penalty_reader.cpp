// Pass 1 for a limit's `penalty:` (issue 15, penalty box; limit/penalty_box.hpp):
//   penalty: { when: { rejected_share: 0.5, min_requests: 20, window: 1m },
//              factor: 0.3, duration: 10m }
// `factor` and `duration` are required; `when:` and each of its keys default
// (defaults.hpp). Bounds: share in (0, 1], min_requests 1..1e6, factor in (0, 1),
// window up to 1h, duration up to 24h.
#include <charconv>
#include <cmath>

#include "config/defaults.hpp"
#include "config/loader_internal.hpp"
#include "config/units.hpp"

namespace sluice::config::detail {

std::optional<double> read_number(const yaml_node& node, const std::string& path, error_sink& sink,
                                  bool max_inclusive, std::string_view range) {
  auto text = read_string(node, path, sink);
  if (!text) return std::nullopt;
  double value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [ptr, ec] = std::from_chars(begin, end, value, std::chars_format::fixed);
  const bool parsed = !text->empty() && ptr == end && ec == std::errc{} && std::isfinite(value);
  if (!parsed || !(value > 0) || (max_inclusive ? value > 1 : value >= 1)) {
    sink.add(node, path, "expected a number " + std::string(range) + ", got '" + *text + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<limit::micros> read_bounded_duration(const yaml_node& node, const std::string& path,
                                                   error_sink& sink,
                                                   std::chrono::milliseconds max) {
  auto d = read_duration(node, path, sink);
  if (!d) return std::nullopt;
  if (*d > max) {
    sink.add(node, path,
             "must be at most " + units::format_duration(max) + " (got " +
                 units::format_duration(*d) + ")");
    return std::nullopt;
  }
  return static_cast<limit::micros>(d->count()) * 1000;
}

void read_penalty(const yaml_node& node, const std::string& path, error_sink& sink,
                  limit_def& limit) {
  map_reader m(node, path, sink, {"when", "factor", "duration"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  penalty_def p;
  p.where = sink.where(node);
  p.rejected_share = defaults::penalty_rejected_share;
  p.min_requests = defaults::penalty_min_requests;
  p.window = static_cast<limit::micros>(defaults::penalty_window.count()) * 1000;
  if (auto* w = m.get("when")) {
    map_reader when(*w, m.path("when"), sink, {"rejected_share", "min_requests", "window"});
    if (when.ok()) {
      if (auto* v = when.get("rejected_share")) {
        if (auto share = read_number(*v, when.path("rejected_share"), sink, true,
                                     "above 0 and at most 1 (a share such as 0.5)")) {
          p.rejected_share = *share;
        }
      }
      if (auto* v = when.get("min_requests")) {
        if (auto n = read_int(*v, when.path("min_requests"), sink, 1,
                              defaults::penalty_max_min_requests)) {
          p.min_requests = *n;
        }
      }
      if (auto* v = when.get("window")) {
        if (auto d = read_bounded_duration(*v, when.path("window"), sink,
                                           defaults::penalty_max_window)) {
          p.window = *d;
        }
      }
    }
  }
  if (auto* v = m.get("factor")) {
    if (auto f = read_number(*v, m.path("factor"), sink, false,
                             "above 0 and below 1 (the share of the limit a boxed key keeps)")) {
      p.factor = *f;
    }
  } else {
    sink.add(node, path, "missing required key 'factor' (e.g. factor: 0.3)");
  }
  if (auto* v = m.get("duration")) {
    if (auto d =
            read_bounded_duration(*v, m.path("duration"), sink, defaults::penalty_max_duration)) {
      p.duration = *d;
    }
  } else {
    sink.add(node, path, "missing required key 'duration' (e.g. duration: 10m)");
  }
  if (sink.count() == errors_before) limit.penalty = p;
}

}  // namespace sluice::config::detail
