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

TEST(Wire, LinesAndFieldsMatchBeast) {
  http::response<http::empty_body> res{http::status::not_found, 10};
  res.reason("Nope");
  res.insert("x-lower-case", "kept as sent");
  res.insert("X-Empty", "");
  res.insert("Content-Length", "12");
  wire_buffer mine;
  append_status_line(mine, 10, 404, "Nope");
  append_field(mine, "x-lower-case", "kept as sent");
  append_field(mine, "X-Empty", "");
  append_number_field(mine, "Content-Length", 12);
  mine.append("\r\n");
  std::ostringstream beast;
  beast << res.base();
  EXPECT_EQ(mine.view(), beast.str());

  http::request<http::empty_body> req{http::verb::post, "/a/b?c=1&d", 11};
  wire_buffer line;
  append_request_line(line, "POST", "/a/b?c=1&d");
  line.append("\r\n");
  std::ostringstream beast_req;
  beast_req << req.base();
  EXPECT_EQ(line.view(), beast_req.str());
}

TEST(Wire, StatusLinesOfEveryCodeMatchBeast) {
  // The number as it is, whatever its width.
  for (unsigned version : {10u, 11u}) {
    for (unsigned status = 0; status < 1200; ++status) {
      wire_buffer mine;
      mine.append("x");  // after other text, as in a head being written
      append_status_line(mine, version, status, "Some Reason");
      const std::string expected = std::string("x") + (version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ") +
                                   std::to_string(status) + " Some Reason\r\n";
      ASSERT_EQ(mine.view(), expected) << status;
      if (status >= 100 && status <= 999) {
        http::response<http::empty_body> res;
        res.version(version);
        res.result(status);
        res.reason("Some Reason");
        std::ostringstream beast;
        beast << res.base();
        ASSERT_EQ("x" + beast.str(), expected + "\r\n") << status;
      }
    }
  }
}

TEST(Wire, LengthsBeyondInt64AreWrittenAsTheyAre) {
  // An upstream may announce any Content-Length Beast accepts: the relayed head must
  // carry the same number, never a sign-wrapped one.
  wire_buffer mine;
  append_number_field(mine, "Content-Length", 18'446'744'073'709'551'615ull);
  EXPECT_EQ(mine.view(), "Content-Length: 18446744073709551615\r\n");
}

TEST(Wire, OwnResponseMatchesBeast) {
  limit::header_list fields;
  fields.add("X-RateLimit-Limit", "10");
  fields.add("X-RateLimit-Remaining", "0");
  const std::string body = R"({"error":{"code":"rate_limit_exceeded"}})";

  for (bool keep_alive : {true, false}) {
    wire_buffer mine;
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
    EXPECT_EQ(mine.view(), beast_bytes(res)) << "keep_alive " << keep_alive;
  }
}

TEST(Wire, OwnResponseToHeadAnnouncesTheLengthWithoutTheBody) {
  wire_buffer mine;
  write_own_response(mine, {.status = 503,
                            .fields = nullptr,
                            .retry_after = {},
                            .body = "abc",
                            .keep_alive = true,
                            .head_request = true});
  EXPECT_EQ(mine.view(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
            "3\r\n\r\n");
}

TEST(Wire, BufferGrowsKeepingWhatItHolds) {
  wire_buffer b;
  std::string expected;
  for (int i = 0; i < 3000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    b.append(piece);
    expected += piece;
  }
  b.push_back('!');
  expected += '!';
  EXPECT_EQ(b.view(), expected);
  b.clear();
  EXPECT_TRUE(b.empty());
  b.append("x");
  EXPECT_EQ(b.view(), "x");
}

TEST(Wire, ContinueResponseMatchesBeast) {
  http::response<http::empty_body> res{http::status::continue_, 11};
  std::ostringstream beast;
  beast << res.base();
  EXPECT_EQ(continue_response, beast.str());
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
