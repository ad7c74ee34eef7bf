#include "http/forwarding.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace sluice::net {
namespace {

std::vector<std::string> names(const http::fields& f) {
  std::vector<std::string> out;
  for (const auto& field : f) out.emplace_back(field.name_string());
  return out;
}

TEST(StripHopByHop, RemovesTheStandardHopByHopFieldsAndKeepsTheOthersInOrder) {
  http::fields f;
  f.insert("Host", "example.com");
  f.insert("Keep-Alive", "timeout=5");
  f.insert("TE", "trailers");
  f.insert("Accept", "*/*");
  f.insert("Trailer", "X-Sum");
  f.insert("Transfer-Encoding", "chunked");
  f.insert("Upgrade", "h2c");
  f.insert("Proxy-Connection", "keep-alive");
  f.insert("Content-Length", "3");
  strip_hop_by_hop(f);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Host", "Accept", "Content-Length"}));
}

TEST(StripHopByHop, RemovesFieldsNamedByConnectionInAnyCaseAndPosition) {
  http::fields f;
  f.insert("X-Before", "1");
  f.insert("Connection", "x-before, X-After");
  f.insert("x-after", "2");
  f.insert("Connection", "keep-alive, x-second-line");
  f.insert("X-Second-Line", "3");
  f.insert("X-Kept", "4");
  strip_hop_by_hop(f);
  EXPECT_EQ(names(f), (std::vector<std::string>{"X-Kept"}));
}

TEST(StripHopByHop, ConnectionNamingItselfOrNothingLeavesTheRest) {
  http::fields f;
  f.insert("Connection", "Connection, close");
  f.insert("Date", "today");
  strip_hop_by_hop(f);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Date"}));
}

TEST(PrepareClientResponse, StripsHopByHopAndAppendsVia) {
  http::response_header<> res;
  res.result(http::status::ok);
  res.insert("Content-Length", "2");
  res.insert("Connection", "keep-alive");
  res.insert("Keep-Alive", "timeout=5");
  res.insert("Via", "1.0 origin");
  prepare_client_response(res);
  EXPECT_EQ(names(res), (std::vector<std::string>{"Content-Length", "Via"}));
  EXPECT_EQ(res[http::field::via], "1.0 origin, 1.1 sluice");
}

TEST(StripHopByHop, ConnectionCannotNameAwayTheFramingOrTheKeptFields) {
  // "Connection: Content-Length" would send the upstream a body it does not expect,
  // parsed as a request of its own (request smuggling).
  http::fields f;
  f.insert("Host", "x");
  f.insert("Connection", "Content-Length, host, X-API-Key, x-other");
  f.insert("Content-Length", "35");
  f.insert("X-API-Key", "k");
  f.insert("X-Other", "gone");
  const std::array<std::string_view, 3> kept{"x-api-key", "", "X-Tier"};
  strip_hop_by_hop(f, kept);
  EXPECT_EQ(names(f), (std::vector<std::string>{"Host", "Content-Length", "X-API-Key"}));
}

TEST(SetBodyFraming, ReplacesEveryFramingFieldWithTheOneSluiceWrites) {
  http::fields f;
  f.insert("Content-Length", "5, 5");
  f.insert("X-Kept", "1");
  f.insert("Transfer-Encoding", "gzip");
  set_body_framing(f, body_framing::length, 5);
  EXPECT_EQ(names(f), (std::vector<std::string>{"X-Kept", "Content-Length"}));
  EXPECT_EQ(f[http::field::content_length], "5");

  set_body_framing(f, body_framing::chunked);
  EXPECT_EQ(names(f), (std::vector<std::string>{"X-Kept", "Transfer-Encoding"}));
  EXPECT_EQ(f[http::field::transfer_encoding], "chunked");

  set_body_framing(f, body_framing::none);
  EXPECT_EQ(names(f), (std::vector<std::string>{"X-Kept"}));
  set_body_framing(f, body_framing::until_close);
  EXPECT_EQ(names(f), (std::vector<std::string>{"X-Kept"}));
}

TEST(PrepareUpstreamRequest, KeepsHostAndContentLengthWhateverConnectionSays) {
  http::request_header<> req;
  req.method(http::verb::post);
  req.target("/a");
  req.insert("Host", "api");
  req.insert("Connection", "Content-Length, Host");
  req.insert("Content-Length", "35");
  prepare_upstream_request(req, {"203.0.113.7", false, "upstream:80", {}});
  EXPECT_EQ(req[http::field::host], "api");
  EXPECT_EQ(req[http::field::content_length], "35");
  EXPECT_EQ(req.count(http::field::connection), 0u);
}

}  // namespace
}  // namespace sluice::net
