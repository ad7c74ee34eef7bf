// The request path's text buffer: numbers written by hand, compared with std::to_chars
// at every digit count and both ends of the range; growth keeps what was written.
#include "util/text_buffer.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sluice {
namespace {

std::string to_chars_text(std::int64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  return {buf, end};
}

std::vector<std::int64_t> decimal_cases() {
  std::vector<std::int64_t> cases = {0, std::numeric_limits<std::int64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min()};
  // Each power of ten and its neighbours, both signs: every digit count and the edges
  // of decimal_width's correction.
  std::int64_t p = 1;
  for (int digits = 1; digits <= 18; ++digits, p *= 10) {
    for (std::int64_t v : {p - 1, p, p + 1, 10 * p - 1}) {
      cases.push_back(v);
      cases.push_back(-v);
    }
  }
  // Powers of two: where the bit width steps.
  for (int bit = 0; bit < 63; ++bit) {
    const std::int64_t v = std::int64_t{1} << bit;
    cases.push_back(v - 1);
    cases.push_back(v);
  }
  return cases;
}

TEST(TextBuffer, DecimalsMatchToChars) {
  for (std::int64_t v : decimal_cases()) {
    text_buffer out;
    out.append_decimal(v);
    EXPECT_EQ(out.view(), to_chars_text(v)) << v;
  }
}

TEST(TextBuffer, UnsignedNumbersUseTheWholeRange) {
  // A Content-Length above INT64_MAX is an upstream's to send; it is written as it was.
  for (std::uint64_t u : {std::uint64_t{0}, std::uint64_t{9}, std::uint64_t{1} << 63,
                          std::numeric_limits<std::uint64_t>::max()}) {
    text_buffer out;
    out.append_unsigned(u);
    EXPECT_EQ(out.view(), std::to_string(u));
  }
}

TEST(TextBuffer, DecimalWidthCountsDigits) {
  EXPECT_EQ(decimal_width(0), 1u);
  EXPECT_EQ(decimal_width(9), 1u);
  EXPECT_EQ(decimal_width(10), 2u);
  EXPECT_EQ(decimal_width(99), 2u);
  EXPECT_EQ(decimal_width(100), 3u);
  EXPECT_EQ(decimal_width(9'999'999'999'999'999'999ull), 19u);
  EXPECT_EQ(decimal_width(10'000'000'000'000'000'000ull), 20u);
  EXPECT_EQ(decimal_width(std::numeric_limits<std::uint64_t>::max()), 20u);
}

TEST(TextBuffer, GrowingKeepsTheTextAndClearKeepsTheCapacity) {
  text_buffer out;
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    out.append("field-");
    out.append_decimal(i);
    out.push_back(';');
    expected += "field-" + std::to_string(i) + ";";
  }
  EXPECT_EQ(out.view(), expected);
  const char* storage = out.data();
  out.clear();
  EXPECT_TRUE(out.empty());
  out.append("again");
  EXPECT_EQ(out.view(), "again");
  EXPECT_EQ(out.data(), storage);
}

TEST(TextBuffer, EndAtGivesBackWhatWasNotFilled) {
  text_buffer out;
  out.append("a=");
  char* p = out.extend(20);
  *p++ = '7';
  out.end_at(p);
  out.append(";");
  EXPECT_EQ(out.view(), "a=7;");
}

}  // namespace
}  // namespace sluice
