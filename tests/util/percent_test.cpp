#include "util/percent.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Percent, HexValues) {
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('9'), 9);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
  EXPECT_EQ(hex_value('%'), -1);
}

TEST(Percent, EscapeAtReadsOneWellFormedEscape) {
  EXPECT_EQ(percent_escape_at("%41", 0), 0x41);
  EXPECT_EQ(percent_escape_at("a%2fb", 1), 0x2f);
  EXPECT_EQ(percent_escape_at("a%2Fb", 1), 0x2f);
  EXPECT_EQ(percent_escape_at("%00", 0), 0);
  EXPECT_EQ(percent_escape_at("%ff", 0), 0xff);
  EXPECT_EQ(percent_escape_at("%41", 1), -1);  // not at a '%'
  EXPECT_EQ(percent_escape_at("a%4", 1), -1);  // cut short by the end
  EXPECT_EQ(percent_escape_at("%", 0), -1);
  EXPECT_EQ(percent_escape_at("%zz", 0), -1);
  EXPECT_EQ(percent_escape_at("%4g", 0), -1);
  EXPECT_EQ(percent_escape_at("%g4", 0), -1);
}

TEST(Percent, LenientDecodingKeepsMalformedEscapesAsWritten) {
  std::string out = "stale";
  percent_decode_lenient("a%2Fb%41%7e", out);
  EXPECT_EQ(out, "a/bA~");
  percent_decode_lenient("%zz%4%", out);
  EXPECT_EQ(out, "%zz%4%");
  percent_decode_lenient("%00x", out);
  EXPECT_EQ(out, std::string("\0x", 2));
  percent_decode_lenient("", out);
  EXPECT_EQ(out, "");
}

TEST(Percent, StrictDecodingRefusesMalformedEscapes) {
  EXPECT_EQ(percent_decode_strict("2001%3Adb8%3A%3A%2F64"), "2001:db8::/64");
  EXPECT_EQ(percent_decode_strict("plain"), "plain");
  EXPECT_EQ(percent_decode_strict("%4"), std::nullopt);
  EXPECT_EQ(percent_decode_strict("a%zz"), std::nullopt);
  EXPECT_EQ(percent_decode_strict("a%"), std::nullopt);
}

}  // namespace
}  // namespace sluice
