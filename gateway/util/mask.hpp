// Masks secrets for logs, the dashboard and /admin/config. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// Keeps the first 4 characters of keys longer than 8 and hides the rest:
// "key-demo-pro" -> "key-****". Short values are hidden entirely.
inline std::string mask_secret(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() <= 8) return "****";
  return std::string(value.substr(0, 4)) + "****";
}

// mask_secret plus 6 hex digits of a hash of the whole value: "key-****#3fa81c".
// Where masked keys are counted apart (the dashboard's top limited clients), keys
// sharing their first characters must not merge into one row. 24 bits of an FNV-1a
// hash tell keys apart without helping anyone guess a key.
inline std::string mask_secret_distinct(std::string_view value) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : value) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  constexpr char digits[] = "0123456789abcdef";
  std::string out = mask_secret(value);
  out += '#';
  for (int shift = 20; shift >= 0; shift -= 4) out += digits[(hash >> shift) & 0xf];
  return out;
}

}  // namespace sluice
