#include "http/forwarding.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::net
