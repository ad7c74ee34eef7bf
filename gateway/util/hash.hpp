// A fast 64-bit keyed hash for short strings (wyhash-style multiply-mix). Keyed with
// a per-process random seed so clients cannot aim for collisions. Pure and thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice {

namespace hash_detail {
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline std::uint64_t read64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint64_t read32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline constexpr std::uint64_t p0 = 0xa0761d6478bd642full;
inline constexpr std::uint64_t p1 = 0xe7037ed1a0b428dbull;
inline constexpr std::uint64_t p2 = 0x8ebc6af09c88c6e3ull;
}  // namespace hash_detail

inline std::uint64_t hash64(std::string_view s, std::uint64_t seed) {
  using namespace hash_detail;
  const char* d = s.data();
  std::size_t n = s.size();
  // Input words are xored with seed-derived values, never with a public constant
  // alone: an input word equal to that constant would zero a product, erase the seed,
  // and give collisions that hold for every seed.
  const std::uint64_t secret = mix(seed ^ p1, p2) ^ p0;
  seed ^= mix(seed ^ p0, p1);
  while (n > 16) {
    seed = mix(read64(d) ^ secret, read64(d + 8) ^ seed);
    d += 16;
    n -= 16;
  }
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = read64(d);
    b = read64(d + n - 8);
  } else if (n >= 4) {
    a = read32(d);
    b = read32(d + n - 4);
  } else if (n > 0) {
    a = (std::uint64_t{static_cast<unsigned char>(d[0])} << 16) |
        (std::uint64_t{static_cast<unsigned char>(d[n >> 1])} << 8) |
        static_cast<unsigned char>(d[n - 1]);
  }
  return mix(p2 ^ s.size(), mix(a ^ secret, b ^ seed));
}

// Combines two hashes (e.g. a limit's namespace and a key) into one.
inline std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) {
  return hash_detail::mix(a ^ hash_detail::p0, b ^ hash_detail::p1);
}

}  // namespace sluice
