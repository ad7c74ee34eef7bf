#include "limit/path.hpp"

#include <cstddef>

// Choices the header leaves open:
// - Percent-decoding happens before dot-segment removal (RFC 3986 6.2.2 order), so
//   "%2e%2E" is a dot segment and "/a/%2e%2e/b" is "/b". Upstreams decode before
//   routing, so keeping such a segment would let "/x/%2e%2e/login" dodge the "login"
//   route's limits.
// - "%2F" stays encoded and is not a segment separator.
// - A trailing slash is kept ("/a/" stays "/a/"), and a final "." or ".." leaves one
//   ("/a/b/.." -> "/a/"), as RFC 3986 5.2.4 does; the route matcher ignores it.
// - ".." above the root is dropped ("/.." -> "/").

namespace sluice::limit {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return hex_value(c) >= 0;
}

// Appends the percent-normalized form of one raw segment; false on a bad escape.
bool append_decoded(std::string_view seg, std::string& out) {
  constexpr char digits[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < seg.size(); ++i) {
    const char c = seg[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= seg.size()) return false;
    const int hi = hex_value(seg[i + 1]);
    const int lo = hex_value(seg[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (is_unreserved(decoded)) {
      out += decoded;
    } else {
      out += '%';
      out += digits[hi];
      out += digits[lo];
    }
    i += 2;
  }
  return true;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

// See path.hpp: digits, UUIDs, and 16+ character hex or letter+digit tokens. Shorter
// mixed words ("v2", "oauth2") and plain words stay, so routes remain readable.
bool is_id_like(std::string_view s) {
  if (s.empty()) return false;
  bool all_hex = true, all_alnum = true, has_alpha = false, has_digit = false;
  for (char c : s) {
    const bool digit = is_digit(c), alpha = is_alpha(c);
    all_hex = all_hex && is_hex(c);
    all_alnum = all_alnum && (digit || alpha);
    has_alpha = has_alpha || alpha;
    has_digit = has_digit || digit;
  }
  if (all_alnum && !has_alpha) return true;  // all digits
  if (s.size() >= 16 && (all_hex || (all_alnum && has_digit))) return true;
  return is_uuid(s);
}

}  // namespace

bool normalize_path(std::string_view raw, std::string& out) {
  out.clear();
  if (raw.empty() || raw.front() != '/') return false;
  // Output is never longer than the input, so this is the only possible allocation,
  // and none at all once the reused buffer has grown.
  out.reserve(raw.size());

  // `out` holds "/seg" pieces; a trailing slash is appended at the end if needed.
  bool trailing_slash = false;
  std::size_t pos = 1;
  while (true) {
    std::size_t end = raw.find('/', pos);
    const bool last = end == std::string_view::npos;
    if (last) end = raw.size();
    const std::string_view seg = raw.substr(pos, end - pos);
    if (seg.empty()) {
      trailing_slash = last;  // "//" collapses; a final "/" is kept
    } else {
      const std::size_t mark = out.size();
      out += '/';
      if (!append_decoded(seg, out)) {
        out.clear();
        return false;
      }
      const std::string_view decoded = std::string_view(out).substr(mark + 1);
      if (decoded == ".") {
        out.resize(mark);
        trailing_slash = true;
      } else if (decoded == "..") {
        out.resize(mark);
        const std::size_t prev = out.rfind('/');
        out.resize(prev == std::string::npos ? 0 : prev);
        trailing_slash = true;
      } else {
        trailing_slash = false;
      }
    }
    if (last) break;
    pos = end + 1;
  }
  if (out.empty() || trailing_slash) out += '/';
  return true;
}

void collapse_ids(std::string_view normalized, std::string& out) {
  out.clear();
  // "{id}" can be longer than the segment it replaces ("/1"), so the reused buffer may
  // grow a little past the input size; it settles at its high-water mark.
  out.reserve(normalized.size());
  std::size_t pos = 0;
  while (pos < normalized.size()) {
    std::size_t end = normalized.find('/', pos);
    if (end == std::string_view::npos) end = normalized.size();
    const std::string_view seg = normalized.substr(pos, end - pos);
    if (is_id_like(seg)) {
      out += "{id}";
    } else {
      out.append(seg);
    }
    if (end < normalized.size()) out += '/';
    pos = end + 1;
  }
}

}  // namespace sluice::limit
