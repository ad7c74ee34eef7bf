// Pass 1 for a limit's `adaptive:` (issue 15, load-aware limits; limit/load_factors.hpp):
//   adaptive: { signal: upstream_latency, target: 200ms, min_factor: 0.25, max_factor: 1.0 }
// `signal` and `target` are required; the target's form follows the signal: a duration
// (upstream_latency, at most 60s), a share in (0, 1) (upstream_errors), a count
// (upstream_inflight). 0 < min_factor <= max_factor <= 1: a factor scales the limit
// down from what is configured, never up.
#include <cstdio>

#include "config/defaults.hpp"
#include "config/loader_internal.hpp"

namespace sluice::config::detail {

namespace {

std::optional<adaptive_signal> signal_named(std::string_view name) {
  if (name == "upstream_latency") return adaptive_signal::upstream_latency;
  if (name == "upstream_errors") return adaptive_signal::upstream_errors;
  if (name == "upstream_inflight") return adaptive_signal::upstream_inflight;
  return std::nullopt;
}

// The target in the signal's unit (latency: microseconds); nullopt after reporting.
std::optional<double> read_target(const yaml_node& node, const std::string& path, error_sink& sink,
                                  adaptive_signal signal) {
  switch (signal) {
    case adaptive_signal::upstream_latency: {
      auto d = read_bounded_duration(node, path, sink, defaults::adaptive_max_latency_target);
      if (!d) return std::nullopt;
      return static_cast<double>(*d);
    }
    case adaptive_signal::upstream_errors:
      return read_number(node, path, sink, false,
                         "above 0 and below 1 (the share of failed upstream answers, e.g. 0.05)");
    case adaptive_signal::upstream_inflight: {
      auto n = read_int(node, path, sink, 1, defaults::adaptive_max_inflight_target);
      if (!n) return std::nullopt;
      return static_cast<double>(*n);
    }
  }
  return std::nullopt;
}

}  // namespace

void read_adaptive(const yaml_node& node, const std::string& path, error_sink& sink,
                   limit_def& limit) {
  map_reader m(node, path, sink, {"signal", "target", "min_factor", "max_factor"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  adaptive_def a;
  a.where = sink.where(node);
  a.min_factor = defaults::adaptive_min_factor;
  a.max_factor = defaults::adaptive_max_factor;
  bool signal_known = false;
  if (auto* v = m.get("signal")) {
    if (auto name = read_string(*v, m.path("signal"), sink)) {
      if (auto s = signal_named(*name)) {
        a.signal = *s;
        signal_known = true;
      } else {
        sink.add(*v, m.path("signal"),
                 "unknown signal '" + *name +
                     "' (expected upstream_latency, upstream_errors or upstream_inflight)");
      }
    }
  } else {
    sink.add(node, path, "missing required key 'signal' (e.g. signal: upstream_latency)");
  }
  if (auto* v = m.get("target")) {
    if (signal_known) {
      if (auto t = read_target(*v, m.path("target"), sink, a.signal)) a.target = *t;
    }
  } else {
    sink.add(node, path, "missing required key 'target' (e.g. target: 200ms)");
  }
  const std::string_view range = "above 0 and at most 1 (a share of the configured limit)";
  if (auto* v = m.get("min_factor")) {
    if (auto f = read_number(*v, m.path("min_factor"), sink, true, range)) a.min_factor = *f;
  }
  if (auto* v = m.get("max_factor")) {
    if (auto f = read_number(*v, m.path("max_factor"), sink, true, range)) a.max_factor = *f;
  }
  if (sink.count() == errors_before && a.min_factor > a.max_factor) {
    const yaml_node* at = m.get("min_factor");
    char text[64];
    std::snprintf(text, sizeof text, "must not be above max_factor (%g > %g)", a.min_factor,
                  a.max_factor);
    sink.add(at != nullptr ? *at : node, m.path("min_factor"), text);
  }
  if (sink.count() == errors_before) limit.adaptive = a;
}

}  // namespace sluice::config::detail
