#include "util/json_text.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice {
namespace {

// The plain character-by-character definition the run-copying version must match.
std::string reference(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string as_literal(std::string_view s) {
  std::string out = "prefix:";
  append_json_string(out, s);
  return out.substr(7);
}

TEST(JsonText, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(as_literal(""), R"("")");
  EXPECT_EQ(as_literal("per-ip"), R"("per-ip")");
  EXPECT_EQ(as_literal("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(as_literal("\n\r\t"), R"("\n\r\t")");
  EXPECT_EQ(as_literal(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(as_literal("\"start and end\""), R"("\"start and end\"")");
  EXPECT_EQ(as_literal("caf\xc3\xa9 \x7f"), "\"caf\xc3\xa9 \x7f\"");  // UTF-8 and DEL as is
}

TEST(JsonText, CharsAppendWithoutQuotes) {
  std::string out = "x";
  append_json_chars(out, "it's \"ok\"");
  EXPECT_EQ(out, R"(xit's \"ok\")");
}

TEST(JsonText, MatchesCharacterByCharacterDefinition) {
  std::mt19937_64 rng(1);
  const std::string alphabet = std::string("ab \"\\\n\r\t\x01\x1f\x7f\xc3", 12) + '\0';
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 24, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(as_literal(s), reference(s)) << i;
  }
}

}  // namespace
}  // namespace sluice
