// Percent-encoding (RFC 3986 2.1): the one decoder for request paths, query parameters
// and admin URLs. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// The value of hex digit `c`, or -1.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes `in` into `out` (replacing it); a malformed escape ("%4", "%zz") is kept as
// written, as most upstreams do.
void percent_decode_lenient(std::string_view in, std::string& out);

// Decodes `in`, or nullopt when it holds a malformed escape.
std::optional<std::string> percent_decode_strict(std::string_view in);

}  // namespace sluice
