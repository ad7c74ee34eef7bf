#include "util/percent.hpp"

namespace sluice {
namespace {

// The byte the escape at in[i] ('%' followed by two hex digits) stands for, or -1.
int escape_at(std::string_view in, std::size_t i) {
  if (in[i] != '%' || i + 2 >= in.size()) return -1;
  const int hi = hex_value(in[i + 1]);
  const int lo = hex_value(in[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

void percent_decode_lenient(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const int byte = escape_at(in, i);
    if (byte < 0) {
      out += in[i];
      continue;
    }
    out += static_cast<char>(byte);
    i += 2;
  }
}

std::optional<std::string> percent_decode_strict(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    const int byte = escape_at(in, i);
    if (byte < 0) return std::nullopt;
    out += static_cast<char>(byte);
    i += 2;
  }
  return out;
}

}  // namespace sluice
