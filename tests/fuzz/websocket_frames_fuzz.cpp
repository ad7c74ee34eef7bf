// Fuzzes the WebSocket message counter (gateway/http/websocket_frames.hpp), which reads
// the frame headers of whatever a client sends through a tunnel. The input is the
// client's byte stream. Properties:
// - any bytes are accepted, in pieces of any size, without reading past them;
// - the count is the same whether the stream arrives whole, byte by byte, or in random
//   pieces (the counter's state carries a frame header across pieces);
// - it never counts more messages than the stream has frame headers could start
//   (one per two bytes at most).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "http/websocket_frames.hpp"

namespace {

std::size_t count(std::string_view stream, sluice::fuzz::split_points* pieces) {
  sluice::net::message_counter counter;
  std::size_t total = 0;
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t n =
        pieces == nullptr ? stream.size() - at : std::min(pieces->piece(64), stream.size() - at);
    // A copy of exactly the piece: ASan catches a read past it.
    const std::vector<char> piece(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                  stream.begin() + static_cast<std::ptrdiff_t>(at + n));
    total += counter.feed({piece.data(), piece.size()});
    at += n;
  }
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  sluice::fuzz::split_points rng(data, size);
  const std::size_t whole = count(stream, nullptr);
  FUZZ_CHECK(whole <= size / 2, std::to_string(whole) + " messages in " + std::to_string(size));
  FUZZ_CHECK(count(stream, &rng) == whole, "random pieces");
  if (size <= 4096) {
    sluice::net::message_counter counter;
    std::size_t by_byte = 0;
    for (char c : stream) by_byte += counter.feed({&c, 1});
    FUZZ_CHECK(by_byte == whole, "byte by byte");
  }
  return 0;
}
