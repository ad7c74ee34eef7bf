// Test helper: other spellings of a plain path that normalize to the same path, for
// the "spellings that normalize equal route equal" properties. Test-only.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>

#include "config/path.hpp"

namespace sluice::limit::testing {

// Another spelling of `base` (a plain path of letters, digits, '.' and '/', no dot
// segments) that normalizes to the same path under `options`: escapes in either hex
// case, dot segments, doubled slashes and, as the options allow, upper case, matrix
// parameters and encoded slashes.
inline std::string respell(std::string_view base, const path_options& options, std::mt19937& rng) {
  constexpr char hex[] = "0123456789ABCDEFabcdef";
  auto coin = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  std::string out;
  for (std::size_t i = 0; i < base.size(); ++i) {
    const char c = base[i];
    if (c == '/') {
      if (options.strip_matrix_params && i > 0 && coin(30)) out += ";jsessionid=1";
      if (options.allow_encoded_slash && i > 0 && coin(30)) {
        out += coin(50) ? "%2F" : "%2f";
      } else {
        out += c;
      }
      if (coin(20)) out += coin(50) ? "/" : "./";
      if (coin(15)) out += "zz/%2e%2E/";
      if (options.strip_matrix_params && coin(10)) out += "zz;x/../";
      continue;
    }
    if (coin(25)) {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[(u >> 4) + (coin(50) && (u >> 4) > 9 ? 6 : 0)];
      out += hex[(u & 15) + (coin(50) && (u & 15) > 9 ? 6 : 0)];
    } else if (options.case_insensitive && c >= 'a' && c <= 'z' && coin(40)) {
      out += static_cast<char>(c - 'a' + 'A');
    } else {
      out += c;
    }
  }
  if (options.strip_matrix_params && coin(30)) out += ";x=1";
  return out;
}

}  // namespace sluice::limit::testing
