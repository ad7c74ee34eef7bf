// A growable byte buffer for text written front to back on the request path (message
// heads, the rate-limit fields, a 429's body): appends without zero-filling (a
// std::string's resize writes every byte twice), numbers written in place, and the
// capacity kept from one use to the next, so its owner allocates it once. The small
// writers are inline: a 429 writes a dozen fields and numbers, and with a literal name
// each becomes a few stores.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace sluice {

namespace decimal_detail {
// "00" "01" ... "99": two digits per division.
inline constexpr std::array<char, 200> digit_pairs = [] {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; ++i) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}();
inline constexpr std::array<std::uint64_t, 20> powers_of_ten = [] {
  std::array<std::uint64_t, 20> t{};
  std::uint64_t p = 1;
  for (auto& v : t) {
    v = p;
    p *= 10;
  }
  return t;
}();
}  // namespace decimal_detail

// The count of decimal digits of `u` (1 for 0): log10 from the bit width (1233 / 4096
// is just under log10(2)), corrected by one comparison.
inline std::size_t decimal_width(std::uint64_t u) {
  const std::uint64_t w = u | 1;
  const auto t = static_cast<std::size_t>((std::bit_width(w) * 1233) >> 12);
  return t + 1 - (w < decimal_detail::powers_of_ten[t] ? 1 : 0);
}

// Writes the decimal digits of `u` at `out`, at most 20 bytes; returns the end. By
// hand, two digits at a time: libstdc++ 12's std::to_chars builds its digit-pair table
// on the stack at every call.
inline char* write_unsigned(char* out, std::uint64_t u) {
  using decimal_detail::digit_pairs;
  char* const end = out + decimal_width(u);
  char* p = end;
  while (u >= 100) {
    const auto pair = static_cast<std::size_t>(u % 100) * 2;
    u /= 100;
    p -= 2;
    p[0] = digit_pairs[pair];
    p[1] = digit_pairs[pair + 1];
  }
  if (u >= 10) {
    p[-2] = digit_pairs[u * 2];
    p[-1] = digit_pairs[u * 2 + 1];
  } else {
    p[-1] = static_cast<char>('0' + u);
  }
  return end;
}

// The same for a signed `v` ('-' first when negative), at most 20 bytes.
inline char* write_decimal(char* out, std::int64_t v) {
  if (v >= 0) return write_unsigned(out, static_cast<std::uint64_t>(v));
  *out++ = '-';
  return write_unsigned(out, std::uint64_t{0} - static_cast<std::uint64_t>(v));
}

class text_buffer {
 public:
  void clear() { size_ = 0; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const char* data() const { return data_.get(); }
  std::string_view view() const { return {data_.get(), size_}; }

  // `n` bytes at the end for the caller to fill.
  char* extend(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    char* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  // Ends the text at `end`, inside the last extend(): what the caller did not fill.
  void end_at(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void append(std::string_view s) {
    if (!s.empty()) std::memcpy(extend(s.size()), s.data(), s.size());
  }
  void push_back(char c) { *extend(1) = c; }
  void append_decimal(std::int64_t v) { end_at(write_decimal(extend(20), v)); }
  void append_unsigned(std::uint64_t u) { end_at(write_unsigned(extend(20), u)); }

 private:
  void grow(std::size_t n);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace sluice
