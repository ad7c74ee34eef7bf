#include "identity/client_ip.hpp"

#include <cstddef>
#include <optional>

#include "util/ascii.hpp"

// Choices the header leaves open:
// - Empty list elements (",," or an empty header line) are skipped, as RFC 9110 5.6.1
//   asks of list recipients; they do not end the walk.
// - Forwarded elements are split right to left. The entries that decide the client
//   are the rightmost ones, written by our own proxies; parsing from the right keeps
//   a malformed left part (e.g. an unterminated quote sent by the client) from
//   swallowing them.
// - A Forwarded element that is malformed (unterminated quote, a pair without '=',
//   `for=` twice) ends the walk like a garbage address.
// - Ports: digits up to 65535; in Forwarded also an obfuscated port ("_abc",
//   RFC 7239 6.3). "[v6]" needs brackets only when a port follows; bare IPv6 is read
//   as is. A bracketed IPv4 ("[1.2.3.4]") is not an address.
// - x_real_ip accepts the same forms as one X-Forwarded-For entry; a value that is not
//   an address leaves the peer as the client.

namespace sluice::identity {
namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool valid_port(std::string_view port, bool allow_obfuscated) {
  if (port.empty()) return false;
  if (allow_obfuscated && port.front() == '_') {
    for (char c : port.substr(1)) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
    return port.size() > 1;
  }
  if (port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

// One node: "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443".
std::optional<ip_address> parse_node(std::string_view text, bool allow_obfuscated_port) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view inner = text.substr(1, close - 1);
    const std::string_view after = text.substr(close + 1);
    if (inner.find(':') == std::string_view::npos) return std::nullopt;
    if (!after.empty() &&
        (after.front() != ':' || !valid_port(after.substr(1), allow_obfuscated_port))) {
      return std::nullopt;
    }
    return ip_address::parse(inner);
  }
  if (auto address = ip_address::parse(text)) return address;
  // Only IPv4 may carry a port without brackets: exactly one ':'.
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  if (!valid_port(text.substr(colon + 1), allow_obfuscated_port)) return std::nullopt;
  return ip_address::parse(text.substr(0, colon));
}

// Finds the start of the element that ends at `end`: one past the nearest ',' to the
// left that is outside a quoted string, or 0. A '"' preceded by an odd number of
// backslashes is escaped. Returns npos when a quote is left open.
std::size_t element_start(std::string_view line, std::size_t end) {
  bool in_quote = false;
  for (std::size_t i = end; i > 0; --i) {
    const char c = line[i - 1];
    if (c == '"') {
      std::size_t backslashes = 0;
      while (i - 1 > backslashes && line[i - 2 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) in_quote = !in_quote;
    } else if (c == ',' && !in_quote) {
      return i;
    }
  }
  return in_quote ? std::string_view::npos : 0;
}

// The result of reading one Forwarded element.
enum class for_value { absent, found, malformed };

// Reads the `for=` value of one element ("for=1.2.3.4;proto=https"). Values of other
// pairs are only checked for well-formed quoting.
for_value element_for(std::string_view element, std::string_view& value) {
  bool found = false;
  std::size_t pos = 0;
  while (pos <= element.size()) {
    // Find the end of this pair: the next ';' outside quotes.
    std::size_t end = pos;
    bool in_quote = false;
    for (; end < element.size(); ++end) {
      const char c = element[end];
      if (in_quote && c == '\\') {
        ++end;  // skip the escaped character
      } else if (c == '"') {
        in_quote = !in_quote;
      } else if (c == ';' && !in_quote) {
        break;
      }
    }
    if (in_quote || end > element.size()) return for_value::malformed;
    const std::string_view pair = trim(element.substr(pos, end - pos));
    pos = end + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) return for_value::malformed;
    if (!iequals(trim(pair.substr(0, eq)), "for")) continue;
    if (found) return for_value::malformed;  // RFC 7239 4: at most once per element
    found = true;
    value = trim(pair.substr(eq + 1));
    if (!value.empty() && value.front() == '"') {
      if (value.size() < 2 || value.back() != '"') return for_value::malformed;
      value = value.substr(1, value.size() - 2);
      // A quoted-pair never belongs in a node; treat it as not-an-address.
      if (value.find('\\') != std::string_view::npos) value = {};
    }
  }
  return found ? for_value::found : for_value::absent;
}

// The right-to-left walk shared by X-Forwarded-For and Forwarded: `result` starts as
// the peer; each accepted address replaces it; the first untrusted one ends the walk.
struct walk {
  std::span<const cidr> trusted;
  ip_address result;
  bool done = false;

  // Returns false when the walk has ended.
  bool offer(std::optional<ip_address> address) {
    if (!address) {
      done = true;
      return false;
    }
    result = *address;
    if (!contains_any(trusted, result)) done = true;
    return !done;
  }
};

void walk_x_forwarded_for(std::string_view line, walk& w) {
  std::size_t end = line.size();
  while (!w.done) {
    const auto comma = end == 0 ? std::string_view::npos : line.rfind(',', end - 1);
    const std::size_t start = comma == std::string_view::npos ? 0 : comma + 1;
    const std::string_view entry = trim(line.substr(start, end - start));
    if (!entry.empty()) w.offer(parse_node(entry, false));
    if (comma == std::string_view::npos) break;
    end = comma;
  }
}

void walk_forwarded(std::string_view line, walk& w) {
  std::size_t end = line.size();
  while (!w.done) {
    const std::size_t start = element_start(line, end);
    if (start == std::string_view::npos) {
      w.offer(std::nullopt);
      break;
    }
    const std::string_view element = trim(line.substr(start, end - start));
    if (!element.empty()) {
      std::string_view value;
      switch (element_for(element, value)) {
        case for_value::absent:
          break;
        case for_value::malformed:
          w.offer(std::nullopt);
          break;
        case for_value::found:
          w.offer(parse_node(value, true));
          break;
      }
    }
    if (start == 0) break;
    end = start - 1;
  }
}

}  // namespace

ip_address resolve_client_ip(const ip_address& peer, std::span<const std::string_view> header_lines,
                             config::client_ip_source source, std::span<const cidr> trusted) {
  if (!contains_any(trusted, peer) || header_lines.empty()) return peer;

  if (source == config::client_ip_source::x_real_ip) {
    auto address = parse_node(trim(header_lines.back()), false);
    return address ? *address : peer;
  }

  walk w{trusted, peer};
  for (std::size_t i = header_lines.size(); i > 0 && !w.done; --i) {
    if (source == config::client_ip_source::forwarded) {
      walk_forwarded(header_lines[i - 1], w);
    } else {
      walk_x_forwarded_for(header_lines[i - 1], w);
    }
  }
  return w.result;
}

}  // namespace sluice::identity
