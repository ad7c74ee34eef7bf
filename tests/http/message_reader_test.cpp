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
#include <tuple>
#include <vector>

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

// How a head is read: by read_message_head alone, or as the session reads an upstream's
// response head (its first read awaited by the caller, parse_first_head_read, then
// read_message_head only for a head in pieces).
enum class head_reading { coroutine, first_read_by_caller };

template <class Parser>
awaitable<error_code> read_head(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                Parser& parser, std::size_t max_head_bytes, std::size_t& head_bytes,
                                head_reading how) {
  error_code ec = http::error::need_more;
  if (how == head_reading::first_read_by_caller && buffer.size() == 0) {
    auto [read_ec, n] = co_await stream.async_read_some(first_head_buffer(buffer), nothrow);
    ec = parse_first_head_read(buffer, parser, read_ec, n, max_head_bytes, head_bytes);
  }
  if (ec == http::error::need_more) {
    ec = co_await read_message_head(stream, buffer, parser, max_head_bytes, head_bytes);
  }
  co_return ec;
}

// Reads the head, then the whole body into a string (or until an error), in pieces
// of at most `piece_size` bytes.
template <class Parser>
awaitable<std::pair<error_code, std::string>> read_all(beast::tcp_stream& stream,
                                                       beast::flat_buffer& buffer, Parser& parser,
                                                       std::size_t piece_size = 4096,
                                                       std::size_t max_head_bytes = 1024 * 1024,
                                                       head_reading how = head_reading::coroutine) {
  stream.expires_after(std::chrono::seconds(10));
  std::size_t head_bytes = 0;
  error_code ec = co_await read_head(stream, buffer, parser, max_head_bytes, head_bytes, how);
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

TEST(MessageReader, AHeadWhoseFirstReadTheCallerAwaitsEndsAsReadMessageHeadAlone) {
  // The session awaits an upstream response's first read itself (no coroutine frame
  // for the usual whole head): every outcome must be read_message_head's.
  struct input {
    std::string bytes;
    bool close;
    std::size_t buffer_size;
    std::size_t max_head_bytes;
  };
  const std::string long_field = "X: " + std::string(2'000, 'v') + "\r\n";
  const std::vector<input> inputs = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 16 * 1024, 8 * 1024},
      {"HTTP/1.1 200 OK\r\n\r\nuntil the end", true, 16 * 1024, 8 * 1024},
      {"", true, 16 * 1024, 8 * 1024},                                         // end_of_stream
      {"HTTP/1.1 200 O", true, 16 * 1024, 8 * 1024},                           // partial_message
      {"HTTP/1.1 200 OK\r\n" + long_field + "\r\n", true, 1024, 64 * 1024},    // over the buffer
      {"HTTP/1.1 200 OK\r\n" + long_field + "\r\n", true, 16 * 1024, 1024},    // over the bound
      {"HTTP/1.1 200 OK\r\nBad Field: x\r\n\r\n", true, 16 * 1024, 8 * 1024},  // malformed
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", true, 16 * 1024,
       8 * 1024},  // an interim head, and the next one buffered behind it
  };
  for (const auto& in : inputs) {
    struct result {
      error_code ec;
      std::string body;
      int status = 0;
      bool header_done = false;
      std::size_t buffered = 0;
    };
    auto read = [&](head_reading how) {
      loopback l;
      auto sender = l.send(in.bytes, in.close);
      beast::flat_buffer buffer(in.buffer_size);
      head_arena arena;
      response_parser parser(arena);
      parser.header_limit(static_cast<std::uint32_t>(in.max_head_bytes));
      result r;
      std::tie(r.ec, r.body) =
          l.run(read_all(l.stream, buffer, parser, 4096, in.max_head_bytes, how));
      l.stream.socket().close();
      sender.join();
      r.header_done = parser.is_header_done();
      if (r.header_done) r.status = parser.status();
      r.buffered = buffer.size();
      return r;
    };
    const result alone = read(head_reading::coroutine);
    const result by_caller = read(head_reading::first_read_by_caller);
    SCOPED_TRACE(in.bytes.substr(0, 40));
    EXPECT_EQ(by_caller.ec, alone.ec) << by_caller.ec.message() << " / " << alone.ec.message();
    EXPECT_EQ(by_caller.body, alone.body);
    EXPECT_EQ(by_caller.status, alone.status);
    EXPECT_EQ(by_caller.header_done, alone.header_done);
    EXPECT_EQ(by_caller.buffered, alone.buffered);
  }
}

// The caller's first read, then `rest` written to the peer, then read_message_head.
awaitable<error_code> read_after_first_piece(beast::tcp_stream* stream, tcp::socket* peer,
                                             beast::flat_buffer* buffer, response_parser* parser,
                                             std::string rest, std::size_t* head_bytes,
                                             error_code* first_ec) {
  auto [read_ec, n] = co_await stream->async_read_some(first_head_buffer(*buffer), nothrow);
  *first_ec = parse_first_head_read(*buffer, *parser, read_ec, n, 8 * 1024, *head_bytes);
  if (*first_ec != http::error::need_more) co_return *first_ec;
  asio::write(*peer, asio::buffer(rest));
  co_return co_await read_message_head(*stream, *buffer, *parser, 8 * 1024, *head_bytes);
}

TEST(MessageReader, AHeadInPiecesAfterTheCallersFirstReadIsReadToItsEnd) {
  // The first read finds only the start of the head (the rest is written after it):
  // read_message_head reads the rest, and the head counts every byte once.
  loopback l;
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Le";
  const std::string rest = "ngth: 2\r\n\r\nok";
  asio::write(l.peer, asio::buffer(first));
  beast::flat_buffer buffer(16 * 1024);
  head_arena arena;
  response_parser parser(arena);
  std::size_t head_bytes = 0;
  error_code first_ec;
  const error_code ec = l.run(
      read_after_first_piece(&l.stream, &l.peer, &buffer, &parser, rest, &head_bytes, &first_ec));
  EXPECT_EQ(first_ec, http::error::need_more);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.content_length().value_or(0), 2u);
  EXPECT_EQ(head_bytes, first.size() + rest.size() - 2);
  EXPECT_EQ(buffer.size(), 2u);  // the body, for read_body_piece
}

}  // namespace
}  // namespace sluice::net
