// The added response fields: one wire text for a head, the same fields one by one, and
// the name lookup the relay uses to drop the upstream's fields of these names.
#include "limit/header_list.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::limit {
namespace {

std::string listed(const header_list& h) {
  std::string out;
  for (const header_field f : h) out += std::string(f.name) + "=" + std::string(f.value) + "|";
  return out;
}

TEST(HeaderList, WireTextAndFieldsAgree) {
  header_list h;
  h.add_decimal("X-RateLimit-Limit", 10);
  h.add_decimal("X-RateLimit-Remaining", -3);
  h.add("X-RateLimit-Scope", "per-ip");
  text_buffer& v = h.begin_value("RateLimit-Policy");
  v.append("10;w=");
  v.append_decimal(60);
  h.end_value();
  h.add("X-Empty", "");

  EXPECT_EQ(h.wire(),
            "X-RateLimit-Limit: 10\r\nX-RateLimit-Remaining: -3\r\nX-RateLimit-Scope: per-ip\r\n"
            "RateLimit-Policy: 10;w=60\r\nX-Empty: \r\n");
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(listed(h),
            "X-RateLimit-Limit=10|X-RateLimit-Remaining=-3|X-RateLimit-Scope=per-ip|"
            "RateLimit-Policy=10;w=60|X-Empty=|");
  EXPECT_EQ(h[3].name, "RateLimit-Policy");
  EXPECT_EQ(h[3].value, "10;w=60");
}

TEST(HeaderList, FieldsSurviveTheBufferGrowing) {
  header_list h;
  for (int i = 0; i < 200; ++i) h.add_decimal("X-Field-Name-Long-Enough", 1'000'000'000 + i);
  ASSERT_EQ(h.size(), 200u);
  EXPECT_EQ(h[0].value, "1000000000");
  EXPECT_EQ(h[199].value, "1000000199");
  EXPECT_EQ(h[199].name, "X-Field-Name-Long-Enough");
}

TEST(HeaderList, HasComparesNamesWithoutCase) {
  header_list h;
  EXPECT_FALSE(h.has("Retry-After"));
  h.add_decimal("Retry-After", 7);
  h.add("WWW-Authenticate", "Bearer");
  EXPECT_TRUE(h.has("retry-after"));
  EXPECT_TRUE(h.has("RETRY-AFTER"));
  EXPECT_TRUE(h.has("www-authenticate"));
  EXPECT_FALSE(h.has("Retry-Afte"));
  EXPECT_FALSE(h.has("Retry-Befor"));  // same length, other name
  // 11 + 64: the length test alone would let it through; the comparison does not.
  EXPECT_FALSE(h.has(std::string(75, 'r')));
}

TEST(HeaderList, ClearForgetsFieldsAndNames) {
  header_list h;
  h.add("Retry-After", "1");
  h.clear();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.wire(), "");
  EXPECT_FALSE(h.has("Retry-After"));
  h.add("A", "b");
  EXPECT_EQ(h.wire(), "A: b\r\n");
  EXPECT_EQ(listed(h), "A=b|");
}

}  // namespace
}  // namespace sluice::limit
