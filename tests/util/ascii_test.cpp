#include "util/ascii.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace sluice {
namespace {

TEST(Ascii, ComparesWithoutCaseOnlyAsciiLetters) {
  EXPECT_TRUE(iequals("Transfer-Encoding", "transfer-encoding"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("chunked", "chunke"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("[", "{"));  // not letters: no case to fold
  EXPECT_FALSE(iequals("\xc0", "\xe0"));
  EXPECT_EQ(ascii_lower('Q'), 'q');
  EXPECT_EQ(ascii_lower('@'), '@');
}

// The texts end their buffers (as the head arena's copies do): the comparison reads
// nothing past them when the last characters differ only in case (ASan checks it;
// beast::iequals of Boost 1.81 reads one byte further).
TEST(Ascii, ReadsNothingPastEitherText) {
  auto a = std::make_unique<char[]>(5);
  auto b = std::make_unique<char[]>(5);
  std::memcpy(a.get(), "X-Hop", 5);
  std::memcpy(b.get(), "x-hoP", 5);
  EXPECT_TRUE(iequals({a.get(), 5}, {b.get(), 5}));
  std::memcpy(b.get(), "x-hoQ", 5);
  EXPECT_FALSE(iequals({a.get(), 5}, {b.get(), 5}));
}

}  // namespace
}  // namespace sluice
