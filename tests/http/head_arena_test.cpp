#include "http/head_arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "http/message_reader.hpp"

namespace sluice::net {
namespace {

bool aligned(const void* p, std::size_t align) {
  return reinterpret_cast<std::uintptr_t>(p) % align == 0;
}

TEST(HeadArena, HandsOutAlignedDistinctBlocksAndReusesThemAfterReset) {
  head_arena arena;
  auto* a = static_cast<char*>(arena.allocate(3, 1));
  auto* b = static_cast<char*>(arena.allocate(24, 8));
  EXPECT_TRUE(aligned(b, 8));
  EXPECT_GE(b, a + 3);
  arena.reset();
  EXPECT_EQ(arena.allocate(3, 1), a);  // the same buffer, from its start
}

TEST(HeadArena, AHeadLargerThanItsBufferTakesExtraBlocksAndTheNextOneFits) {
  head_arena arena;
  void* first = arena.allocate(16, 8);
  void* big = arena.allocate(10'000, 8);  // beyond the first buffer
  EXPECT_TRUE(aligned(big, 8));
  std::fill_n(static_cast<char*>(big), 10'000, 'x');  // writable (ASan checks the bounds)
  arena.reset();
  // The kept buffer grew to what the last head needed: one block now holds it.
  auto* again = static_cast<char*>(arena.allocate(16, 8));
  auto* big_again = static_cast<char*>(arena.allocate(10'000, 8));
  EXPECT_EQ(big_again, again + 16);
  (void)first;
}

TEST(HeadArena, TheKeptBufferIsCapped) {
  head_arena arena;
  arena.allocate(8, 8);
  arena.allocate(4 * head_arena::max_kept_bytes, 8);
  arena.reset();
  auto* a = static_cast<char*>(arena.allocate(8, 8));
  auto* b = static_cast<char*>(arena.allocate(2 * head_arena::max_kept_bytes, 8));
  EXPECT_NE(b, a + 8);  // did not fit the capped buffer: a block of its own
}

TEST(HeadArena, ParsersReuseOneArenaHeadAfterHead) {
  head_arena arena;
  std::optional<request_parser> parser;
  for (int i = 0; i < 50; ++i) {
    auto& p = emplace_parser(parser, arena);
    p.header_limit(64 * 1024);
    std::string head = "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n";
    // Every few heads one too large for the first buffer.
    const int fields = i % 7 == 0 ? 200 : 3;
    for (int f = 0; f < fields; ++f) {
      head += "X-F" + std::to_string(f) + ": " + std::string(40, 'a' + f % 26) + "\r\n";
    }
    head += "\r\n";
    error_code ec;
    feed_parser(p, asio::buffer(head), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(p.is_header_done());
    const auto& req = p.get();
    EXPECT_EQ(req.target(), "/" + std::to_string(i));
    EXPECT_EQ(std::distance(req.begin(), req.end()), fields + 1);
    EXPECT_EQ(req["X-F2"], std::string(40, 'c'));
    EXPECT_EQ(req.get_allocator().arena(), &arena);
  }
}

}  // namespace
}  // namespace sluice::net
