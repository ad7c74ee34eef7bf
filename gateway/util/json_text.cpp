#include "util/json_text.hpp"

namespace sluice {

namespace {

constexpr char hex[] = "0123456789abcdef";

bool is_continuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

// The length of the well-formed UTF-8 sequence starting at s[i] (Unicode table 3-7),
// or 0 when the byte there does not start one. s[i] >= 0x80.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const std::size_t left = s.size() - i;
  const unsigned char lead = at(0);
  if (lead < 0xc2) return 0;  // a continuation byte, or C0/C1 (overlong)
  if (lead < 0xe0) return left >= 2 && is_continuation(at(1)) ? 2 : 0;
  if (lead < 0xf0) {
    // E0: no overlong (A0..BF); ED: no surrogates (80..9F).
    const unsigned char lo = lead == 0xe0 ? 0xa0 : 0x80;
    const unsigned char hi = lead == 0xed ? 0x9f : 0xbf;
    return left >= 3 && at(1) >= lo && at(1) <= hi && is_continuation(at(2)) ? 3 : 0;
  }
  if (lead < 0xf5) {
    // F0: no overlong (90..BF); F4: nothing above U+10FFFF (80..8F).
    const unsigned char lo = lead == 0xf0 ? 0x90 : 0x80;
    const unsigned char hi = lead == 0xf4 ? 0x8f : 0xbf;
    return left >= 4 && at(1) >= lo && at(1) <= hi && is_continuation(at(2)) &&
                   is_continuation(at(3))
               ? 4
               : 0;
  }
  return 0;
}

// Out: std::string or text_buffer (both append a string_view and push_back a char).
template <class Out>
void append_control(Out& out, unsigned char u) {
  out.append(std::string_view("\\u00"));
  out.push_back(hex[u >> 4]);
  out.push_back(hex[u & 0xf]);
}

template <class Out>
void escape_into(Out& out, std::string_view s) {
  // Runs of characters that need no escape are copied in one append: most names and
  // messages are a single run.
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f && u != '"' && u != '\\') {
      ++i;
      continue;
    }
    if (u >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      const bool c1_control = n == 2 && u == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
      if (n > 0 && !c1_control) {
        i += n;
        continue;
      }
      out.append(s.substr(run, i - run));
      if (c1_control) {
        append_control(out, static_cast<unsigned char>(s[i + 1]));
        i += 2;
      } else {
        out.append(std::string_view("\\ufffd"));
        ++i;
      }
      run = i;
      continue;
    }
    out.append(s.substr(run, i - run));
    switch (u) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        append_control(out, u);  // C0 and DEL
    }
    run = ++i;
  }
  out.append(s.substr(run));
}

template <class Out>
void quote_into(Out& out, std::string_view s) {
  out.push_back('"');
  escape_into(out, s);
  out.push_back('"');
}

}  // namespace

void append_json_chars(std::string& out, std::string_view s) {
  escape_into(out, s);
}
void append_json_chars(text_buffer& out, std::string_view s) {
  escape_into(out, s);
}
void append_json_string(std::string& out, std::string_view s) {
  quote_into(out, s);
}
void append_json_string(text_buffer& out, std::string_view s) {
  quote_into(out, s);
}

}  // namespace sluice
