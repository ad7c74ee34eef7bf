// Helpers shared by the libFuzzer harnesses: a property check that prints what failed
// (with the offending text escaped) and aborts, so libFuzzer saves the input as a
// crash artifact; and a small deterministic generator for split points drawn from
// the input itself (the corpus files stay plain text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sluice::fuzz {

// Printable ASCII as is, everything else as \xNN (and \r, \n, \t by name).
inline std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

[[noreturn]] inline void fail(const char* file, int line, const char* condition,
                              std::string_view detail) {
  std::fprintf(stderr, "\n== property violated at %s:%d: %s\n", file, line, condition);
  if (!detail.empty()) std::fprintf(stderr, "== %s\n", escaped(detail).c_str());
  std::fflush(stderr);
  std::abort();
}

// FUZZ_CHECK(cond, detail): `detail` is any expression convertible to std::string_view,
// evaluated only when the check fails.
#define FUZZ_CHECK(cond, detail)                                            \
  do {                                                                      \
    if (!(cond)) ::sluice::fuzz::fail(__FILE__, __LINE__, #cond, (detail)); \
  } while (false)

// SLUICE_FUZZ_STRICT=1 turns off every tolerance for a finding still open (the
// harnesses' known_open_* flags), to check whether it still reproduces:
//   SLUICE_FUZZ_STRICT=1 build-fuzz/fuzz/<harness> tests/fuzz/corpus/<harness>/*
inline bool strict() {
  const char* v = std::getenv("SLUICE_FUZZ_STRICT");
  return v != nullptr && v[0] == '1';
}

// splitmix64 seeded from the input bytes: the same input always splits the same way.
class split_points {
 public:
  split_points(const std::uint8_t* data, std::size_t size) {
    std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
    state_ = h;
  }
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // A piece length in [1, max]: mostly small, sometimes up to max.
  std::size_t piece(std::size_t max) {
    if (max <= 1) return 1;
    const std::uint64_t r = next();
    const std::size_t cap = (r & 3) == 0 ? max : (max < 8 ? max : 8);
    return 1 + static_cast<std::size_t>((r >> 2) % cap);
  }

 private:
  std::uint64_t state_;
};

}  // namespace sluice::fuzz
