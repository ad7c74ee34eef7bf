#include "identity/client_ip.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>
#include "../util/allocation_counter.hpp"

using sluice::cidr;
using sluice::ip_address;
using sluice::config::client_ip_source;
using sluice::identity::resolve_client_ip;

namespace {

ip_address ip(std::string_view text) {
  auto a = ip_address::parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(ip_address{});
}

std::vector<cidr> blocks(std::initializer_list<std::string_view> texts) {
  std::vector<cidr> out;
  for (auto t : texts) {
    auto c = cidr::parse(t);
    EXPECT_TRUE(c) << t;
    if (c) out.push_back(*c);
  }
  return out;
}

struct ip_case {
  std::string_view name;
  std::string_view peer;
  std::vector<std::string_view> lines;
  std::string_view want;
};

// Trusted: the private ranges our own proxies live in, and an IPv6 proxy block.
const std::vector<cidr>& trusted() {
  static const auto t = blocks({"10.0.0.0/8", "192.168.0.0/16", "2001:db8:ffff::/48"});
  return t;
}

std::string resolve(const ip_case& c, client_ip_source source) {
  return resolve_client_ip(ip(c.peer), c.lines, source, trusted()).to_string();
}

class ClientIpXff : public testing::TestWithParam<ip_case> {};

TEST_P(ClientIpXff, Resolves) {
  const auto& c = GetParam();
  EXPECT_EQ(resolve(c, client_ip_source::x_forwarded_for), c.want) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    ClientIp, ClientIpXff,
    testing::Values(
        // Untrusted peers: headers are never honoured.
        ip_case{"untrusted peer, no header", "203.0.113.7", {}, "203.0.113.7"},
        ip_case{"untrusted peer spoofs XFF", "203.0.113.7", {"1.2.3.4"}, "203.0.113.7"},
        ip_case{"untrusted peer spoofs trusted XFF", "203.0.113.7", {"10.0.0.1"}, "203.0.113.7"},
        ip_case{"untrusted v6 peer", "2001:db8::1", {"1.2.3.4"}, "2001:db8::1"},
        // One trusted proxy.
        ip_case{"trusted peer, no header", "10.0.0.2", {}, "10.0.0.2"},
        ip_case{"trusted peer, one entry", "10.0.0.2", {"198.51.100.9"}, "198.51.100.9"},
        ip_case{"rightmost untrusted wins over spoofed left part",
                "10.0.0.2",
                {"1.1.1.1, 2.2.2.2, 198.51.100.9"},
                "198.51.100.9"},
        // Several trusted proxies.
        ip_case{"chain of trusted proxies",
                "10.0.0.2",
                {"6.6.6.6, 198.51.100.9, 192.168.1.1, 10.1.2.3"},
                "198.51.100.9"},
        ip_case{
            "all trusted: leftmost", "10.0.0.2", {"10.9.9.9, 192.168.1.1, 10.1.2.3"}, "10.9.9.9"},
        ip_case{"single trusted entry", "10.0.0.2", {"192.168.1.1"}, "192.168.1.1"},
        // Several header lines form one list, in order of appearance.
        ip_case{
            "multiple lines", "10.0.0.2", {"6.6.6.6, 198.51.100.9", "192.168.1.1"}, "198.51.100.9"},
        ip_case{"multiple lines, client in the last",
                "10.0.0.2",
                {"6.6.6.6", "198.51.100.9, 10.1.1.1"},
                "198.51.100.9"},
        ip_case{"multiple lines, all trusted", "10.0.0.2", {"10.0.0.5", "10.0.0.6"}, "10.0.0.5"},
        ip_case{"empty line in the middle is skipped",
                "10.0.0.2",
                {"198.51.100.9", "", "10.0.0.6"},
                "198.51.100.9"},
        // Spacing and empty elements.
        ip_case{"no spaces", "10.0.0.2", {"6.6.6.6,198.51.100.9,10.1.1.1"}, "198.51.100.9"},
        ip_case{"tabs and spaces",
                "10.0.0.2",
                {" \t6.6.6.6 ,\t 198.51.100.9\t, 10.1.1.1 "},
                "198.51.100.9"},
        ip_case{"empty elements are skipped",
                "10.0.0.2",
                {",198.51.100.9,, ,10.1.1.1,"},
                "198.51.100.9"},
        ip_case{"empty header", "10.0.0.2", {""}, "10.0.0.2"},
        ip_case{"blank header", "10.0.0.2", {"  ,  "}, "10.0.0.2"},
        // Ports.
        ip_case{"v4 with port", "10.0.0.2", {"198.51.100.9:4711"}, "198.51.100.9"},
        ip_case{"bracketed v6 with port", "10.0.0.2", {"[2001:db8::1]:443"}, "2001:db8::1"},
        ip_case{"bracketed v6 without port", "10.0.0.2", {"[2001:db8::1]"}, "2001:db8::1"},
        ip_case{"bare v6", "10.0.0.2", {"2001:db8::1"}, "2001:db8::1"},
        ip_case{"trusted entry with port is skipped",
                "10.0.0.2",
                {"198.51.100.9, 10.1.1.1:80"},
                "198.51.100.9"},
        // Garbage ends the walk; the last accepted address is the client.
        ip_case{"garbage right after the peer", "10.0.0.2", {"198.51.100.9, garbage"}, "10.0.0.2"},
        ip_case{"garbage left of a trusted hop",
                "10.0.0.2",
                {"198.51.100.9, bogus, 10.1.1.1"},
                "10.1.1.1"},
        ip_case{"garbage left of the client is never reached",
                "10.0.0.2",
                {"bogus, 198.51.100.9"},
                "198.51.100.9"},
        ip_case{"unknown", "10.0.0.2", {"unknown"}, "10.0.0.2"},
        ip_case{"bad port", "10.0.0.2", {"198.51.100.9:99999"}, "10.0.0.2"},
        ip_case{"empty port", "10.0.0.2", {"198.51.100.9:"}, "10.0.0.2"},
        ip_case{"obfuscated port is Forwarded-only", "10.0.0.2", {"198.51.100.9:_p"}, "10.0.0.2"},
        ip_case{"bracketed v4", "10.0.0.2", {"[198.51.100.9]"}, "10.0.0.2"},
        ip_case{"unterminated bracket", "10.0.0.2", {"[2001:db8::1"}, "10.0.0.2"},
        ip_case{"v6 zone", "10.0.0.2", {"fe80::1%eth0"}, "10.0.0.2"},
        ip_case{"hostname", "10.0.0.2", {"client.example.com"}, "10.0.0.2"},
        ip_case{"leading zeros rejected", "10.0.0.2", {"010.1.1.1"}, "10.0.0.2"},
        ip_case{"v4 with trailing dot", "10.0.0.2", {"1.2.3.4."}, "10.0.0.2"},
        // IPv6 peers and proxies.
        ip_case{"trusted v6 peer", "2001:db8:ffff::10", {"198.51.100.9"}, "198.51.100.9"},
        ip_case{"trusted v6 peer, v6 chain",
                "2001:db8:ffff::10",
                {"2001:db8:1::5, 2001:db8:ffff::20"},
                "2001:db8:1::5"},
        ip_case{
            "v6 outside trusted block", "2001:db8:fffe::10", {"198.51.100.9"}, "2001:db8:fffe::10"},
        // IPv4-mapped IPv6 is IPv4, for peers and for entries.
        ip_case{"mapped peer matches v4 trusted block",
                "::ffff:10.0.0.2",
                {"198.51.100.9"},
                "198.51.100.9"},
        ip_case{"mapped untrusted peer", "::ffff:203.0.113.7", {"198.51.100.9"}, "203.0.113.7"},
        ip_case{"mapped entry is unwrapped", "10.0.0.2", {"::ffff:198.51.100.9"}, "198.51.100.9"},
        ip_case{"mapped trusted entry is skipped",
                "10.0.0.2",
                {"198.51.100.9, [::ffff:10.1.1.1]:80"},
                "198.51.100.9"}));

class ClientIpForwarded : public testing::TestWithParam<ip_case> {};

TEST_P(ClientIpForwarded, Resolves) {
  const auto& c = GetParam();
  EXPECT_EQ(resolve(c, client_ip_source::forwarded), c.want) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    ClientIp, ClientIpForwarded,
    testing::Values(
        ip_case{"untrusted peer spoofs", "203.0.113.7", {"for=1.2.3.4"}, "203.0.113.7"},
        ip_case{"token", "10.0.0.2", {"for=198.51.100.9"}, "198.51.100.9"},
        ip_case{"quoted v4", "10.0.0.2", {"for=\"198.51.100.9\""}, "198.51.100.9"},
        ip_case{"quoted v4 with port", "10.0.0.2", {"for=\"198.51.100.9:4711\""}, "198.51.100.9"},
        ip_case{"quoted v6", "10.0.0.2", {"for=\"[2001:db8:cafe::17]\""}, "2001:db8:cafe::17"},
        ip_case{"quoted v6 with port",
                "10.0.0.2",
                {"for=\"[2001:db8:cafe::17]:4711\""},
                "2001:db8:cafe::17"},
        ip_case{"quoted v6 with obfuscated port",
                "10.0.0.2",
                {"for=\"[2001:db8:cafe::17]:_p1\""},
                "2001:db8:cafe::17"},
        ip_case{"case-insensitive name", "10.0.0.2", {"For=198.51.100.9"}, "198.51.100.9"},
        ip_case{"upper-case name", "10.0.0.2", {"FOR=198.51.100.9"}, "198.51.100.9"},
        ip_case{"other parameters",
                "10.0.0.2",
                {"proto=https;for=198.51.100.9;by=10.0.0.2;host=example.com"},
                "198.51.100.9"},
        ip_case{
            "spaces around pairs", "10.0.0.2", {"proto=https ; for=198.51.100.9"}, "198.51.100.9"},
        ip_case{"multiple elements: rightmost untrusted",
                "10.0.0.2",
                {"for=6.6.6.6, for=198.51.100.9, for=192.168.1.1"},
                "198.51.100.9"},
        ip_case{"multiple elements, all trusted",
                "10.0.0.2",
                {"for=10.5.5.5, for=192.168.1.1"},
                "10.5.5.5"},
        ip_case{"multiple lines",
                "10.0.0.2",
                {"for=6.6.6.6, for=198.51.100.9", "for=10.1.1.1"},
                "198.51.100.9"},
        ip_case{"element without for is skipped",
                "10.0.0.2",
                {"for=198.51.100.9, proto=https;by=10.0.0.2"},
                "198.51.100.9"},
        ip_case{"no for anywhere", "10.0.0.2", {"proto=https"}, "10.0.0.2"},
        ip_case{"quoted comma and semicolon in another value",
                "10.0.0.2",
                {"for=198.51.100.9;host=\"a,b;c\""},
                "198.51.100.9"},
        ip_case{"escaped quote in another value",
                "10.0.0.2",
                {"for=198.51.100.9;ext=\"x\\\",y\""},
                "198.51.100.9"},
        ip_case{"unknown ends the walk", "10.0.0.2", {"for=6.6.6.6, for=unknown"}, "10.0.0.2"},
        ip_case{
            "unknown left of a trusted hop", "10.0.0.2", {"for=unknown, for=10.1.1.1"}, "10.1.1.1"},
        ip_case{"obfuscated identifier ends the walk", "10.0.0.2", {"for=_hidden"}, "10.0.0.2"},
        ip_case{"quoted obfuscated identifier",
                "10.0.0.2",
                {"for=198.51.100.9, for=\"_gazonk\", for=10.1.1.1"},
                "10.1.1.1"},
        ip_case{"empty for", "10.0.0.2", {"for="}, "10.0.0.2"},
        ip_case{"for twice in one element is malformed",
                "10.0.0.2",
                {"for=198.51.100.9;for=6.6.6.6"},
                "10.0.0.2"},
        ip_case{
            "pair without '=' is malformed", "10.0.0.2", {"for=198.51.100.9;secure"}, "10.0.0.2"},
        ip_case{"unterminated quote in the client's part does not hide ours",
                "10.0.0.2",
                {"for=\"6.6.6.6, for=198.51.100.9"},
                "198.51.100.9"},
        ip_case{"unterminated quote reached by the walk",
                "10.0.0.2",
                {"for=\"10.1.1.1, for=10.1.1.2"},
                "10.1.1.2"},
        ip_case{"XFF-style value is not Forwarded", "10.0.0.2", {"198.51.100.9"}, "10.0.0.2"},
        ip_case{"mapped peer, quoted mapped v6",
                "::ffff:10.0.0.2",
                {"for=\"[::ffff:198.51.100.9]:80\""},
                "198.51.100.9"},
        ip_case{"v6 peer", "2001:db8:ffff::1", {"for=\"[2001:db8::9]\""}, "2001:db8::9"}));

class ClientIpRealIp : public testing::TestWithParam<ip_case> {};

TEST_P(ClientIpRealIp, Resolves) {
  const auto& c = GetParam();
  EXPECT_EQ(resolve(c, client_ip_source::x_real_ip), c.want) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    ClientIp, ClientIpRealIp,
    testing::Values(
        ip_case{"untrusted peer spoofs", "203.0.113.7", {"1.2.3.4"}, "203.0.113.7"},
        ip_case{"trusted peer", "10.0.0.2", {"198.51.100.9"}, "198.51.100.9"},
        ip_case{"trusted address is still the client", "10.0.0.2", {"10.1.1.1"}, "10.1.1.1"},
        ip_case{"spaces", "10.0.0.2", {"  198.51.100.9 "}, "198.51.100.9"},
        ip_case{"v6", "10.0.0.2", {"2001:db8::5"}, "2001:db8::5"},
        ip_case{"port", "10.0.0.2", {"[2001:db8::5]:80"}, "2001:db8::5"},
        ip_case{"last line wins", "10.0.0.2", {"6.6.6.6", "198.51.100.9"}, "198.51.100.9"},
        ip_case{"no header", "10.0.0.2", {}, "10.0.0.2"},
        ip_case{"empty", "10.0.0.2", {""}, "10.0.0.2"},
        ip_case{"list is not an address", "10.0.0.2", {"1.2.3.4, 5.6.7.8"}, "10.0.0.2"},
        ip_case{"garbage", "10.0.0.2", {"unknown"}, "10.0.0.2"},
        ip_case{"mapped", "10.0.0.2", {"::ffff:198.51.100.9"}, "198.51.100.9"}));

TEST(ClientIp, NoTrustedProxiesMeansThePeer) {
  std::vector<std::string_view> lines{"1.2.3.4"};
  for (auto source : {client_ip_source::x_forwarded_for, client_ip_source::forwarded,
                      client_ip_source::x_real_ip}) {
    EXPECT_EQ(resolve_client_ip(ip("10.0.0.2"), lines, source, {}).to_string(), "10.0.0.2");
  }
}

TEST(ClientIp, TrustEverythingV4StillStopsAtV6Boundary) {
  // 0.0.0.0/0 covers every IPv4 (mapped included) but no IPv6.
  auto all_v4 = blocks({"0.0.0.0/0"});
  std::vector<std::string_view> lines{"2001:db8::7, 1.1.1.1, 2.2.2.2"};
  EXPECT_EQ(
      resolve_client_ip(ip("::ffff:9.9.9.9"), lines, client_ip_source::x_forwarded_for, all_v4)
          .to_string(),
      "2001:db8::7");
}

TEST(ClientIp, ResultKeepsIpv4MappedFormAsV4) {
  std::vector<std::string_view> lines{"::ffff:198.51.100.9"};
  auto got = resolve_client_ip(ip("10.0.0.2"), lines, client_ip_source::x_forwarded_for, trusted());
  EXPECT_TRUE(got.is_v4());
  EXPECT_EQ(got, ip("198.51.100.9"));
}

TEST(ClientIp, LongHeaderIsHandled) {
  // A client may stuff thousands of entries; the walk still ends at the rightmost
  // untrusted one without touching the rest.
  std::string line;
  for (int i = 0; i < 4000; ++i) line += "6.6.6.6, ";
  line += "198.51.100.9, 10.1.1.1";
  std::vector<std::string_view> lines{line};
  EXPECT_EQ(resolve_client_ip(ip("10.0.0.2"), lines, client_ip_source::x_forwarded_for, trusted())
                .to_string(),
            "198.51.100.9");
  std::string fwd;
  for (int i = 0; i < 4000; ++i) fwd += "for=6.6.6.6,";
  fwd += "for=198.51.100.9";
  lines = {fwd};
  EXPECT_EQ(
      resolve_client_ip(ip("10.0.0.2"), lines, client_ip_source::forwarded, trusted()).to_string(),
      "198.51.100.9");
}

TEST(ClientIp, DoesNotAllocate) {
  const auto peer = ip("10.0.0.2");
  std::vector<std::string_view> xff{"6.6.6.6, 198.51.100.9", "[2001:db8:ffff::1]:80, 10.1.1.1"};
  std::vector<std::string_view> fwd{"for=6.6.6.6, for=\"[2001:db8::9]:4711\";proto=https",
                                    "For=10.1.1.1;by=x"};
  std::vector<std::string_view> real{"198.51.100.9"};
  const auto& t = trusted();
  sluice::test::allocation_scope scope;
  ip_address a, b, c;
  for (int i = 0; i < 100; ++i) {
    a = resolve_client_ip(peer, xff, client_ip_source::x_forwarded_for, t);
    b = resolve_client_ip(peer, fwd, client_ip_source::forwarded, t);
    c = resolve_client_ip(peer, real, client_ip_source::x_real_ip, t);
  }
  EXPECT_EQ(scope.count(), 0u);
  EXPECT_EQ(a, ip("198.51.100.9"));
  EXPECT_EQ(b, ip("2001:db8::9"));
  EXPECT_EQ(c, ip("198.51.100.9"));
}

}  // namespace
