// Fuzzes client IP resolution (gateway/identity/client_ip.hpp) and the address and
// CIDR parsers under it (gateway/util/ip_address.hpp).
//
// Input: line 1 = the peer address, line 2 = the trusted proxies (separated by ' '),
// line 3's first byte picks the header (x_forwarded_for, forwarded, x_real_ip), the
// remaining lines are the header lines. Properties:
// - the result is the peer, or an address that appears in the header lines;
// - an untrusted peer, or no header line, gives the peer;
// - X-Forwarded-For: the lines give the same result as one line joining them with ","
//   (and Forwarded too, when no quoting can span lines), and the result is what a
//   plain reference walk of the entries gives;
// - ip_address and cidr text round-trips: parse(to_string(x)) == x.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "identity/client_ip.hpp"
#include "util/ip_address.hpp"

namespace {

using sluice::cidr;
using sluice::ip_address;
using sluice::config::client_ip_source;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

void check_address_round_trip(std::string_view text) {
  const auto a = ip_address::parse(text);
  if (!a) return;
  const std::string canonical = a->to_string();
  const auto again = ip_address::parse(canonical);
  FUZZ_CHECK(again && *again == *a, canonical);
  FUZZ_CHECK(again->to_string() == canonical, canonical);
  FUZZ_CHECK(a->masked(a->is_v4() ? 32 : 128) == *a, canonical);
}

void check_cidr_round_trip(const cidr& c, std::string_view text) {
  const std::string shown = c.to_string();
  const auto again = cidr::parse(shown);
  FUZZ_CHECK(again && *again == c, std::string(text) + " -> " + shown);
  // The block contains its own network address.
  const auto network = ip_address::parse(shown.substr(0, shown.find('/')));
  FUZZ_CHECK(network && c.contains(*network), shown);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Every address the header lines could be naming: pieces between separators, with
// brackets and a port taken off. A superset of what resolve_client_ip can return.
std::vector<ip_address> addresses_in(const std::vector<std::string_view>& lines) {
  std::vector<ip_address> out;
  const auto add = [&](std::string_view piece) {
    if (auto a = ip_address::parse(piece)) out.push_back(*a);
  };
  for (std::string_view line : lines) {
    std::string_view rest = line;
    while (!rest.empty()) {
      const auto end = rest.find_first_of(",;=\" \t");
      const std::string_view piece = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      if (piece.empty()) continue;
      add(piece);
      if (piece.front() == '[') {
        const auto close = piece.find(']');
        if (close != std::string_view::npos) add(piece.substr(1, close - 1));
      }
      const auto colon = piece.rfind(':');
      if (colon != std::string_view::npos) add(piece.substr(0, colon));
    }
  }
  return out;
}

bool trusted_by(const std::vector<cidr>& trusted, const ip_address& a) {
  return std::any_of(trusted.begin(), trusted.end(), [&](const cidr& c) { return c.contains(a); });
}

// One X-Forwarded-For entry as the header comment describes it, written plainly.
std::optional<ip_address> reference_node(std::string_view e) {
  const auto port_ok = [](std::string_view p) {
    if (p.empty() || p.size() > 5) return false;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v <= 65535;
  };
  if (!e.empty() && e.front() == '[') {
    const auto close = e.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto inner = e.substr(1, close - 1);
    const auto after = e.substr(close + 1);
    if (inner.find(':') == std::string_view::npos) return std::nullopt;  // "[1.2.3.4]"
    if (!after.empty() && (after.front() != ':' || !port_ok(after.substr(1)))) {
      return std::nullopt;
    }
    return ip_address::parse(inner);
  }
  if (auto a = ip_address::parse(e)) return a;
  if (std::count(e.begin(), e.end(), ':') != 1) return std::nullopt;
  const auto colon = e.find(':');
  if (!port_ok(e.substr(colon + 1))) return std::nullopt;
  return ip_address::parse(e.substr(0, colon));
}

// The right-to-left walk over every entry of every line.
ip_address reference_xff(const ip_address& peer, const std::vector<std::string_view>& lines,
                         const std::vector<cidr>& trusted) {
  if (!trusted_by(trusted, peer) || lines.empty()) return peer;
  std::vector<std::string_view> entries;
  for (std::string_view line : lines) {
    for (std::string_view e : split(line, ',')) {
      e = trim(e);
      if (!e.empty()) entries.push_back(e);
    }
  }
  ip_address result = peer;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto a = reference_node(*it);
    if (!a) break;
    result = *a;
    if (!trusted_by(trusted, result)) break;
  }
  return result;
}

std::string describe(const std::vector<std::string_view>& lines, const ip_address& got) {
  std::string s = "got " + got.to_string() + " from lines:";
  for (auto l : lines) s += " [" + std::string(l) + "]";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;  // header lines are bounded by max_header_bytes anyway
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines = split(input, '\n');
  if (lines.size() < 3) {
    for (auto l : lines) check_address_round_trip(l);
    return 0;
  }

  const std::string_view peer_text = lines[0];
  check_address_round_trip(peer_text);
  const ip_address peer = ip_address::parse(peer_text).value_or(ip_address::from_v4(0x0a000001));

  std::vector<cidr> trusted;
  for (std::string_view t : split(lines[1], ' ')) {
    check_address_round_trip(t);
    if (auto c = cidr::parse(t)) {
      check_cidr_round_trip(*c, t);
      trusted.push_back(*c);
    }
  }
  const char selector = lines[2].empty() ? 0 : lines[2].front();
  const auto source = static_cast<client_ip_source>(static_cast<unsigned char>(selector) % 3);
  const std::vector<std::string_view> header(lines.begin() + 3, lines.end());

  const ip_address got = sluice::identity::resolve_client_ip(peer, header, source, trusted);

  if (!trusted_by(trusted, peer) || header.empty()) {
    FUZZ_CHECK(got == peer, describe(header, got));
  }
  if (got != peer) {
    const auto candidates = addresses_in(header);
    FUZZ_CHECK(std::find(candidates.begin(), candidates.end(), got) != candidates.end(),
               describe(header, got));
  }

  if (source == client_ip_source::x_forwarded_for) {
    const ip_address expected = reference_xff(peer, header, trusted);
    FUZZ_CHECK(got == expected, describe(header, got) + "; reference: " + expected.to_string());
  }
  const bool quoting = std::any_of(header.begin(), header.end(), [](std::string_view l) {
    return l.find_first_of("\"\\") != std::string_view::npos;
  });
  if (source == client_ip_source::x_forwarded_for ||
      (source == client_ip_source::forwarded && !quoting)) {
    std::string joined;
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (i != 0) joined += ',';
      joined.append(header[i]);
    }
    const std::string_view one[] = {joined};
    const ip_address from_joined = sluice::identity::resolve_client_ip(peer, one, source, trusted);
    FUZZ_CHECK(from_joined == got, describe(header, got) + "; joined: " + from_joined.to_string());
  }
  return 0;
}
