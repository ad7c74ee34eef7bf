// ASCII case-insensitive comparison for protocol tokens (field names, codings, URL
// schemes). Pure.
//
// Sluice's own, not Beast's: beast::iequals in Boost 1.81 reads one byte past both
// inputs when their last characters differ only in case (its slow loop loads the next
// pair before testing the count). A view that ends its buffer, as the field texts the
// head arena copies do, makes that an out-of-bounds read (found by
// upstream_response_fuzz and http_request_fuzz under ASan).
#pragma once

#include <cstddef>
#include <string_view>

namespace sluice {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace sluice
