#include "util/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice {
namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  // inet_pton stops at a NUL, which would accept "1.2.3.4\0anything".
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  ip_address a;
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    std::memcpy(a.bytes_.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size());
    std::memcpy(a.bytes_.data() + 12, &v4.s_addr, 4);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(a.bytes_.data(), v6.s6_addr, 16);
    return a;
  }
  return std::nullopt;
}

ip_address ip_address::from_v4(std::uint32_t host_order) {
  ip_address a;
  std::memcpy(a.bytes_.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size());
  a.bytes_[12] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes_[13] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes_[14] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes_[15] = static_cast<std::uint8_t>(host_order);
  return a;
}

ip_address ip_address::from_v6(const std::array<std::uint8_t, 16>& bytes) {
  ip_address a;
  a.bytes_ = bytes;
  return a;
}

bool ip_address::is_v4() const {
  return std::memcmp(bytes_.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size()) == 0;
}

ip_address ip_address::masked(int prefix_bits) const {
  // Clamp in the family's own range first: an IPv4 prefix below 0 must not eat into
  // the ::ffff: prefix and turn the address into IPv6.
  const int family_bits = is_v4() ? 32 : 128;
  if (prefix_bits < 0) prefix_bits = 0;
  if (prefix_bits > family_bits) prefix_bits = family_bits;
  const int bits = is_v4() ? prefix_bits + 96 : prefix_bits;
  ip_address out = *this;
  for (int i = 0; i < 16; ++i) {
    int keep = bits - i * 8;
    if (keep >= 8) continue;
    out.bytes_[i] &= keep <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - keep));
  }
  return out;
}

std::string ip_address::to_string() const {
  if (is_v4()) {
    // By hand: inet_ntop formats through sprintf (~1,800 instructions), and this runs
    // on every request (the `ip` key part). At most 15 characters: no allocation.
    char buf[16];
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      unsigned v = bytes_[i];
      if (v >= 100) {
        *p++ = static_cast<char>('0' + v / 100);
        v %= 100;
        *p++ = static_cast<char>('0' + v / 10);
        v %= 10;
      } else if (v >= 10) {
        *p++ = static_cast<char>('0' + v / 10);
        v %= 10;
      }
      *p++ = static_cast<char>('0' + v);
      if (i < 15) *p++ = '.';
    }
    return std::string(buf, p);
  }
  // RFC 5952 by hand: glibc's inet_ntop prints ::2:3 as "::0.2.0.3" (mixed notation
  // for any address with 96 leading zero bits), which RFC 5952 5 reserves for
  // well-known prefixes such as ::ffff:0:0/96 (handled above as IPv4).
  std::uint16_t words[8];
  for (int i = 0; i < 8; ++i)
    words[i] = static_cast<std::uint16_t>(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
  // The longest run of two or more zero words (the first one on a tie) becomes "::".
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  out.reserve(39);
  constexpr char digits[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const int nibble = (words[i] >> shift) & 0xf;
      if (leading && nibble == 0 && shift > 0) continue;
      leading = false;
      out += digits[nibble];
    }
  }
  return out;
}

std::optional<cidr> cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto address = ip_address::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const int max_bits =
      address->is_v4() && text.substr(0, slash).find(':') == std::string_view::npos ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    // from_chars takes a sign ("/-0" would read as /0, i.e. everything): digits only.
    if (digits.empty() || digits.front() < '0' || digits.front() > '9') return std::nullopt;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() || bits < 0 ||
        bits > max_bits) {
      return std::nullopt;
    }
  }
  cidr c;
  // An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) is the IPv4 block it maps.
  if (max_bits == 128 && address->is_v4()) {
    if (bits < 96) return std::nullopt;
    bits -= 96;
  }
  c.prefix_bits_ = bits;
  c.network_ = address->masked(bits);
  return c;
}

bool cidr::contains(const ip_address& address) const {
  if (address.is_v4() != network_.is_v4()) return false;
  return address.masked(prefix_bits_) == network_;
}

bool contains_any(std::span<const cidr> blocks, const ip_address& address) {
  for (const auto& block : blocks) {
    if (block.contains(address)) return true;
  }
  return false;
}

std::string cidr::to_string() const {
  return network_.to_string() + "/" + std::to_string(prefix_bits_);
}

}  // namespace sluice
