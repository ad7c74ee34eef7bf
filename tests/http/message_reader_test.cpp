// Reading messages from a real loopback socket: the bytes buffered ahead of the parser
// stay within the buffer's max_size (heads, chunk-size lines, trailer sections), and
// nothing Beast throws escapes.
#include "http/message_reader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <string>
#include <thread>

namespace sluice::net {
namespace {

// A connected loopback pair: `peer` writes what the test sends, `stream` reads.
struct loopback {
  asio::io_context io;
  tcp::socket peer{io};
  beast::tcp_stream stream{io};

  loopback() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    stream.socket() = acceptor.accept();
  }

  // Sends `bytes` from a thread (they may exceed the socket buffers), then closes
  // the peer's sending side when `close` is set.
  std::thread send(std::string bytes, bool close) {
    return std::thread([this, bytes = std::move(bytes), close] {
      error_code ec;
      asio::write(peer, asio::buffer(bytes), ec);
      if (close) peer.shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  template <class T>
  T run(awaitable<T> op) {
    auto result = asio::co_spawn(io, std::move(op), asio::use_future);
    io.run();
    io.restart();
    return result.get();
  }
};

// Reads the head, then the whole body into a string (or until an error), in pieces
// of at most `piece_size` bytes.
template <class Parser>
awaitable<std::pair<error_code, std::string>> read_all(beast::tcp_stream& stream,
                                                       beast::flat_buffer& buffer, Parser& parser,
                                                       std::size_t piece_size = 4096,
                                                       std::size_t max_head_bytes = 1024 * 1024) {
  stream.expires_after(std::chrono::seconds(10));
  std::size_t head_bytes = 0;
  error_code ec = co_await read_message_head(stream, buffer, parser, max_head_bytes, head_bytes);
  std::string body;
  char piece[4096];
  piece_size = std::min(piece_size, sizeof(piece));
  while (!ec && !parser.is_done()) {
    body_of(parser).data = piece;
    body_of(parser).size = piece_size;
    ec = co_await read_body_piece(stream, buffer, parser);
    body.append(piece, piece_size - body_of(parser).size);
  }
  co_return std::pair{ec, body};
}

TEST(MessageReader, ReadsAChunkedBodyWithItsTrailers) {
  loopback l;
  auto sender = l.send(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
      false);
  beast::flat_buffer buffer(16 * 1024);
  request_parser parser;
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
  sender.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello world");
  EXPECT_TRUE(parser.is_done());
}

TEST(MessageReader, ATrailerSectionLargerThanTheBufferIsRefusedNotBuffered) {
  // 4 million small trailer fields: Beast would buffer the whole section to find its
  // end; here the buffer's max_size (16 KiB) ends it.
  std::string message = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 200'000; ++i) message += "a: b\r\n";
  message += "\r\n";
  loopback l;
  auto sender = l.send(message, true);
  beast::flat_buffer buffer(16 * 1024);
  request_parser parser;
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
  l.stream.socket().close();
  sender.join();
  EXPECT_EQ(ec, http::error::header_limit);
  EXPECT_LE(buffer.capacity(), 16u * 1024);
  EXPECT_LT(std::distance(parser.get().begin(), parser.get().end()), 10);
}

TEST(MessageReader, AChunkSizeLineLargerThanTheBufferIsRefused) {
  loopback l;
  auto sender = l.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                           std::string(40'000, 'e') + "\r\nhello\r\n0\r\n\r\n",
                       true);
  beast::flat_buffer buffer(16 * 1024);
  request_parser parser;
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
  l.stream.socket().close();
  sender.join();
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(MessageReader, AHeadLargerThanTheBufferIsHeaderLimit) {
  loopback l;
  auto sender =
      l.send("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(70'000, 'a') + "\r\n\r\n", true);
  beast::flat_buffer buffer(16 * 1024);
  request_parser parser;
  parser.header_limit(1024 * 1024);  // the buffer bounds it first
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
  l.stream.socket().close();
  sender.join();
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(MessageReader, AHugeFieldWithABigEnoughBufferIsHeaderLimitNotACrash) {
  // max_header_bytes above 64 KiB lets a field value reach Beast's 65,535-byte bound.
  loopback l;
  auto sender =
      l.send("GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(70'000, 'a') + "\r\n\r\n", true);
  beast::flat_buffer buffer(1024 * 1024);
  request_parser parser;
  parser.header_limit(1024 * 1024);
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
  sender.join();
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(MessageReader, AHeadOverItsBoundIsHeaderLimitEvenWhenItArrivesInOnePiece) {
  // Beast bounds the request line and the fields separately (each by header_limit):
  // a 1,500-byte head in one piece would pass a 1,024-byte header_limit.
  const std::string head = "GET /" + std::string(700, 'p') +
                           " HTTP/1.1\r\nHost: x\r\nX: " + std::string(700, 'v') + "\r\n\r\n";
  ASSERT_GT(head.size(), 1024u);
  request_parser parser;
  parser.header_limit(1024);
  std::size_t head_bytes = 0;
  error_code ec;
  feed_head(parser, asio::buffer(head), 1024, head_bytes, ec);
  EXPECT_EQ(ec, http::error::header_limit);

  request_parser fits;
  fits.header_limit(static_cast<std::uint32_t>(head.size()));
  head_bytes = 0;
  feed_head(fits, asio::buffer(head), head.size(), head_bytes, ec);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(fits.is_header_done());
  EXPECT_EQ(head_bytes, head.size());

  loopback l;
  auto sender = l.send(head, true);
  beast::flat_buffer buffer(64 * 1024);
  request_parser read;
  read.header_limit(1024);
  auto [read_ec, body] = l.run(read_all(l.stream, buffer, read, 4096, 1024));
  sender.join();
  EXPECT_EQ(read_ec, http::error::header_limit);
}

TEST(MessageReader, EndOfStreamBeforeAnyByteAndPartialAfterSome) {
  {
    loopback l;
    auto sender = l.send("", true);
    beast::flat_buffer buffer(16 * 1024);
    request_parser parser;
    auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
    sender.join();
    EXPECT_EQ(ec, http::error::end_of_stream);
  }
  {
    loopback l;
    auto sender = l.send("GET / HT", true);
    beast::flat_buffer buffer(16 * 1024);
    request_parser parser;
    auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
    sender.join();
    EXPECT_EQ(ec, http::error::partial_message);
  }
  {
    loopback l;
    auto sender = l.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", true);
    beast::flat_buffer buffer(16 * 1024);
    request_parser parser;
    auto [ec, body] = l.run(read_all(l.stream, buffer, parser));
    sender.join();
    EXPECT_EQ(ec, http::error::partial_message);
    EXPECT_EQ(body, "abc");
  }
}

TEST(MessageReader, AResponseDelimitedByTheEndOfTheConnectionCompletesAtEof) {
  loopback l;
  auto sender = l.send("HTTP/1.1 200 OK\r\n\r\nuntil the end", true);
  beast::flat_buffer buffer(16 * 1024);
  head_arena arena;
  response_parser parser(arena);
  auto [ec, body] = l.run(read_all(l.stream, buffer, parser, 4));
  sender.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "until the end");
  EXPECT_TRUE(parser.is_done());
}

TEST(MessageReader, PipelinedMessagesStayInTheBufferForTheNextParser) {
  loopback l;
  auto sender = l.send(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: "
      "x\r\n\r\n",
      false);
  beast::flat_buffer buffer(16 * 1024);
  request_parser first;
  auto [ec, body] = l.run(read_all(l.stream, buffer, first));
  EXPECT_FALSE(ec);
  EXPECT_EQ(body, "abc");
  request_parser second;
  auto [ec2, body2] = l.run(read_all(l.stream, buffer, second));
  sender.join();
  EXPECT_FALSE(ec2);
  EXPECT_EQ(second.get().target(), "/b");
}

}  // namespace
}  // namespace sluice::net
