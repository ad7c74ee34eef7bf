// Percent-encoding (RFC 3986 2.1): the one decoder for request paths, query parameters
// and admin URLs. Pure functions; thread-safe.
#pragma once

#include <cstddef>
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

// The byte the escape at in[i] stands for ('%' followed by two hex digits, either
// case), or -1 when in[i] does not start a well-formed escape (not '%', "%4" at the end,
// "%zz"). The one place that decodes %XX: the decoders below, request-path
// normalization (config/path.cpp, which route patterns go through too) and the
// api_key parameter name match (limit/engine.cpp) all read escapes with it.
inline int percent_escape_at(std::string_view in, std::size_t i) {
  if (in[i] != '%' || i + 2 >= in.size()) return -1;
  const int hi = hex_value(in[i + 1]);
  const int lo = hex_value(in[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Decodes `in` into `out` (replacing it); a malformed escape ("%4", "%zz") is kept as
// written, as most upstreams do.
void percent_decode_lenient(std::string_view in, std::string& out);

// Decodes `in`, or nullopt when it holds a malformed escape.
std::optional<std::string> percent_decode_strict(std::string_view in);

}  // namespace sluice
