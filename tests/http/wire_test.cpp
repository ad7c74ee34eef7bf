// The wire module writes exactly the bytes Beast's serializer writes for the same
// message: the hand-written heads must not drift from the reference.
#include "http/wire.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace sluice::net {
namespace {

template <class Message>
std::string beast_bytes(Message& m) {
  m.prepare_payload();
  std::ostringstream out;
  out << m;
  return out.str();
}

TEST(Wire, RequestHeadMatchesBeast) {
  http::request<http::empty_body> req{http::verb::post, "/a/b?c=1&d", 11};
  req.set(http::field::host, "example.com:8080");
  req.insert("X-Forwarded-For", "203.0.113.7, 10.0.0.1");
  req.insert("x-lower-case", "kept as sent");
  req.insert("X-Empty", "");
  req.set(http::field::content_length, "12");
  std::string mine;
  write_request_head(mine, req.base());
  std::ostringstream beast;
  beast << req.base();
  EXPECT_EQ(mine, beast.str());
  EXPECT_EQ(mine,
            "POST /a/b?c=1&d HTTP/1.1\r\nHost: example.com:8080\r\nX-Forwarded-For: 203.0.113.7, "
            "10.0.0.1\r\nx-lower-case: kept as sent\r\nX-Empty: \r\nContent-Length: 12\r\n\r\n");
}

TEST(Wire, CustomMethodAndHttp10) {
  http::request<http::empty_body> req;
  req.method_string("PURGE");
  req.target("/x");
  req.version(10);
  std::string mine;
  write_request_head(mine, req.base());
  std::ostringstream beast;
  beast << req.base();
  EXPECT_EQ(mine, beast.str());
  EXPECT_EQ(mine, "PURGE /x HTTP/1.0\r\n\r\n");
}

TEST(Wire, ResponseHeadStartMatchesBeastAndSkipsReplacedFields) {
  http::response<http::empty_body> res{http::status::ok, 11};
  res.set(http::field::server, "origin");
  res.insert("X-RateLimit-Limit", "999");  // replaced by Sluice's own
  res.insert("Set-Cookie", "a=1");
  res.insert("Set-Cookie", "b=2");
  std::string mine;
  limit::header_list none;
  write_response_head_start(mine, res.base(), none);
  mine += "\r\n";
  std::ostringstream beast;
  beast << res.base();
  EXPECT_EQ(mine, beast.str());

  limit::header_list replaced;
  replaced.add("X-RateLimit-Limit") = "10";
  write_response_head_start(mine, res.base(), replaced);
  EXPECT_EQ(mine, "HTTP/1.1 200 OK\r\nServer: origin\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
}

TEST(Wire, ResponseHeadKeepsTheUpstreamsReasonPhrase) {
  http::response<http::empty_body> res{http::status::not_found, 10};
  res.reason("Nope");
  std::string mine;
  write_response_head_start(mine, res.base(), limit::header_list{});
  EXPECT_EQ(mine, "HTTP/1.0 404 Nope\r\n");
}

TEST(Wire, OwnResponseMatchesBeast) {
  limit::header_list fields;
  fields.add("X-RateLimit-Limit") = "10";
  fields.add("X-RateLimit-Remaining") = "0";
  const std::string body = R"({"error":{"code":"rate_limit_exceeded"}})";

  for (bool keep_alive : {true, false}) {
    std::string mine;
    write_own_response(mine, {.status = 429,
                              .fields = &fields,
                              .retry_after = "7",
                              .body = body,
                              .keep_alive = keep_alive,
                              .head_request = false});
    http::response<http::string_body> res{http::status::too_many_requests, 11};
    res.set(http::field::content_type, "application/json");
    for (const auto& f : fields) res.set(f.name, f.value);
    res.set(http::field::retry_after, "7");
    res.keep_alive(keep_alive);
    res.body() = body;
    EXPECT_EQ(mine, beast_bytes(res)) << "keep_alive " << keep_alive;
  }
}

TEST(Wire, OwnResponseToHeadAnnouncesTheLengthWithoutTheBody) {
  std::string mine;
  write_own_response(mine, {.status = 503,
                            .fields = nullptr,
                            .retry_after = {},
                            .body = "abc",
                            .keep_alive = true,
                            .head_request = true});
  EXPECT_EQ(mine,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
            "3\r\n\r\n");
}

TEST(Wire, ChunkSizeLinesAreHexWithCrlf) {
  EXPECT_EQ(chunk_size_of(0).view(), "0\r\n");
  EXPECT_EQ(chunk_size_of(10).view(), "a\r\n");
  EXPECT_EQ(chunk_size_of(65536).view(), "10000\r\n");
  EXPECT_EQ(chunk_size_of(~std::size_t{0}).view(), "ffffffffffffffff\r\n");
  EXPECT_EQ(last_chunk, "0\r\n\r\n");
}

}  // namespace
}  // namespace sluice::net
