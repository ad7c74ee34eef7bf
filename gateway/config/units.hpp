// Parsing and printing of the config file's units (SPEC 2, 3): durations ("250ms",
// "5s", "1m", "1h", "1d"), sizes ("4096", "16KiB", "10MiB", "1GiB") and rates
// ("5/s", "60/min", "1000/h", "10000/day", "1000000/month", "100/10s"). Pure functions;
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"

namespace sluice::config::units {

// A value or the reason it was rejected (a message without position).
template <class T>
struct parsed {
  std::optional<T> value;
  std::string error;
};

// A positive integer followed by ms, s, m, h or d.
parsed<std::chrono::milliseconds> parse_duration(std::string_view text);

// A byte count, optionally followed by B, KiB, MiB or GiB.
parsed<std::uint64_t> parse_size(std::string_view text);

// "N/unit" (unit: s, min, h; or the calendar units day, week, month) or "N/<duration>";
// N >= 1, period > 0.
parsed<rate> parse_rate(std::string_view text);

// A limit's `soft:` (issue 15): a share "80%" or "82.5%" (at most two decimals, strictly
// between 0% and 100%) or a count "800" (>= 1; checked against the capacity later).
parsed<soft_def> parse_soft(std::string_view text);

// A field path in a JSON document, names joined by '.' ("usage.total_tokens"; a name of
// digits may index an array): 1 to 8 names of 1 to 64 characters [A-Za-z0-9_-].
std::optional<std::vector<std::string>> parse_field_path(std::string_view text);

// 8000 basis points -> "80%", 8250 -> "82.5%", a count -> "800".
std::string format_soft(const soft_def& soft);

// The shortest exact spelling: 60000ms -> "1m", 1500ms -> "1500ms", 90s -> "90s".
std::string format_duration(std::chrono::milliseconds d);

// 60 per 60 s -> "60/min", 100 per 10 s -> "100/10s".
std::string format_rate(const rate& r);

// 16384 -> "16KiB", 1000 -> "1000".
std::string format_size(std::uint64_t bytes);

}  // namespace sluice::config::units
