// Where a client's WebSocket messages end in its byte stream, fed in pieces of every
// size, and the token bucket that paces them (an injected clock).
#include "http/websocket_frames.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::net {
namespace {

using namespace std::chrono_literals;

// A masked client frame: FIN, opcode, payload of `length` bytes (content irrelevant).
std::string frame(bool fin, unsigned opcode, std::uint64_t length) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  if (length < 126) {
    f += static_cast<char>(0x80 | length);
  } else if (length <= 0xFFFF) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(length >> 8);
    f += static_cast<char>(length & 0xFF);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((length >> shift) & 0xFF);
  }
  f += std::string(4, '\x5a');       // mask key
  f += std::string(length, '\x00');  // payload
  return f;
}

std::size_t count_in_pieces(const std::string& stream, std::size_t piece) {
  message_counter counter;
  std::size_t total = 0;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    total += counter.feed({stream.data() + at, std::min(piece, stream.size() - at)});
  }
  return total;
}

TEST(MessageCounter, CountsMessagesNotFramesWhateverThePieces) {
  std::string stream;
  stream += frame(true, 1, 5);       // text
  stream += frame(true, 2, 300);     // binary, 16-bit length
  stream += frame(false, 1, 10);     // fragmented text: first part
  stream += frame(true, 9, 4);       // a ping in the middle: not a message
  stream += frame(false, 0, 70000);  // continuation, 64-bit length
  stream += frame(true, 0, 0);       // final continuation: one message
  stream += frame(true, 10, 0);      // pong
  stream += frame(true, 8, 2);       // close
  for (std::size_t piece : {stream.size(), std::size_t{1}, std::size_t{2}, std::size_t{3},
                            std::size_t{7}, std::size_t{4096}}) {
    EXPECT_EQ(count_in_pieces(stream, piece), 3u) << piece;
  }
}

TEST(MessageCounter, AMessageCountsWhenItsFinalHeaderArrives) {
  const std::string f = frame(true, 1, 100);
  message_counter counter;
  EXPECT_EQ(counter.feed({f.data(), 1}), 0u);
  EXPECT_EQ(counter.feed({f.data() + 1, 5}), 1u);  // the whole header
  EXPECT_EQ(counter.feed({f.data() + 6, f.size() - 6}), 0u);
  EXPECT_EQ(counter.feed({f.data(), f.size()}), 1u);  // the next frame starts clean
}

TEST(MessagePacer, ABurstThenTheRate) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  message_pacer pacer(10, 5, t0);  // 10 messages/s after 5
  EXPECT_EQ(pacer.take(5, t0), 0s);
  EXPECT_EQ(pacer.take(1, t0), 100ms);  // one over: a tenth of a second
  EXPECT_EQ(pacer.take(1, t0 + 100ms), 100ms);
  EXPECT_EQ(pacer.take(0, t0 + 200ms), 0s);
  EXPECT_EQ(pacer.take(3, t0 + 1200ms), 0s);  // refilled 10, capped at 5
  EXPECT_EQ(pacer.take(2, t0 + 1200ms), 0s);
  EXPECT_EQ(pacer.take(20, t0 + 1200ms), 2s);
}

}  // namespace
}  // namespace sluice::net
