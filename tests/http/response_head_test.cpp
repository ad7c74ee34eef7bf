// The upstream's response head (response_parser): what Beast's own http::parser reads
// from the same bytes, field for field, without its field index; copied out of the
// read buffer; bounded as basic_fields is.
#include "http/response_head.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "http/message_reader.hpp"

namespace sluice::net {
namespace {

using beast_parser = http::response_parser<http::buffer_body>;

struct parsed {
  error_code ec;
  bool header_done = false;
  bool done = false;
  int status = 0;
  unsigned version = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> fields;  // name as sent, value
  std::vector<http::field> codes;
  bool keep_alive = false;
  std::string body;
};

// Feeds `bytes` in pieces of at most `piece` bytes, as read_body_piece does, the body
// through a buffer of `body_buffer` bytes; at the end, EOF.
template <class Parser, class Body>
void feed(Parser& p, Body& body, const std::string& bytes, std::size_t piece,
          std::size_t body_buffer, parsed& out) {
  p.header_limit(1024 * 1024);
  p.body_limit(boost::none);
  std::vector<char> buffer(body_buffer);
  std::string pending;
  std::size_t at = 0;
  while (!p.is_done()) {
    if (at < bytes.size()) {
      const std::size_t n = std::min(piece, bytes.size() - at);
      pending.append(bytes, at, n);
      at += n;
    }
    body.data = buffer.data();
    body.size = buffer.size();
    error_code ec;
    const std::size_t used = feed_parser(p, asio::buffer(pending), ec);
    pending.erase(0, used);
    out.body.append(buffer.data(), buffer.size() - body.size);
    if (ec == http::error::need_buffer) continue;
    if (ec == http::error::need_more && at < bytes.size()) continue;
    if (ec == http::error::need_more) {
      p.put_eof(ec);
      out.ec = ec;
      break;
    }
    if (ec) {
      out.ec = ec;
      break;
    }
    if (used == 0 && at >= bytes.size() && !p.is_done()) {
      p.put_eof(out.ec);
      break;
    }
  }
  out.header_done = p.is_header_done();
  out.done = p.is_done();
  if (out.header_done) out.keep_alive = p.keep_alive();
}

parsed with_beast(const std::string& bytes, std::size_t piece, std::size_t body_buffer) {
  beast_parser p;
  parsed out;
  feed(p, p.get().body(), bytes, piece, body_buffer, out);
  if (out.header_done) {
    out.status = p.get().result_int();
    out.version = p.get().version();
    out.reason = std::string(p.get().reason());
    for (const auto& f : p.get()) {
      out.fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
      out.codes.push_back(f.name());
    }
  }
  return out;
}

parsed with_sluice(const std::string& bytes, std::size_t piece, std::size_t body_buffer) {
  head_arena arena;
  std::optional<response_parser> holder;
  auto& p = emplace_parser(holder, arena);
  parsed out;
  feed(p, p.body(), bytes, piece, body_buffer, out);
  if (out.header_done) {
    out.status = p.status();
    out.version = p.version();
    out.reason = std::string(p.reason());
    for (const auto& f : p.fields()) {
      out.fields.emplace_back(std::string(f.name_text), std::string(f.value));
      out.codes.push_back(f.name);
    }
  }
  return out;
}

void expect_same(const parsed& a, const parsed& b, const std::string& bytes) {
  EXPECT_EQ(a.ec, b.ec) << bytes;
  EXPECT_EQ(a.header_done, b.header_done) << bytes;
  EXPECT_EQ(a.done, b.done) << bytes;
  EXPECT_EQ(a.status, b.status) << bytes;
  EXPECT_EQ(a.version, b.version) << bytes;
  EXPECT_EQ(a.reason, b.reason) << bytes;
  EXPECT_EQ(a.fields, b.fields) << bytes;
  EXPECT_EQ(a.codes, b.codes) << bytes;
  EXPECT_EQ(a.keep_alive, b.keep_alive) << bytes;
  EXPECT_EQ(a.body, b.body) << bytes;
}

const std::vector<std::string>& responses() {
  static const std::vector<std::string> all = {
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
      "Connection: keep-alive\r\n\r\nok",
      "HTTP/1.1 201 Created\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\n"
      "Transfer-Encoding: chunked\r\nTrailer: X-Usage\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Usage: 42\r\nx-usage: 43\r\n\r\n",
      "HTTP/1.0 404 Not   Found Here\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
      "HTTP/1.1 500 \r\nVia: 1.0 a\r\nVia: 1.1 b\r\nConnection: x-hop, close\r\nX-Hop: 1\r\n\r\n"
      "until the end",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
  };
  return all;
}

TEST(ResponseHead, ReadsWhatBeastsParserReadsFromTheSameBytesInAnyPieces) {
  std::mt19937 rng(7);
  for (const auto& bytes : responses()) {
    for (std::size_t piece : {bytes.size(), std::size_t{1}, std::size_t{7}}) {
      for (std::size_t body_buffer : {std::size_t{4096}, std::size_t{3}}) {
        SCOPED_TRACE("piece " + std::to_string(piece) + ", body buffer " +
                     std::to_string(body_buffer));
        expect_same(with_sluice(bytes, piece, body_buffer), with_beast(bytes, piece, body_buffer),
                    bytes);
      }
    }
    const std::size_t piece = 1 + rng() % 16;
    expect_same(with_sluice(bytes, piece, 5), with_beast(bytes, piece, 5), bytes);
  }
}

TEST(ResponseHead, KeepsEveryFieldInOrderAndTheTrailersAfterThem) {
  const parsed p = with_sluice(responses()[1], 1024, 4096);
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.fields,
            (std::vector<std::pair<std::string, std::string>>{{"set-cookie", "a=1"},
                                                              {"Set-Cookie", "b=2"},
                                                              {"X-Empty", ""},
                                                              {"Transfer-Encoding", "chunked"},
                                                              {"Trailer", "X-Usage"},
                                                              {"X-Usage", "42"},
                                                              {"x-usage", "43"}}));
  EXPECT_EQ(p.body, "hello world");
}

TEST(ResponseHead, LooksUpTheFirstValueOfAFieldAndTheLastOfAName) {
  head_arena arena;
  response_parser p(arena);
  p.eager(false);
  const std::string bytes =
      "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nX-Cost: 1\r\ncontent-type: c/d\r\nx-COST: 2\r\n\r\n";
  error_code ec;
  p.put(asio::buffer(bytes), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.value_of(http::field::content_type), "a/b");
  EXPECT_EQ(p.value_of(http::field::server), "");
  EXPECT_EQ(p.last_value_of("x-cost"), std::optional<std::string_view>("2"));
  EXPECT_EQ(p.last_value_of("x-other"), std::nullopt);
}

TEST(ResponseHead, HoldsItsTextAfterTheReadBufferIsReused) {
  head_arena arena;
  response_parser p(arena);
  p.eager(false);
  std::string bytes = "HTTP/1.1 200 Fine\r\nServer: origin\r\nX-Usage: 7\r\n\r\n";
  error_code ec;
  p.put(asio::buffer(bytes), ec);
  ASSERT_FALSE(ec) << ec.message();
  bytes.assign(bytes.size(), 'z');  // the connection's buffer read the body over the head
  EXPECT_EQ(p.reason(), "Fine");
  ASSERT_EQ(p.fields().size(), 2u);
  EXPECT_EQ(p.fields()[0].name, http::field::server);
  EXPECT_EQ(p.fields()[0].name_text, "Server");
  EXPECT_EQ(p.fields()[0].value, "origin");
  EXPECT_EQ(p.fields()[1].name, http::field::unknown);
  EXPECT_EQ(p.fields()[1].value, "7");
}

TEST(ResponseHead, AValueOverBeastsBoundIsAHeaderLimitAsWithBeastsFields) {
  for (std::size_t size : {std::size_t{65'533}, std::size_t{65'534}}) {
    const std::string bytes =
        "HTTP/1.1 200 OK\r\nX-Big: " + std::string(size, 'v') + "\r\nContent-Length: 0\r\n\r\n";
    const parsed mine = with_sluice(bytes, bytes.size(), 4096);
    expect_same(mine, with_beast(bytes, bytes.size(), 4096), "X-Big of " + std::to_string(size));
    EXPECT_EQ(mine.ec == http::error::header_limit, size == 65'534);
  }
}

TEST(ResponseHead, ABodyWithoutABufferAsksForOne) {
  head_arena arena;
  response_parser p(arena);
  const std::string bytes = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  error_code ec;
  std::size_t used = p.put(asio::buffer(bytes), ec);
  ASSERT_TRUE(p.is_header_done());
  used += p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  EXPECT_EQ(ec, http::error::need_buffer);  // body().data unset
  char piece[3];
  p.body().data = piece;
  p.body().size = sizeof(piece);
  used += p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  EXPECT_EQ(ec, http::error::need_buffer);  // full after 3 bytes
  EXPECT_EQ(std::string(piece, 3), "hel");
  p.body().data = piece;
  p.body().size = sizeof(piece);
  used += p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(piece, 2), "lo");
  EXPECT_EQ(p.body().size, 1u);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(used, bytes.size());
}

}  // namespace
}  // namespace sluice::net
