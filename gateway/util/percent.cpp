#include "util/percent.hpp"

namespace sluice {

void percent_decode_lenient(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const int byte = percent_escape_at(in, i);
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
    const int byte = percent_escape_at(in, i);
    if (byte < 0) return std::nullopt;
    out += static_cast<char>(byte);
    i += 2;
  }
  return out;
}

}  // namespace sluice
