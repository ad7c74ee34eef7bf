// IP addresses and CIDR blocks as plain values (no sockets involved).
// Owned by value; immutable after parse; thread-safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice {

// An IPv4 or IPv6 address. IPv4 is stored as an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) so that matching and hashing have one code path.
class ip_address {
 public:
  ip_address() = default;

  // Accepts dotted IPv4, IPv6 (RFC 4291 text forms, optional zone is rejected),
  // and IPv4-mapped IPv6. Returns nullopt on anything else.
  static std::optional<ip_address> parse(std::string_view text);
  static ip_address from_v4(std::uint32_t host_order);
  static ip_address from_v6(const std::array<std::uint8_t, 16>& bytes);

  bool is_v4() const;  // true for IPv4 and IPv4-mapped IPv6
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  // The address with all bits after `prefix_bits` cleared. For IPv4 the prefix
  // counts IPv4 bits (0..32); for IPv6 it counts IPv6 bits (0..128).
  ip_address masked(int prefix_bits) const;

  // Canonical text: dotted quad for IPv4 (mapped ones included), RFC 5952 for IPv6.
  std::string to_string() const;

  friend bool operator==(const ip_address&, const ip_address&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

// A CIDR block such as 10.0.0.0/8 or 2001:db8::/32. A bare address is a /32 or /128.
class cidr {
 public:
  cidr() = default;
  static std::optional<cidr> parse(std::string_view text);

  bool contains(const ip_address& address) const;
  std::string to_string() const;

  friend bool operator==(const cidr&, const cidr&) = default;

 private:
  ip_address network_;
  int prefix_bits_ = 0;  // in the family's own bits (IPv4: 0..32)
};

// True when any of `blocks` contains `address` (false for no blocks).
bool contains_any(std::span<const cidr> blocks, const ip_address& address);

}  // namespace sluice
