// WebSocket message pacing inside a tunnel (issue 12, "a per-connection message rate
// limit on WebSocket frames"): message_counter finds where the client's messages end in
// the bytes it sends (RFC 6455 5.2 frame headers; payloads are skipped, never kept or
// checked: the upstream validates the protocol), and message_pacer says how long to
// hold them so that a tunnel carries at most `rate` messages per second after a `burst`.
// Control frames (ping, pong, close) are not counted. Plain values; one per tunnel.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::net {

class message_counter {
 public:
  // Feeds the next bytes of the stream; returns how many data messages ended in them
  // (a text, binary or continuation frame with FIN set). Any bytes are accepted, in
  // pieces of any size: the state is at most one frame header.
  std::size_t feed(std::span<const char> bytes);

 private:
  unsigned char header_[14] = {};
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
};

// A token bucket of messages: starts full (`burst`), refills at `per_second`.
class message_pacer {
 public:
  using clock = std::chrono::steady_clock;
  message_pacer(double per_second, double burst, clock::time_point now)
      : per_second_(per_second), burst_(burst), tokens_(burst), at_(now) {}
  // Takes `messages` and returns how long to hold them before they go on (zero when
  // the bucket had them).
  clock::duration take(std::size_t messages, clock::time_point now);

 private:
  double per_second_;
  double burst_;
  double tokens_;  // may go negative: the debt the returned wait pays
  clock::time_point at_;
};

}  // namespace sluice::net
