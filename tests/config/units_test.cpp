#include <gtest/gtest.h>

#include "config/env.hpp"
#include "config/units.hpp"
#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using units::format_duration;
using units::format_rate;
using units::format_size;
using units::parse_duration;
using units::parse_rate;
using units::parse_size;

constexpr limit::micros second = limit::micros_per_second;

TEST(UnitsDuration, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("250ms").value, 250ms);
  EXPECT_EQ(parse_duration("5s").value, 5s);
  EXPECT_EQ(parse_duration("1m").value, 1min);
  EXPECT_EQ(parse_duration("2h").value, 2h);
  EXPECT_EQ(parse_duration("1d").value, 24h);
}

TEST(UnitsDuration, RejectsMalformedText) {
  for (const char* text : {"", "5", "s", "1.5s", "-1s", "5 s", " 5s", "5sec", "5S", "1w", "+5s"}) {
    auto parsed = parse_duration(text);
    EXPECT_FALSE(parsed.value) << text;
    EXPECT_EQ(parsed.error, "invalid duration '" + std::string(text) +
                                "' (expected a positive integer followed by ms, s, m, h or d, "
                                "e.g. 250ms, 5s, 1m)");
  }
}

TEST(UnitsDuration, RejectsZeroAndOverflow) {
  EXPECT_EQ(parse_duration("0s").error, "duration must be > 0 (got '0s')");
  EXPECT_EQ(parse_duration("999999999999999999999d").error,
            "duration '999999999999999999999d' is too large");
  EXPECT_EQ(parse_duration("200000000d").error, "duration '200000000d' is too large");
}

TEST(UnitsSize, ParsesBytesAndBinaryUnits) {
  EXPECT_EQ(parse_size("4096").value, 4096u);
  EXPECT_EQ(parse_size("512B").value, 512u);
  EXPECT_EQ(parse_size("16KiB").value, 16u * 1024);
  EXPECT_EQ(parse_size("10MiB").value, 10u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB").value, 1024u * 1024 * 1024);
}

TEST(UnitsSize, RejectsDecimalUnitsAndJunk) {
  for (const char* text : {"", "10MB", "16kib", "1.5MiB", "-1", "KiB", "1 KiB"}) {
    auto parsed = parse_size(text);
    EXPECT_FALSE(parsed.value) << text;
    EXPECT_EQ(parsed.error, "invalid size '" + std::string(text) +
                                "' (expected a byte count, or a number followed by KiB, MiB or "
                                "GiB, e.g. 16KiB)");
  }
  EXPECT_EQ(parse_size("99999999999GiB").error, "size '99999999999GiB' is too large");
}

TEST(UnitsRate, ParsesNamedPeriods) {
  auto r = parse_rate("5/s");
  ASSERT_TRUE(r.value);
  EXPECT_EQ(r.value->count, 5);
  EXPECT_EQ(r.value->period, second);
  EXPECT_EQ(parse_rate("60/min").value->period, 60 * second);
  EXPECT_EQ(parse_rate("1000/h").value->period, 3600 * second);
  EXPECT_EQ(parse_rate("10000/day").value->period, 86400 * second);
}

TEST(UnitsRate, ParsesDurationPeriods) {
  auto r = parse_rate("100/10s");
  ASSERT_TRUE(r.value);
  EXPECT_EQ(r.value->count, 100);
  EXPECT_EQ(r.value->period, 10 * second);
  EXPECT_EQ(parse_rate("3/250ms").value->period, 250'000);
  EXPECT_EQ(parse_rate("1/30d").value->period, 30 * 86400 * second);
}

TEST(UnitsRate, RejectsZeroAndNegativeCounts) {
  EXPECT_EQ(parse_rate("0/s").error, "rate count must be >= 1 (got '0/s')");
  EXPECT_EQ(parse_rate("-5/min").error, "rate count must be >= 1 (got '-5/min')");
}

TEST(UnitsRate, RejectsZeroAndNegativePeriods) {
  EXPECT_EQ(parse_rate("5/0s").error, "rate period must be > 0 (got '5/0s')");
  EXPECT_EQ(parse_rate("5/-1s").error, "rate period must be > 0 (got '5/-1s')");
}

TEST(UnitsRate, RejectsMalformedText) {
  for (const char* text :
       {"", "5", "5/", "/s", "5/fortnight", "five/s", "5.5/s", "5 / s", "5/s/s"}) {
    auto parsed = parse_rate(text);
    EXPECT_FALSE(parsed.value) << text;
    EXPECT_EQ(parsed.error, "invalid rate '" + std::string(text) +
                                "' (expected N/s, N/min, N/h, N/day, N/week, N/month or "
                                "N/<duration>, e.g. 100/10s)");
  }
  EXPECT_EQ(parse_rate("99999999999999999999/s").error,
            "rate count in '99999999999999999999/s' is too large");
}

TEST(UnitsFormat, PrintsTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(60s), "1m");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_rate({60, 60 * second}), "60/min");
  EXPECT_EQ(format_rate({5, second}), "5/s");
  EXPECT_EQ(format_rate({100, 10 * second}), "100/10s");
  EXPECT_EQ(format_rate({7, 86400 * second, limit::calendar_unit::day}), "7/day");
  // 24 h as a duration is not a calendar day: printed so it parses back the same.
  EXPECT_EQ(format_rate({7, 86400 * second}), "7/1d");
  EXPECT_EQ(format_rate({7, 31 * 86400 * second, limit::calendar_unit::month}), "7/month");
  EXPECT_EQ(format_rate({7, 2 * 86400 * second}), "7/2d");
  EXPECT_EQ(format_size(16 * 1024), "16KiB");
  EXPECT_EQ(format_size(1000), "1000");
}

TEST(UnitsEnv, SubstitutesSetVariablesAndDefaults) {
  auto env = testing::fake_env({{"HOST", "db"}, {"EMPTY", ""}});
  EXPECT_EQ(substitute_env("${HOST}:6379", env).value, "db:6379");
  EXPECT_EQ(substitute_env("${PORT:-6379}", env).value, "6379");
  EXPECT_EQ(substitute_env("${HOST:-x}/${PORT:-1}", env).value, "db/1");
  EXPECT_EQ(substitute_env("${EMPTY:-fallback}", env).value, "fallback");
  EXPECT_EQ(substitute_env("${EMPTY}", env).value, "");
  EXPECT_EQ(substitute_env("${UNSET:-}", env).value, "");
  EXPECT_EQ(substitute_env("cost $5 {x}", env).value, "cost $5 {x}");
}

TEST(UnitsEnv, ReportsUnsetAndMalformedReferences) {
  auto env = testing::fake_env();
  EXPECT_EQ(substitute_env("${TOKEN}", env).error,
            "environment variable 'TOKEN' is not set (use ${TOKEN:-default} for a default)");
  EXPECT_EQ(substitute_env("${TOKEN", env).error,
            "unterminated '${' (expected ${NAME} or ${NAME:-default})");
  EXPECT_EQ(substitute_env("${1X}", env).error,
            "invalid variable reference '${1X}' (expected ${NAME} or ${NAME:-default})");
  EXPECT_EQ(substitute_env("${}", env).error,
            "invalid variable reference '${}' (expected ${NAME} or ${NAME:-default})");
}

}  // namespace
}  // namespace sluice::config
