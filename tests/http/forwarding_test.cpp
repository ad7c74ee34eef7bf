// The heads of the proxy hop, written in one pass from the parsed head: which fields
// the next hop gets, in which order, and that the bytes are exactly what Beast's
// serializer writes for the same message.
#include "http/forwarding.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::net {
namespace {

// "Name: value" of every field, in order, as a parser reads the written head back.
template <bool isRequest>
std::vector<std::string> fields_of(const std::string& wire) {
  http::parser<isRequest, http::empty_body> p;
  p.eager(false);
  error_code ec;
  const std::size_t used = p.put(asio::buffer(wire), ec);
  EXPECT_FALSE(ec) << ec.message() << " in:\n" << wire;
  EXPECT_TRUE(p.is_header_done());
  EXPECT_EQ(used, wire.size()) << wire;
  std::vector<std::string> out;
  for (const auto& f : p.get()) {
    out.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
  }
  return out;
}

std::string upstream_head(const request_head& req, body_frame body = {}, bool peer_trusted = false,
                          std::span<const std::string_view> kept = {}) {
  const upstream_request_context ctx{"203.0.113.7", peer_trusted, "upstream:80", kept, body};
  wire_buffer out;
  EXPECT_TRUE(write_upstream_request_head(out, req, ctx));
  return std::string(out.view());
}

// The upstream's response head as the session parses it (response_parser), from its bytes.
class upstream_response {
 public:
  explicit upstream_response(std::string_view head) : bytes_(head) {
    auto& p = emplace_parser(parser_, arena_);
    p.eager(false);
    error_code ec;
    p.put(asio::buffer(bytes_), ec);
    EXPECT_FALSE(ec) << ec.message() << " in:\n" << bytes_;
    EXPECT_TRUE(p.is_header_done()) << bytes_;
  }
  const response_parser& get() const { return *parser_; }

 private:
  std::string bytes_;
  head_arena arena_;
  std::optional<response_parser> parser_;
};

std::string client_head(std::string_view upstream_head, const client_response_context& ctx) {
  const upstream_response res(upstream_head);
  wire_buffer out;
  write_client_response_head(out, res.get(), ctx);
  return std::string(out.view());
}

request_head get(std::string_view target = "/a") {
  request_head req;
  req.method(http::verb::get);
  req.target(target);
  req.version(11);
  return req;
}

using lines = std::vector<std::string>;

TEST(UpstreamRequestHead, IsWhatBeastWritesForTheSameMessage) {
  request_head req = get("/a/b?c=1&d");
  req.method(http::verb::post);
  req.insert("Host", "example.com:8080");
  req.insert("x-lower-case", "kept as sent");
  req.insert("X-Empty", "");
  req.insert("Content-Length", "12");
  const std::string mine = upstream_head(req, {body_framing::length, 12});

  http::request<http::empty_body> expected{http::verb::post, "/a/b?c=1&d", 11};
  expected.insert("Host", "example.com:8080");
  expected.insert("x-lower-case", "kept as sent");
  expected.insert("X-Empty", "");
  expected.insert("X-Forwarded-For", "203.0.113.7");
  expected.insert("X-Forwarded-Proto", "http");
  expected.insert("X-Forwarded-Host", "example.com:8080");
  expected.insert("Via", "1.1 sluice");
  expected.insert("Content-Length", "12");
  std::ostringstream beast;
  beast << expected.base();
  EXPECT_EQ(mine, beast.str());
}

TEST(UpstreamRequestHead, CustomMethodsAndHttp10GoOutAsHttp11) {
  request_head req;
  req.method_string("PURGE");
  req.target("/x");
  req.version(10);
  const std::string mine = upstream_head(req);
  EXPECT_EQ(mine.substr(0, mine.find('\r')), "PURGE /x HTTP/1.1");
  // No Host from an HTTP/1.0 client: the upstream's.
  EXPECT_EQ(fields_of<true>(mine), (lines{"X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: http",
                                          "Host: upstream:80", "Via: 1.1 sluice"}));
}

TEST(UpstreamRequestHead, DropsTheStandardHopByHopFieldsAndKeepsTheOthersInOrder) {
  request_head req = get();
  req.insert("Host", "example.com");
  req.insert("Keep-Alive", "timeout=5");
  req.insert("TE", "trailers");
  req.insert("Accept", "*/*");
  req.insert("Trailer", "X-Sum");
  req.insert("Transfer-Encoding", "chunked");
  req.insert("Upgrade", "h2c");
  req.insert("Proxy-Connection", "keep-alive");
  req.insert("Expect", "100-continue");
  req.insert("X-Last", "1");
  EXPECT_EQ(fields_of<true>(upstream_head(req, {body_framing::chunked, 0})),
            (lines{"Host: example.com", "Accept: */*", "X-Last: 1", "X-Forwarded-For: 203.0.113.7",
                   "X-Forwarded-Proto: http", "X-Forwarded-Host: example.com", "Via: 1.1 sluice",
                   "Transfer-Encoding: chunked"}));
}

TEST(UpstreamRequestHead, DropsFieldsNamedByConnectionInAnyCaseAndPosition) {
  request_head req = get();
  req.insert("Host", "h");
  req.insert("X-Before", "1");
  req.insert("Connection", "x-before, X-After");
  req.insert("x-after", "2");
  req.insert("Connection", "keep-alive, x-second-line, Connection");
  req.insert("X-Second-Line", "3");
  req.insert("X-Kept", "4");
  EXPECT_EQ(fields_of<true>(upstream_head(req)),
            (lines{"Host: h", "X-Kept: 4", "X-Forwarded-For: 203.0.113.7",
                   "X-Forwarded-Proto: http", "X-Forwarded-Host: h", "Via: 1.1 sluice"}));
}

TEST(UpstreamRequestHead, ConnectionCannotNameAwayTheFramingHostOrTheKeptFields) {
  // "Connection: Content-Length" would send the upstream a body it does not expect,
  // parsed as a request of its own (request smuggling).
  request_head req = get();
  req.method(http::verb::post);
  req.insert("Host", "api");
  req.insert("Connection", "Content-Length, host, X-API-Key, x-other");
  req.insert("Content-Length", "35");
  req.insert("X-API-Key", "k");
  req.insert("X-Other", "gone");
  const std::array<std::string_view, 3> kept{"x-api-key", "", "X-Tier"};
  EXPECT_EQ(
      fields_of<true>(upstream_head(req, {body_framing::length, 35}, false, kept)),
      (lines{"Host: api", "X-API-Key: k", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: http",
             "X-Forwarded-Host: api", "Via: 1.1 sluice", "Content-Length: 35"}));
}

TEST(UpstreamRequestHead, TheFramingIsTheOneSluiceReadTheBodyBy) {
  request_head req = get();
  req.insert("Host", "h");
  req.insert("Content-Length", "5, 5");
  req.insert("Transfer-Encoding", "gzip");
  const auto framing = [](const lines& l) {
    lines out;
    for (const auto& f : l) {
      if (f.starts_with("Content-Length") || f.starts_with("Transfer-Encoding")) out.push_back(f);
    }
    return out;
  };
  EXPECT_EQ(framing(fields_of<true>(upstream_head(req, {body_framing::length, 5}))),
            (lines{"Content-Length: 5"}));
  EXPECT_EQ(framing(fields_of<true>(upstream_head(req, {body_framing::chunked, 0}))),
            (lines{"Transfer-Encoding: chunked"}));
  EXPECT_EQ(framing(fields_of<true>(upstream_head(req, {body_framing::none, 0}))), lines{});
}

TEST(UpstreamRequestHead, ForwardedForJoinsEveryLineThenThePeer) {
  request_head req = get();
  req.insert("Host", "h");
  req.insert("X-Forwarded-For", "198.51.100.1, 10.0.0.1");
  req.insert("x-forwarded-for", "");
  req.insert("X-Forwarded-For", "10.0.0.2");
  const lines got = fields_of<true>(upstream_head(req));
  EXPECT_EQ(got[1], "X-Forwarded-For: 198.51.100.1, 10.0.0.1, 10.0.0.2, 203.0.113.7");
}

TEST(UpstreamRequestHead, OnlyATrustedPeerKeepsItsForwardedProtoAndHost) {
  request_head req = get();
  req.insert("X-Forwarded-Proto", "https");
  req.insert("Host", "inner");
  req.insert("X-Forwarded-Host", "public.example");
  EXPECT_EQ(fields_of<true>(upstream_head(req, {}, true)),
            (lines{"X-Forwarded-Proto: https", "Host: inner", "X-Forwarded-Host: public.example",
                   "X-Forwarded-For: 203.0.113.7", "Via: 1.1 sluice"}));
  EXPECT_EQ(fields_of<true>(upstream_head(req, {}, false)),
            (lines{"Host: inner", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: http",
                   "X-Forwarded-Host: inner", "Via: 1.1 sluice"}));
}

TEST(UpstreamRequestHead, ATlsClientIsForwardedAsHttpsWhateverItClaims) {
  request_head req = get();
  req.insert("Host", "api");
  req.insert("X-Forwarded-Proto", "http");  // an untrusted client's own is dropped
  upstream_request_context ctx{"203.0.113.7", false, "upstream:80", {}, {}};
  ctx.tls = true;
  wire_buffer out;
  ASSERT_TRUE(write_upstream_request_head(out, req, ctx));
  EXPECT_EQ(fields_of<true>(std::string(out.view())),
            (lines{"Host: api", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https",
                   "X-Forwarded-Host: api", "Via: 1.1 sluice"}));
}

TEST(UpstreamRequestHead, AnUntrustedClientWithoutHostCannotSetForwardedHost) {
  request_head req = get();
  req.version(10);
  req.insert("X-Forwarded-Host", "evil.example");
  EXPECT_EQ(fields_of<true>(upstream_head(req)),
            (lines{"X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: http", "Host: upstream:80",
                   "Via: 1.1 sluice"}));
}

TEST(UpstreamRequestHead, ViaJoinsEveryLine) {
  request_head req = get();
  req.insert("Host", "h");
  req.insert("Via", "1.0 a");
  req.insert("Via", "1.1 b");
  EXPECT_EQ(fields_of<true>(upstream_head(req)).back(), "Via: 1.0 a, 1.1 b, 1.1 sluice");
}

TEST(UpstreamRequestHead, AJoinedFieldOverTheFieldBoundIsNotWritten) {
  request_head req = get();
  req.insert("Host", "h");
  req.insert("X-Forwarded-For", std::string(40'000, '1'));
  req.insert("X-Forwarded-For", std::string(25'520, '2'));
  wire_buffer out;
  // 40,000 + 2 + 25,520 + 2 + 11 = 65,535: just fits.
  EXPECT_TRUE(write_upstream_request_head(out, req, {"203.0.113.7", false, "u", {}, {}}));
  EXPECT_FALSE(write_upstream_request_head(out, req, {"203.0.113.77", false, "u", {}, {}}));
}

// Soft limits (limit/soft_limit.hpp): X-RateLimit-Degraded is Sluice's word to the upstream.
std::string degraded_head(const request_head& req, std::string_view degraded) {
  wire_buffer out;
  EXPECT_TRUE(write_upstream_request_head(
      out, req, {"203.0.113.7", false, "upstream:80", {}, {body_framing::length, 2}, degraded}));
  return std::string(out.view());
}

TEST(UpstreamRequestHead, ADegradedRequestCarriesTheLimitNamesAfterVia) {
  request_head req = get("/d");
  req.method(http::verb::post);
  req.insert("Host", "api");
  req.insert("Content-Length", "2");
  EXPECT_EQ(degraded_head(req, "per-ip, global"),
            "POST /d HTTP/1.1\r\n"
            "Host: api\r\n"
            "X-Forwarded-For: 203.0.113.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: api\r\n"
            "Via: 1.1 sluice\r\n"
            "X-RateLimit-Degraded: per-ip, global\r\n"
            "Content-Length: 2\r\n"
            "\r\n");
  // And nothing of it when the request is not degraded.
  EXPECT_EQ(degraded_head(req, "").find("Degraded"), std::string::npos);
}

TEST(UpstreamRequestHead, AClientsDegradedFieldNeverReachesTheUpstream) {
  // In any case, on several lines, named by Connection or not: dropped, and Sluice's
  // own (when the request is degraded) is the only one the upstream sees.
  request_head req = get("/d");
  req.insert("Host", "api");
  req.insert("X-RateLimit-Degraded", "forged");
  req.insert("x-ratelimit-degraded", "forged-too");
  req.insert("Connection", "X-RateLimit-Degraded");
  req.insert("X-Kept", "1");
  req.insert("X-RATELIMIT-DEGRADED", "");
  const lines plain = fields_of<true>(degraded_head(req, ""));
  EXPECT_EQ(plain, (lines{"Host: api", "X-Kept: 1", "X-Forwarded-For: 203.0.113.7",
                          "X-Forwarded-Proto: http", "X-Forwarded-Host: api", "Via: 1.1 sluice",
                          "Content-Length: 2"}));
  const lines degraded = fields_of<true>(degraded_head(req, "per-ip"));
  EXPECT_EQ(std::count_if(degraded.begin(), degraded.end(),
                          [](const std::string& f) {
                            return beast::iequals(f.substr(0, 20), "X-RateLimit-Degraded");
                          }),
            1);
  EXPECT_EQ(degraded[6], "X-RateLimit-Degraded: per-ip");
  // Trusted or not, a proxy in front cannot say it either.
  wire_buffer out;
  ASSERT_TRUE(write_upstream_request_head(out, req, {"203.0.113.7", true, "u", {}, {}}));
  EXPECT_EQ(std::string(out.view()).find("forged"), std::string::npos);
}

TEST(ClientResponseHead, IsWhatBeastWritesForTheSameMessage) {
  const std::string_view res =
      "HTTP/1.1 200 OK\r\nServer: origin\r\n"
      "X-RateLimit-Limit: 999\r\n"  // replaced by Sluice's own
      "Set-Cookie: a=1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
      "Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\n";
  limit::header_list rate;
  rate.add("X-RateLimit-Limit", "10");
  rate.add("X-RateLimit-Remaining", "9");
  const std::string mine = client_head(res, {.version = 11,
                                             .body = {body_framing::length, 2},
                                             .rate_headers = &rate,
                                             .keep_alive = false});

  http::response<http::empty_body> expected{http::status::ok, 11};
  expected.insert("Server", "origin");
  expected.insert("Set-Cookie", "a=1");
  expected.insert("Set-Cookie", "b=2");
  expected.insert("Via", "1.1 sluice");
  expected.insert("Content-Length", "2");
  expected.insert("X-RateLimit-Limit", "10");
  expected.insert("X-RateLimit-Remaining", "9");
  expected.insert("Connection", "close");
  std::ostringstream beast;
  beast << expected.base();
  EXPECT_EQ(mine, beast.str());
}

TEST(ClientResponseHead, KeepsTheUpstreamsReasonPhraseInTheClientsVersion) {
  const std::string mine = client_head("HTTP/1.1 404 Nope\r\n\r\n", {10, {}, nullptr, true});
  EXPECT_EQ(mine, "HTTP/1.0 404 Nope\r\nVia: 1.1 sluice\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ClientResponseHead, StripsHopByHopAndJoinsVia) {
  const std::string_view res =
      "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\n"
      "Transfer-Encoding: chunked\r\nVia: 1.0 origin\r\n\r\n";
  EXPECT_EQ(fields_of<false>(client_head(res, {11, {body_framing::chunked, 0}, nullptr, true})),
            (lines{"Via: 1.0 origin, 1.1 sluice", "Transfer-Encoding: chunked"}));
}

// ---- WebSocket handshakes (is_websocket_upgrade, and the heads of a passed-on one) ----

request_head handshake() {
  request_head req = get("/chat");
  req.insert("Host", "example.com");
  req.insert("Connection", "keep-alive, Upgrade");
  req.insert("Upgrade", "websocket");
  req.insert("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  req.insert("Sec-WebSocket-Version", "13");
  return req;
}

TEST(WebSocketUpgrade, OnlyAnHttp11HandshakeWithoutBodyAndOneWebSocketUpgrade) {
  EXPECT_TRUE(is_websocket_upgrade(handshake(), false));
  request_head any_case = handshake();
  any_case.set("Upgrade", "WebSocket");
  any_case.set("Connection", "UPGRADE");
  EXPECT_TRUE(is_websocket_upgrade(any_case, false));
  request_head second_line = get("/chat");
  second_line.insert("Connection", "keep-alive");
  second_line.insert("Connection", "upgrade");
  second_line.insert("Upgrade", "websocket");
  EXPECT_TRUE(is_websocket_upgrade(second_line, false));

  EXPECT_FALSE(is_websocket_upgrade(handshake(), true));  // a body
  request_head post = handshake();
  post.method(http::verb::post);
  EXPECT_FALSE(is_websocket_upgrade(post, false));
  request_head http10 = handshake();
  http10.version(10);
  EXPECT_FALSE(is_websocket_upgrade(http10, false));
  request_head h2c = handshake();
  h2c.set("Upgrade", "h2c");
  EXPECT_FALSE(is_websocket_upgrade(h2c, false));
  request_head listed = handshake();
  listed.set("Upgrade", "websocket, h2c");
  EXPECT_FALSE(is_websocket_upgrade(listed, false));
  request_head twice = handshake();
  twice.insert("Upgrade", "websocket");
  EXPECT_FALSE(is_websocket_upgrade(twice, false));
  request_head not_named = handshake();
  not_named.set("Connection", "keep-alive, upgrades");
  EXPECT_FALSE(is_websocket_upgrade(not_named, false));
  request_head no_upgrade = handshake();
  no_upgrade.erase("Upgrade");
  EXPECT_FALSE(is_websocket_upgrade(no_upgrade, false));
}

TEST(UpstreamRequestHead, APassedOnHandshakeKeepsUpgradeInPlaceAndSaysConnectionUpgrade) {
  const upstream_request_context ctx{"203.0.113.7", false, "upstream:80", {}, {}, {}, true};
  wire_buffer out;
  ASSERT_TRUE(write_upstream_request_head(out, handshake(), ctx));
  EXPECT_EQ(fields_of<true>(std::string(out.view())),
            (lines{"Host: example.com", "Upgrade: websocket",
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
                   "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: http",
                   "X-Forwarded-Host: example.com", "Via: 1.1 sluice", "Connection: Upgrade"}));
  // Not passed on: the same request loses both, as any hop-by-hop field.
  EXPECT_EQ(fields_of<true>(upstream_head(handshake())),
            (lines{"Host: example.com", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                   "Sec-WebSocket-Version: 13", "X-Forwarded-For: 203.0.113.7",
                   "X-Forwarded-Proto: http", "X-Forwarded-Host: example.com", "Via: 1.1 sluice"}));
}

TEST(ClientResponseHead, ASwitchingProtocolsKeepsUpgradeAndTheRateLimitHeaders) {
  const std::string_view res =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  limit::header_list rate;
  rate.add("X-RateLimit-Limit", "2");
  rate.add("X-RateLimit-Remaining", "1");
  const std::string mine = client_head(res, {11, {}, &rate, false, true});
  EXPECT_EQ(mine,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nVia: 1.1 sluice\r\n"
            "X-RateLimit-Limit: 2\r\nX-RateLimit-Remaining: 1\r\nConnection: Upgrade\r\n\r\n");
}

}  // namespace
}  // namespace sluice::net
