#include "redis/router.hpp"
#include "util/crc16.hpp"

namespace sluice::redis {

std::uint16_t key_slot(std::string_view key) noexcept {
  // The hash tag: from the first '{' to the next '}', when not empty (as Redis).
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(crc16(key) % slot_count);
}

}  // namespace sluice::redis
