// Masks secrets for logs, the dashboard and /admin/config. Pure.
#pragma once

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

}  // namespace sluice
