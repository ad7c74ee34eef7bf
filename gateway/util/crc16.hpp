// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the hash of Redis Cluster's
// key slots (slot = crc16(key or its hash tag) % 16384), with an incremental form so a
// caller can hash a common prefix once. Pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sluice {

namespace crc16_detail {
inline constexpr std::array<std::uint16_t, 256> table = [] {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    t[i] = crc;
  }
  return t;
}();
}  // namespace crc16_detail

// The CRC of (what gave `crc`) followed by `bytes`; crc16_update(0, s) is the CRC of s.
constexpr std::uint16_t crc16_update(std::uint16_t crc, std::string_view bytes) noexcept {
  for (unsigned char c : bytes) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_detail::table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

constexpr std::uint16_t crc16(std::string_view bytes) noexcept {
  return crc16_update(0, bytes);
}

}  // namespace sluice
