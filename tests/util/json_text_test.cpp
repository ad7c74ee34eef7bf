#include "util/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <random>
#include <string>

namespace sluice {
namespace {

// The plain definition the run-copying version must match: decode one code point at
// a time by its value (not by the byte table the implementation uses).
std::string reference(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x80) {
      if (u == '"') {
        out += "\\\"";
      } else if (u == '\\') {
        out += "\\\\";
      } else if (u == '\n') {
        out += "\\n";
      } else if (u == '\r') {
        out += "\\r";
      } else if (u == '\t') {
        out += "\\t";
      } else if (u < 0x20 || u == 0x7f) {
        out += "\\u00";
        out += hex[u >> 4];
        out += hex[u & 0xf];
      } else {
        out += static_cast<char>(u);
      }
      ++i;
      continue;
    }
    const std::size_t n = u >= 0xf0 && u < 0xf8   ? 4
                          : u >= 0xe0 && u < 0xf0 ? 3
                          : u >= 0xc0 && u < 0xe0 ? 2
                                                  : 0;
    char32_t cp = n == 4 ? u & 0x07 : n == 3 ? u & 0x0f : u & 0x1f;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xc0) == 0x80;
      cp = (cp << 6) | (c & 0x3f);
    }
    static constexpr char32_t min_for[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= min_for[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    if (!ok) {
      out += "\\ufffd";
      ++i;
    } else if (cp >= 0x80 && cp <= 0x9f) {
      out += "\\u00";
      out += hex[cp >> 4];
      out += hex[cp & 0xf];
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
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
  EXPECT_EQ(as_literal("caf\xc3\xa9 \x7f"), "\"caf\xc3\xa9 \\u007f\"");  // UTF-8 as is, DEL escaped
}

TEST(JsonText, CharsAppendWithoutQuotes) {
  std::string out = "x";
  append_json_chars(out, "it's \"ok\"");
  EXPECT_EQ(out, R"(xit's \"ok\")");
}

// Raw bytes in, exact text out: each byte outside a well-formed sequence is one \ufffd.
TEST(JsonText, InvalidUtf8BytesBecomeReplacementCharacters) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"/caf\xe9\xff", R"("/caf\ufffd\ufffd")"},              // Latin-1 é, then 0xFF
      {"\xc0\xaf", R"("\ufffd\ufffd")"},                      // overlong '/' (2 bytes)
      {"\xe0\x80\xaf", R"("\ufffd\ufffd\ufffd")"},            // overlong '/' (3 bytes)
      {"\xf0\x80\x80\xaf", R"("\ufffd\ufffd\ufffd\ufffd")"},  // overlong '/' (4 bytes)
      {"\xc1\xbf", R"("\ufffd\ufffd")"},                      // overlong U+007F
      {"a\x80"
       "b",
       R"("a\ufffdb")"},                  // lone continuation byte
      {"\xbf\xbf", R"("\ufffd\ufffd")"},  // two of them
      {"\xc3", R"("\ufffd")"},            // truncated at the end
      {"\xe2\x82", R"("\ufffd\ufffd")"},  // truncated euro sign
      {"\xe2\x82"
       "A",
       R"("\ufffd\ufffdA")"},                                 // cut by an ASCII byte
      {"\xf0\x9f\x98", R"("\ufffd\ufffd\ufffd")"},            // truncated emoji
      {"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},            // surrogate U+D800 in UTF-8
      {"\xed\xbf\xbf", R"("\ufffd\ufffd\ufffd")"},            // surrogate U+DFFF
      {"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // U+110000, above Unicode
      {"\xf5\xf8\xfe\xff", R"("\ufffd\ufffd\ufffd\ufffd")"},  // bytes never in UTF-8
      {"\xe9\"", R"("\ufffd\"")"},                            // invalid, then an escaped quote
  };
  for (const auto& [in, expected] : cases) EXPECT_EQ(as_literal(in), expected) << in;
}

TEST(JsonText, ControlCharactersAreEscapedAndValidUtf8PassesThrough) {
  EXPECT_EQ(as_literal(std::string_view("\x00", 1)), R"("\u0000")");
  EXPECT_EQ(as_literal("\x7f"), R"("\u007f")");
  EXPECT_EQ(as_literal("\xc2\x80\xc2\x9f"), R"("\u0080\u009f")");  // C1 controls
  // Boundaries of table 3-7, each valid: U+00A0, U+07FF, U+0800, U+D7FF, U+E000,
  // U+FFFD, U+10000, U+10FFFF, and the euro sign.
  for (std::string_view ok :
       {"\xc2\xa0", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "caf\xc3\xa9 \xe2\x82\xac"}) {
    EXPECT_EQ(as_literal(ok), "\"" + std::string(ok) + "\"") << ok;
  }
}

TEST(JsonText, OutputIsAlwaysJsonThatDecodesBackToValidInput) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string s(rng() % 12, ' ');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    const std::string literal = as_literal(s);
    boost::system::error_code ec;
    const auto value = boost::json::parse(literal, ec);  // also rejects invalid UTF-8
    ASSERT_FALSE(ec) << i << ": " << ec.message() << " in " << literal;
    ASSERT_TRUE(value.is_string());
    if (literal.find("\\ufffd") == std::string::npos) {
      std::string decoded(value.as_string());
      // Only escapes changed; a valid input decodes back to itself.
      ASSERT_EQ(decoded, s) << i;
    }
  }
}

TEST(JsonText, MatchesCodePointByCodePointDefinition) {
  std::mt19937_64 rng(1);
  const std::string alphabet =
      std::string(
          "ab \"\\\n\r\t\x01\x1f\x7f\xc3\xa9\x80\x9f\xc2\xe2\x82\xac\xed\xa0\xf0\x9f\xf4\x90\xff",
          26) +
      '\0';
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(as_literal(s), reference(s)) << i;
  }
}

// The request path writes into a text_buffer through the same escaping.
TEST(JsonText, TextBufferGetsTheSameText) {
  std::mt19937_64 rng(2);
  const std::string alphabet("ab \"\\\n\x01\x7f\xc3\xa9\x80\xc2\x85\xed\xa0\xff", 16);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 24, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    std::string expected;
    append_json_string(expected, s);
    append_json_chars(expected, s);
    text_buffer out;
    append_json_string(out, s);
    append_json_chars(out, s);
    ASSERT_EQ(out.view(), expected) << i;
  }
}

}  // namespace
}  // namespace sluice
