// Fuzzes the config units (gateway/config/units.hpp): durations, sizes and rates.
// Properties:
// - every parse returns exactly one of a value or an error message;
// - accepted values are in range (duration > 0, rate count >= 1, period > 0);
// - format(parse(x)) parses back to the same value (round trip);
// - format(v) parses back to v for arbitrary in-range values taken from the input;
// - a rate "N/<duration>" has the period parse_duration gives for its right side, and
//   is never a calendar rate (only N/day, N/d, N/week, N/month are).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/units.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace sluice::config;
using std::chrono::milliseconds;

// units.cpp: durations stay below 2^53 microseconds.
constexpr std::int64_t max_duration_ms = sluice::limit::max_exact_integer / 1000;
constexpr std::uint64_t max_size = std::uint64_t{1} << 62;

template <class T>
void check_shape(const units::parsed<T>& p, std::string_view text) {
  FUZZ_CHECK(p.value.has_value() == p.error.empty(), text);
}

void check_duration(std::string_view text) {
  const auto d = units::parse_duration(text);
  check_shape(d, text);
  if (!d.value) return;
  FUZZ_CHECK(d.value->count() > 0 && d.value->count() <= max_duration_ms, text);
  const std::string formatted = units::format_duration(*d.value);
  const auto again = units::parse_duration(formatted);
  FUZZ_CHECK(again.value && *again.value == *d.value, formatted);
}

void check_size(std::string_view text) {
  const auto s = units::parse_size(text);
  check_shape(s, text);
  if (!s.value) return;
  FUZZ_CHECK(*s.value <= max_size, text);
  const std::string formatted = units::format_size(*s.value);
  const auto again = units::parse_size(formatted);
  FUZZ_CHECK(again.value && *again.value == *s.value, formatted);
}

bool is_named_period(std::string_view p) {
  for (std::string_view n :
       {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day", "week", "month"}) {
    if (p == n) return true;
  }
  return false;
}

void check_rate(std::string_view text) {
  const auto r = units::parse_rate(text);
  check_shape(r, text);
  if (!r.value) return;
  FUZZ_CHECK(r.value->count >= 1 && r.value->count <= sluice::limit::max_exact_integer, text);
  FUZZ_CHECK(r.value->period > 0, text);
  const std::string formatted = units::format_rate(*r.value);
  const auto again = units::parse_rate(formatted);
  FUZZ_CHECK(again.value && again.value->count == r.value->count &&
                 again.value->period == r.value->period &&
                 again.value->calendar == r.value->calendar,
             formatted);
  const std::string_view period_text = text.substr(text.find('/') + 1);
  if (!is_named_period(period_text)) {
    const auto d = units::parse_duration(period_text);
    FUZZ_CHECK(d.value && d.value->count() * 1000 == r.value->period, text);
    FUZZ_CHECK(r.value->calendar == sluice::limit::calendar_unit::none, text);
  }
}

std::uint64_t read_u64(const std::uint8_t* data, std::size_t size) {
  std::uint64_t v = 0;
  std::memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
  return v;
}

// format -> parse for values the fuzzer picks directly (the first 8 bytes).
void check_format_round_trips(std::uint64_t v) {
  const milliseconds ms(static_cast<std::int64_t>(v % max_duration_ms) + 1);
  const std::string d = units::format_duration(ms);
  const auto pd = units::parse_duration(d);
  FUZZ_CHECK(pd.value && *pd.value == ms, d);

  const std::uint64_t bytes = v % (max_size + 1);
  const std::string s = units::format_size(bytes);
  const auto ps = units::parse_size(s);
  FUZZ_CHECK(ps.value && *ps.value == bytes, s);

  const rate r{static_cast<std::int64_t>((v >> 11) % sluice::limit::max_exact_integer) + 1,
               ms.count() * 1000};
  const std::string f = units::format_rate(r);
  const auto pr = units::parse_rate(f);
  FUZZ_CHECK(pr.value && pr.value->count == r.count && pr.value->period == r.period &&
                 pr.value->calendar == sluice::limit::calendar_unit::none,
             f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_duration(text);
  check_size(text);
  check_rate(text);
  check_format_round_trips(read_u64(data, size));
  return 0;
}
