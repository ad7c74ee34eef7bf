#include "config/units.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <tuple>
#include <utility>

namespace sluice::config::units {

namespace {

using std::chrono::milliseconds;

// Durations are kept below 2^53 microseconds so that rate periods stay exact in Lua.
constexpr std::int64_t max_duration_ms = limit::max_exact_integer / 1000;

constexpr std::array<std::pair<std::string_view, std::int64_t>, 5> duration_units{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
}};

const char* const duration_help =
    "expected a positive integer followed by ms, s, m, h or d, e.g. 250ms, 5s, 1m";

// Splits "123abc" into digits and suffix; false when there are no leading digits.
bool split_number(std::string_view text, std::string_view& digits, std::string_view& suffix) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  digits = text.substr(0, i);
  suffix = text.substr(i);
  return !digits.empty();
}

// Parses decimal digits; false on overflow of int64.
bool to_int(std::string_view digits, std::int64_t& out) {
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return ec == std::errc{} && end == digits.data() + digits.size();
}

// Like parse_duration but allows 0 (rate periods report it themselves).
parsed<milliseconds> parse_duration_allow_zero(std::string_view text) {
  parsed<milliseconds> result;
  std::string_view digits, suffix;
  if (!split_number(text, digits, suffix) || suffix.empty()) {
    result.error = "invalid duration '" + std::string(text) + "' (" + duration_help + ")";
    return result;
  }
  for (const auto& [unit, factor] : duration_units) {
    if (suffix != unit) continue;
    std::int64_t n = 0;
    if (!to_int(digits, n) || n > max_duration_ms / factor) {
      result.error = "duration '" + std::string(text) + "' is too large";
      return result;
    }
    result.value = milliseconds(n * factor);
    return result;
  }
  result.error = "invalid duration '" + std::string(text) + "' (" + duration_help + ")";
  return result;
}

}  // namespace

parsed<soft_def> parse_soft(std::string_view text) {
  parsed<soft_def> result;
  const std::string quoted = "'" + std::string(text) + "'";
  std::string_view digits, rest;
  if (!split_number(text, digits, rest)) {
    result.error = "invalid soft limit " + quoted +
                   " (expected a share of the limit such as 80% or 82.5%, or a count of units "
                   "such as 800)";
    return result;
  }
  std::int64_t whole = 0;
  const bool fits = to_int(digits, whole);
  if (rest.empty()) {
    if (!fits || whole > limit::max_exact_integer) {
      result.error = "soft count " + quoted + " is too large";
    } else if (whole < 1) {
      result.error = "a soft count must be >= 1 (got " + quoted + ")";
    } else {
      result.value = soft_def{whole, 0};
    }
    return result;
  }
  // A share: digits, then optionally '.' and one or two decimals, then '%'.
  std::int64_t hundredths = 0;
  if (rest.front() == '.') {
    std::string_view decimals;
    split_number(rest.substr(1), decimals, rest);
    if (decimals.empty() || decimals.size() > 2 || rest != "%") {
      result.error = decimals.size() > 2 && rest == "%"
                         ? "a soft share takes at most two decimals (got " + quoted + ")"
                         : "invalid soft limit " + quoted +
                               " (expected a share of the limit such as 80% or 82.5%, or a "
                               "count of units such as 800)";
      return result;
    }
    to_int(decimals, hundredths);
    if (decimals.size() == 1) hundredths *= 10;
  } else if (rest != "%") {
    result.error = "invalid soft limit " + quoted +
                   " (expected a share of the limit such as 80% or 82.5%, or a count of units "
                   "such as 800)";
    return result;
  }
  const std::int64_t basis_points = fits && whole < 100 ? whole * 100 + hundredths : 10'000;
  if (basis_points <= 0 || basis_points >= 10'000) {
    result.error = "a soft share must be above 0% and below 100% (got " + quoted + ")";
    return result;
  }
  result.value = soft_def{0, static_cast<std::int32_t>(basis_points)};
  return result;
}

std::string format_soft(const soft_def& soft) {
  if (soft.basis_points == 0) return std::to_string(soft.count);
  std::string out = std::to_string(soft.basis_points / 100);
  if (const int rest = soft.basis_points % 100; rest != 0) {
    out += '.';
    out += static_cast<char>('0' + rest / 10);
    if (rest % 10 != 0) out += static_cast<char>('0' + rest % 10);
  }
  return out + "%";
}

parsed<milliseconds> parse_duration(std::string_view text) {
  auto result = parse_duration_allow_zero(text);
  if (result.value && result.value->count() == 0) {
    result.value.reset();
    result.error = "duration must be > 0 (got '" + std::string(text) + "')";
  }
  return result;
}

parsed<std::uint64_t> parse_size(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 5> size_units{{
      {"", 1},
      {"B", 1},
      {"KiB", 1024},
      {"MiB", 1024 * 1024},
      {"GiB", 1024 * 1024 * 1024},
  }};
  parsed<std::uint64_t> result;
  std::string_view digits, suffix;
  if (split_number(text, digits, suffix)) {
    for (const auto& [unit, factor] : size_units) {
      if (suffix != unit) continue;
      std::int64_t n = 0;
      if (!to_int(digits, n) || static_cast<std::uint64_t>(n) > (std::uint64_t{1} << 62) / factor) {
        result.error = "size '" + std::string(text) + "' is too large";
        return result;
      }
      result.value = static_cast<std::uint64_t>(n) * factor;
      return result;
    }
  }
  result.error = "invalid size '" + std::string(text) +
                 "' (expected a byte count, or a number followed by KiB, MiB or GiB, e.g. 16KiB)";
  return result;
}

parsed<rate> parse_rate(std::string_view text) {
  parsed<rate> result;
  const auto invalid = [&] {
    result.error = "invalid rate '" + std::string(text) +
                   "' (expected N/s, N/min, N/h, N/day, N/week, N/month or N/<duration>, e.g. "
                   "100/10s)";
    return result;
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return invalid();
  std::string_view count_text = text.substr(0, slash);
  const std::string_view period_text = text.substr(slash + 1);

  const bool negative = !count_text.empty() && count_text.front() == '-';
  if (negative) count_text.remove_prefix(1);
  std::string_view digits, suffix;
  if (!split_number(count_text, digits, suffix) || !suffix.empty()) return invalid();
  std::int64_t count = 0;
  if (!to_int(digits, count) || count > limit::max_exact_integer) {
    result.error = "rate count in '" + std::string(text) + "' is too large";
    return result;
  }
  if (negative || count == 0) {
    result.error = "rate count must be >= 1 (got '" + std::string(text) + "')";
    return result;
  }

  static constexpr std::array<std::pair<std::string_view, std::int64_t>, 8> named_periods{{
      {"s", 1},
      {"sec", 1},
      {"second", 1},
      {"m", 60},
      {"min", 60},
      {"minute", 60},
      {"h", 3600},
      {"hour", 3600},
  }};
  // Calendar periods: a day, week or month of the limit's `calendar:` (UTC by default).
  // `period` holds the longest such period (what validation bounds); the engine works
  // out the real one per request (config/calendar.hpp).
  static constexpr std::array<std::tuple<std::string_view, limit::calendar_unit, std::int64_t>, 4>
      calendar_periods{{
          {"d", limit::calendar_unit::day, 1},
          {"day", limit::calendar_unit::day, 1},
          {"week", limit::calendar_unit::week, 7},
          {"month", limit::calendar_unit::month, 31},
      }};
  for (const auto& [unit, calendar, days] : calendar_periods) {
    if (period_text == unit) {
      result.value = rate{count, days * 86400 * limit::micros_per_second, calendar};
      return result;
    }
  }
  limit::micros period = 0;
  bool named = false;
  for (const auto& [unit, seconds] : named_periods) {
    if (period_text == unit) {
      period = seconds * limit::micros_per_second;
      named = true;
    }
  }
  if (!named) {
    if (!period_text.empty() && period_text.front() == '-') {
      result.error = "rate period must be > 0 (got '" + std::string(text) + "')";
      return result;
    }
    auto d = parse_duration_allow_zero(period_text);
    if (!d.value) {
      if (d.error.starts_with("invalid")) return invalid();
      result.error = d.error;
      return result;
    }
    if (d.value->count() == 0) {
      result.error = "rate period must be > 0 (got '" + std::string(text) + "')";
      return result;
    }
    period = d.value->count() * 1000;
  }
  result.value = rate{count, period};
  return result;
}

std::string format_duration(milliseconds d) {
  const std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (auto it = duration_units.rbegin(); it != duration_units.rend(); ++it) {
    if (ms % it->second == 0) return std::to_string(ms / it->second) + std::string(it->first);
  }
  return std::to_string(ms) + "ms";
}

std::string format_rate(const rate& r) {
  std::string out = std::to_string(r.count) + "/";
  if (r.calendar != limit::calendar_unit::none)
    return out + std::string(limit::to_string(r.calendar));
  switch (r.period) {
    case limit::micros_per_second:
      return out + "s";
    case 60 * limit::micros_per_second:
      return out + "min";
    case 3600 * limit::micros_per_second:
      return out + "h";
    default:
      break;
  }
  if (r.period % 1000 == 0) return out + format_duration(milliseconds(r.period / 1000));
  return out + std::to_string(r.period) + "us";
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 3> size_units{{
      {"GiB", 1024 * 1024 * 1024},
      {"MiB", 1024 * 1024},
      {"KiB", 1024},
  }};
  for (const auto& [unit, factor] : size_units) {
    if (bytes != 0 && bytes % factor == 0)
      return std::to_string(bytes / factor) + std::string(unit);
  }
  return std::to_string(bytes);
}

std::optional<std::vector<std::string>> parse_field_path(std::string_view text) {
  constexpr std::size_t max_segments = 8;
  constexpr std::size_t max_segment_chars = 64;
  const auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  std::vector<std::string> out;
  for (;;) {
    const std::size_t dot = text.find('.');
    const std::string_view segment = text.substr(0, dot);
    if (segment.empty() || segment.size() > max_segment_chars || out.size() == max_segments ||
        !std::all_of(segment.begin(), segment.end(), name_char)) {
      return std::nullopt;
    }
    out.emplace_back(segment);
    if (dot == std::string_view::npos) return out;
    text.remove_prefix(dot + 1);
  }
}

}  // namespace sluice::config::units
