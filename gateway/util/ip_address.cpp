#include "util/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice {
namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
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
  int bits = is_v4() ? prefix_bits + 96 : prefix_bits;
  if (bits < 0) bits = 0;
  if (bits > 128) bits = 128;
  ip_address out = *this;
  for (int i = 0; i < 16; ++i) {
    int keep = bits - i * 8;
    if (keep >= 8) continue;
    out.bytes_[i] &= keep <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - keep));
  }
  return out;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

std::optional<cidr> cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto address = ip_address::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const int max_bits = address->is_v4() && text.substr(0, slash).find(':') == std::string_view::npos
                           ? 32
                           : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
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

std::string cidr::to_string() const {
  return network_.to_string() + "/" + std::to_string(prefix_bits_);
}

}  // namespace sluice
