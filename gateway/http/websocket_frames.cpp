#include "http/websocket_frames.hpp"

#include <algorithm>

namespace sluice::net {
namespace {

// The header's length once its first two bytes are known.
std::size_t header_length(const unsigned char* h) {
  const unsigned length_code = h[1] & 0x7F;
  const bool masked = (h[1] & 0x80) != 0;
  return 2 + (length_code == 126 ? 2 : length_code == 127 ? 8 : 0) + (masked ? 4 : 0);
}

std::uint64_t payload_length(const unsigned char* h) {
  const unsigned length_code = h[1] & 0x7F;
  if (length_code < 126) return length_code;
  const std::size_t bytes = length_code == 126 ? 2 : 8;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < bytes; ++i) n = (n << 8) | h[2 + i];
  return n;
}

}  // namespace

std::size_t message_counter::feed(std::span<const char> bytes) {
  std::size_t ended = 0;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (payload_left_ > 0) {
      const std::uint64_t skip = std::min<std::uint64_t>(payload_left_, bytes.size() - at);
      payload_left_ -= skip;
      at += static_cast<std::size_t>(skip);
      continue;
    }
    header_[header_have_++] = static_cast<unsigned char>(bytes[at++]);
    if (header_have_ < 2 || header_have_ < header_length(header_)) continue;
    const bool fin = (header_[0] & 0x80) != 0;
    const unsigned opcode = header_[0] & 0x0F;
    if (fin && opcode <= 2) ++ended;  // continuation, text or binary: a message ends
    payload_left_ = payload_length(header_);
    header_have_ = 0;
  }
  return ended;
}

message_pacer::clock::duration message_pacer::take(std::size_t messages, clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - at_).count();
  at_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
  tokens_ -= static_cast<double>(messages);
  if (tokens_ >= 0) return clock::duration::zero();
  return std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(-tokens_ / per_second_));
}

}  // namespace sluice::net
