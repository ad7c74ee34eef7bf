#include "config/path.hpp"

#include <cstddef>

#include "util/percent.hpp"

// Choices the header leaves open:
// - Percent-decoding happens before dot-segment removal (RFC 3986 6.2.2 order), so
//   "%2e%2E" is a dot segment and "/a/%2e%2e/b" is "/b". Upstreams decode before
//   routing, so keeping such a segment would let "/x/%2e%2e/login" dodge the "login"
//   route's limits.
// - Matrix parameters are where readings part: Tomcat, Jetty and Spring cut ";params"
//   before removing dot segments ("/static/..;/auth/login" is "/auth/login" to them),
//   Go, Node and nginx keep ';' as data. A segment that is "." or ".." once cut is
//   rejected, and so is a ".." after a segment that is empty once cut ("/a/;x/../b"
//   is "/a/b" with ';' as data, "/b" to Tomcat): whatever the options, every dot
//   segment then removes the same segments in both readings. An encoded ';' is
//   rejected: some servers decode before cutting ("%3B" then starts parameters),
//   others after (it is data), so no reading of it is right for both.
// - A trailing slash is kept ("/a/" stays "/a/"), and a final "." or ".." leaves one
//   ("/a/b/.." -> "/a/"), as RFC 3986 5.2.4 does; the route matcher ignores it.
// - ".." above the root is dropped ("/.." -> "/").
// - A segment left empty by stripping (";x") collapses like an empty one ("//"); without
//   stripping it is a segment of its own ("/;jsessionid=1" is Tomcat's spelling of "/").
// - Raw bytes >= 0x80 pass through untouched; case folding is ASCII only.

namespace sluice::limit {
namespace {

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
bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// "%2F" or "%2f" at raw[i].
bool is_encoded_slash(std::string_view raw, std::size_t i) {
  return i + 2 < raw.size() && raw[i] == '%' && raw[i + 1] == '2' &&
         (raw[i + 2] == 'F' || raw[i + 2] == 'f');
}

// Where the segment starting at `pos` ends: the next '/', or "%2F" when it separates.
std::size_t segment_end(std::string_view raw, std::size_t pos, bool encoded_slash_separates) {
  for (std::size_t i = pos; i < raw.size(); ++i) {
    if (raw[i] == '/' || (encoded_slash_separates && is_encoded_slash(raw, i))) return i;
  }
  return raw.size();
}

// Appends the normalized form of one raw segment (no '/'), or says why it is rejected.
// `params_only`: the segment is empty once its ";params" are cut (";x").
path_status append_segment(std::string_view seg, const path_options& options, std::string& out,
                           bool& params_only) {
  constexpr char digits[] = "0123456789ABCDEF";
  const std::size_t start = out.size();
  std::size_t params = std::string::npos;  // where the first ';' went in `out`
  for (std::size_t i = 0; i < seg.size(); ++i) {
    const char c = seg[i];
    const auto u = static_cast<unsigned char>(c);
    if (c == '%') {
      const int byte = percent_escape_at(seg, i);
      if (byte < 0) return path_status::malformed;
      const char decoded = static_cast<char>(byte);
      if (is_control(static_cast<unsigned char>(decoded))) return path_status::control_character;
      if (decoded == '\\') return path_status::backslash;
      // Reached only when %2F does not separate segments (see segment_end).
      if (decoded == '/') return path_status::encoded_slash;
      if (decoded == ';') return path_status::encoded_semicolon;
      if (is_unreserved(decoded)) {
        out += decoded;
      } else {
        out += '%';
        out += digits[byte >> 4];
        out += digits[byte & 0xf];
      }
      i += 2;
    } else if (c == '#') {
      return path_status::fragment;
    } else if (c == '\\') {
      return path_status::backslash;
    } else if (is_control(u)) {
      return path_status::control_character;
    } else if (c == ' ') {
      return path_status::malformed;
    } else {
      if (c == ';' && params == std::string::npos) params = out.size();
      out += c;
    }
  }
  // An escape in `out` starts with the only '%' there can be, so these are real %20s.
  const std::string_view whole = std::string_view(out).substr(start);
  const std::string_view path_part =
      params == std::string::npos ? whole : std::string_view(out).substr(start, params - start);
  if (whole.starts_with("%20") || whole.ends_with("%20") || path_part.ends_with("%20")) {
    return path_status::edge_whitespace;
  }
  // Options aside: "..;x" is ".." to a server that cuts parameters, a name to Sluice
  // without stripping. Rejected either way, so the options never change acceptance.
  if (params != std::string::npos && (path_part == "." || path_part == "..")) {
    return path_status::dot_params;
  }
  params_only = params != std::string::npos && path_part.empty();
  if (options.strip_matrix_params && params != std::string::npos) out.resize(params);
  if (options.case_insensitive) {
    for (std::size_t i = start; i < out.size(); ++i) {
      if (out[i] == '%') {
        i += 2;  // keep the escape's upper-case hex
      } else if (out[i] >= 'A' && out[i] <= 'Z') {
        out[i] = static_cast<char>(out[i] - 'A' + 'a');
      }
    }
  }
  return path_status::ok;
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

std::string_view describe(path_status status) {
  switch (status) {
    case path_status::ok:
      return "";
    case path_status::malformed:
      return "Malformed request path";
    case path_status::fragment:
      return "Fragment (#) in request target";
    case path_status::control_character:
      return "Control character in path";
    case path_status::backslash:
      return "Backslash in path";
    case path_status::encoded_slash:
      return "Encoded slash in path";
    case path_status::edge_whitespace:
      return "Space at the start or end of a path segment";
    case path_status::encoded_semicolon:
      return "Encoded semicolon in path";
    case path_status::dot_params:
      return "Parameters (;) on a dot segment or before '..'";
  }
  return "Malformed request path";
}

path_status split_target(std::string_view target, std::string_view& path, std::string_view& query) {
  if (target.find('#') != std::string_view::npos) return path_status::fragment;
  const auto qmark = target.find('?');
  path = target.substr(0, qmark);
  query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  return path_status::ok;
}

path_status normalize_path(std::string_view raw, const path_options& options, std::string& out) {
  out.clear();
  if (raw.empty() || raw.front() != '/') return path_status::malformed;
  // Output is never longer than the input, so this is the only possible allocation,
  // and none at all once the reused buffer has grown.
  out.reserve(raw.size());

  // `out` holds "/seg" pieces; a trailing slash is appended at the end if needed.
  bool trailing_slash = false;
  bool after_params_only = false;  // a segment that is only ";params" came before
  std::size_t pos = 1;
  while (true) {
    const std::size_t end = segment_end(raw, pos, options.allow_encoded_slash);
    const bool last = end == raw.size();
    const std::size_t mark = out.size();
    out += '/';
    bool params_only = false;
    if (const auto status = append_segment(raw.substr(pos, end - pos), options, out, params_only);
        status != path_status::ok) {
      out.clear();
      return status;
    }
    const std::string_view decoded = std::string_view(out).substr(mark + 1);
    // "/a/;x/.." climbs to "/a/" with ';' as data, to "/" where ";x" is cut: rejected
    // whatever the options (a ".." is never a ";params" segment: append_segment).
    if (decoded == ".." && after_params_only) {
      out.clear();
      return path_status::dot_params;
    }
    after_params_only = after_params_only || params_only;
    if (decoded.empty()) {
      out.resize(mark);
      trailing_slash = last;  // "//" collapses; a final "/" is kept
    } else if (decoded == ".") {
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
    if (last) break;
    pos = end + (raw[end] == '/' ? 1 : 3);  // '/' or "%2F"
  }
  if (out.empty() || trailing_slash) out += '/';
  return path_status::ok;
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
