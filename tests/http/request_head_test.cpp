// Sluice's own checks on a parsed request head, and Beast's parser fed through
// feed_parser: raw bytes in, the exact verdict out.
#include "http/request_head.hpp"

#include <gtest/gtest.h>

#include <string>

#include "http/message_reader.hpp"
#include "util/ascii.hpp"

namespace sluice::net {
namespace {

// Parses `bytes` as one request head (header_limit 1 MiB); returns the parse error.
error_code parse(request_parser& p, std::string_view bytes) {
  p.header_limit(1024 * 1024);
  error_code ec;
  feed_parser(p, asio::buffer(bytes.data(), bytes.size()), ec);
  return ec;
}

// The verdict of check_request_head on `bytes`: "" when accepted, else the message.
std::string verdict(std::string_view bytes) {
  request_parser p;
  const error_code ec = parse(p, bytes);
  if (ec) return "parse error: " + ec.message();
  if (!p.is_header_done()) return "incomplete";
  auto problem = check_request_head(p.get());
  return problem ? std::string(problem->message) : std::string();
}

// check_request_head's summary against Beast's own lookups.
void expect_summary_as_beast(std::string_view bytes) {
  request_parser p;
  ASSERT_FALSE(parse(p, bytes)) << bytes;
  head_summary summary;
  check_request_head(p.get(), &summary);
  EXPECT_EQ(summary.keep_alive, p.get().keep_alive()) << bytes;
  EXPECT_EQ(summary.expects_continue, iequals(as_std(p.get()[http::field::expect]), "100-continue"))
      << bytes;
}

TEST(RequestHead, SummaryIsWhatBeastSays) {
  for (const char* version : {"HTTP/1.0", "HTTP/1.1"}) {
    for (const char* fields :
         {"", "Connection: close\r\n", "Connection: keep-alive\r\n",
          "Connection: Upgrade, Close\r\n", "connection: x\r\n",
          "Connection: keep-alive\r\nConnection: close\r\n", "Expect: 100-continue\r\n",
          "expect: 100-Continue\r\n", "Expect: 100-continue, x\r\n",
          "Expect: x\r\nB: 1\r\nExpect: 100-continue\r\n",
          "Expect: 100-continue\r\nExpect: x\r\n"}) {
      expect_summary_as_beast(std::string("POST / ") + version + "\r\nHost: x\r\n" + fields +
                              "Content-Length: 0\r\n\r\n");
    }
  }
}

TEST(RequestHead, TheFirstProblemIsReportedWhateverTheFieldOrder) {
  // Transfer-Encoding is checked before a framing field spelled with '_', and that
  // before Host, wherever the lines stand.
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nContent_Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent_Length: 5\r\n\r\n"),
            "Header field name with '_' in place of '-' of a framing field");
}

TEST(RequestHead, PlainRequestsPass) {
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), "");
  EXPECT_EQ(verdict("GET /a?b HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), "");
  EXPECT_EQ(verdict("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), "");
  EXPECT_EQ(verdict("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tChunked \r\n\r\n"), "");
  EXPECT_EQ(verdict("GET / HTTP/1.0\r\n\r\n"), "");  // HTTP/1.0 needs no Host
  EXPECT_EQ(verdict("GET http://example.com/a HTTP/1.1\r\nHost: other\r\n\r\n"), "");
  EXPECT_EQ(verdict("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: \r\n\r\n"), "");  // RFC 9112 3.2: empty allowed
}

TEST(RequestHead, HostMustBeOneWellFormedLine) {
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\n\r\n"), "Missing Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), "Duplicate Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), "Duplicate Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), "Malformed Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), "Malformed Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), "Malformed Host header");
}

TEST(RequestHead, OnlyExactlyChunkedTransferEncodingPasses) {
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n"),
            "Unsupported Transfer-Encoding");
  EXPECT_EQ(verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "Transfer-Encoding in an HTTP/1.0 request");
}

TEST(RequestHead, BeastRefusesTheClassicFramingConflicts) {
  EXPECT_NE(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n")
                .find("parse error"),
            std::string::npos);
  EXPECT_NE(verdict("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 3\r\n\r\n")
                .find("parse error"),
            std::string::npos);
  EXPECT_NE(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                .find("parse error"),
            std::string::npos);
  EXPECT_NE(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\n").find("parse error"),
            std::string::npos);
  EXPECT_NE(verdict("GET / HTTP/1.1\nHost: x\n\n").find("parse error"), std::string::npos);
}

TEST(RequestHead, UnderscoreSpellingsOfFramingFieldsAreRefused) {
  const std::string message = "Header field name with '_' in place of '-' of a framing field";
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\n"), message);
  EXPECT_EQ(verdict("POST / HTTP/1.1\r\nHost: x\r\ntransfer_encoding: chunked\r\n\r\n"), message);
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: x\r\nHOST_: y\r\n\r\n"), "");  // not a spelling
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: x\r\nX_Custom: y\r\n\r\n"), "");
}

TEST(RequestHead, AHostOrAuthorityLongerThanAnyRealHostIsRefused) {
  const std::string long_host(1025, 'a');
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: " + long_host + "\r\n\r\n"), "Malformed Host header");
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: " + long_host.substr(1) + "\r\n\r\n"), "");
  // Found by the fuzzer: to_origin_form could not set a 70,000-byte authority as Host.
  EXPECT_EQ(verdict("GET http://" + std::string(70'000, 'a') + "/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            "Malformed request target");
}

TEST(RequestHead, TargetForms) {
  EXPECT_EQ(verdict("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
            "CONNECT is not supported");
  EXPECT_EQ(verdict("GET a/b HTTP/1.1\r\nHost: x\r\n\r\n"), "Malformed request target");
  EXPECT_EQ(verdict("GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n"), "Malformed request target");
  EXPECT_EQ(verdict("GET http://a b/ HTTP/1.1\r\nHost: x\r\n\r\n").substr(0, 11), "parse error");
}

TEST(RequestHead, AbsoluteFormBecomesOriginFormWithItsAuthorityAsHost) {
  request_parser p;
  ASSERT_FALSE(
      parse(p, "GET http://user:pw@api.example:8080/a/b?c HTTP/1.1\r\nHost: evil\r\n\r\n"));
  to_origin_form(p.get());
  EXPECT_EQ(p.get().target(), "/a/b?c");
  EXPECT_EQ(p.get()[http::field::host], "api.example:8080");
  EXPECT_EQ(p.get().count(http::field::host), 1u);

  request_parser q;
  ASSERT_FALSE(parse(q, "GET HTTPS://api.example?x=1 HTTP/1.1\r\nHost: api.example\r\n\r\n"));
  to_origin_form(q.get());
  EXPECT_EQ(q.get().target(), "/?x=1");
}

TEST(FeedParser, AFieldValueBeastCannotHoldIsHeaderLimitNotAnException) {
  // Beast's basic_fields throws std::length_error for a value over 65,535 bytes.
  const std::string head =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(65'600, 'a') + "\r\n\r\n";
  request_parser p;
  EXPECT_EQ(parse(p, head), http::error::header_limit);
}

TEST(FeedParser, ATrailerValueBeastCannotHoldIsHeaderLimitNotAnException) {
  const std::string message =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
      std::string(65'600, 'a') + "\r\n\r\n";
  request_parser p;
  p.header_limit(1024 * 1024);
  char body[16];
  p.get().body().data = body;
  p.get().body().size = sizeof(body);
  error_code ec;
  std::size_t used = 0;
  // Non-eager: one element per put.
  for (int i = 0; i < 4 && !ec && !p.is_done(); ++i) {
    used += feed_parser(p, asio::buffer(message.data() + used, message.size() - used), ec);
  }
  EXPECT_EQ(ec, http::error::header_limit);
}

TEST(FeedParser, AFinishedParserIsNotFedAgain) {
  request_parser p;
  ASSERT_FALSE(parse(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(p.is_done());
  error_code ec = http::error::need_more;
  EXPECT_EQ(feed_parser(p, asio::buffer("GET", 3), ec), 0u);
  EXPECT_FALSE(ec);
}

}  // namespace
}  // namespace sluice::net
