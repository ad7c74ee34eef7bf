#include "util/ip_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using sluice::cidr;
using sluice::ip_address;

namespace {

ip_address ip(std::string_view text) {
  auto a = ip_address::parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(ip_address{});
}

cidr block(std::string_view text) {
  auto c = cidr::parse(text);
  EXPECT_TRUE(c) << text;
  return c.value_or(cidr{});
}

// ---- parse and to_string ----

struct text_case {
  std::string_view in;
  std::string_view canonical;
  bool v4;
};

class IpAddressParse : public testing::TestWithParam<text_case> {};

TEST_P(IpAddressParse, ParsesToCanonicalText) {
  const auto& c = GetParam();
  auto a = ip_address::parse(c.in);
  ASSERT_TRUE(a) << c.in;
  EXPECT_EQ(a->to_string(), c.canonical) << c.in;
  EXPECT_EQ(a->is_v4(), c.v4) << c.in;
  // The canonical text parses back to the same address.
  EXPECT_EQ(ip_address::parse(c.canonical), a) << c.in;
}

INSTANTIATE_TEST_SUITE_P(
    IpAddress, IpAddressParse,
    testing::Values(
        // IPv4.
        text_case{"0.0.0.0", "0.0.0.0", true}, text_case{"1.2.3.4", "1.2.3.4", true},
        text_case{"255.255.255.255", "255.255.255.255", true},
        text_case{"10.0.0.1", "10.0.0.1", true},
        // IPv4-mapped IPv6 is IPv4.
        text_case{"::ffff:1.2.3.4", "1.2.3.4", true}, text_case{"::FFFF:1.2.3.4", "1.2.3.4", true},
        text_case{"::ffff:0102:0304", "1.2.3.4", true},
        text_case{"0:0:0:0:0:ffff:10.0.0.1", "10.0.0.1", true},
        text_case{"::ffff:0.0.0.0", "0.0.0.0", true},
        // IPv6, RFC 5952 output: lower case, no leading zeros, longest zero run (first on
        // a tie) as "::", never "::" for a single zero word, no mixed notation.
        text_case{"::", "::", false}, text_case{"::1", "::1", false},
        text_case{"0:0:0:0:0:0:0:0", "::", false}, text_case{"1::", "1::", false},
        text_case{"2001:db8::1", "2001:db8::1", false},
        text_case{"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1", false},
        text_case{"2001:DB8::A:b", "2001:db8::a:b", false},
        text_case{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", false},
        text_case{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", false},
        text_case{"1:0:0:2:0:0:0:3", "1:0:0:2::3", false},
        text_case{"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0", false},
        text_case{"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0", false},
        text_case{"1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0", false},
        text_case{"0:2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", false},
        text_case{"1:2:3:4:5:6::", "1:2:3:4:5:6::", false},
        text_case{"::2:3", "::2:3", false},          // glibc inet_ntop says "::0.2.0.3"
        text_case{"::1.2.3.4", "::102:304", false},  // deprecated IPv4-compatible
        text_case{"::ffff:0:1.2.3.4", "::ffff:0:102:304", false},
        text_case{"64:ff9b::1.2.3.4", "64:ff9b::102:304", false},
        text_case{"fe80::1", "fe80::1", false},
        text_case{"ff02::1:ff00:1", "ff02::1:ff00:1", false},
        text_case{"abcd:ef01:2345:6789:abcd:ef01:2345:6789",
                  "abcd:ef01:2345:6789:abcd:ef01:2345:6789", false},
        text_case{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false},
        text_case{"0:0:0:0:0:fffe:1.2.3.4", "::fffe:102:304", false}));

class IpAddressInvalid : public testing::TestWithParam<std::string_view> {};

TEST_P(IpAddressInvalid, Rejects) {
  EXPECT_FALSE(ip_address::parse(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    IpAddress, IpAddressInvalid,
    testing::Values("", " ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "01.2.3.4", "1.2.3.-1",
                    "1.2.3.4.", ".1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/8", "1.2.3.4:80",
                    "0x1.2.3.4", "1e2.0.0.1", "localhost", "::1%eth0", "fe80::1%1",
                    "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":::", "1::2::3", "g::1",
                    "12345::", "[::1]", "::ffff:1.2.3.256", "::ffff:1.2.3",
                    ":1::", "1::2:", "0000:0000:0000:0000:0000:0000:0000:0000:0",
                    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.1",
                    std::string_view("1.2.3.4\0junk", 12), std::string_view("::1\0", 4)));

TEST(IpAddress, LongestValidTextParses) {
  // 45 characters, the longest IPv6 text form.
  EXPECT_EQ(ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").to_string(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  EXPECT_FALSE(ip_address::parse(std::string(200, '1')));
}

TEST(IpAddress, FromV4AndV6) {
  EXPECT_EQ(ip_address::from_v4(0x01020304), ip("1.2.3.4"));
  EXPECT_EQ(ip_address::from_v4(0), ip("0.0.0.0"));
  EXPECT_EQ(ip_address::from_v4(0xffffffff), ip("255.255.255.255"));
  EXPECT_TRUE(ip_address::from_v4(0x7f000001).is_v4());

  std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
  b[15] = 1;
  EXPECT_EQ(ip_address::from_v6(b), ip("2001:db8::1"));
  EXPECT_EQ(ip_address::from_v6(b).bytes(), b);
  std::array<std::uint8_t, 16> mapped{};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 10;
  EXPECT_TRUE(ip_address::from_v6(mapped).is_v4());
  EXPECT_EQ(ip_address::from_v6(mapped), ip("10.0.0.0"));
}

TEST(IpAddress, DefaultIsTheUnspecifiedIpv6Address) {
  EXPECT_FALSE(ip_address{}.is_v4());
  EXPECT_EQ(ip_address{}.to_string(), "::");
}

TEST(IpAddress, RandomAddressesRoundTripThroughText) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::array<std::uint8_t, 16> b{};
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    // Make zero runs and mapped addresses common.
    const auto shape = rng() % 4;
    if (shape == 1) {
      const auto start = rng() % 8, len = rng() % 8;
      for (auto w = start; w < std::min<std::uint64_t>(8, start + len); ++w)
        b[2 * w] = b[2 * w + 1] = 0;
    } else if (shape == 2) {
      for (int j = 0; j < 10; ++j) b[j] = 0;
      b[10] = b[11] = 0xff;
    }
    const auto a = ip_address::from_v6(b);
    const auto text = a.to_string();
    auto back = ip_address::parse(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, a) << text;
    EXPECT_EQ(text.find("::"), text.rfind("::")) << text;
    // Where glibc does not switch to mixed notation (96 leading zero bits, or ::ffff:0:0/96
    // which is IPv4 here), its RFC 5952 output must agree with ours.
    const bool glibc_mixed = std::all_of(b.begin(), b.begin() + 10, [](auto x) { return x == 0; });
    if (!glibc_mixed) {
      char buf[INET6_ADDRSTRLEN];
      ASSERT_NE(inet_ntop(AF_INET6, b.data(), buf, sizeof(buf)), nullptr);
      EXPECT_EQ(text, buf);
    }
  }
}

// The IPv4 text is formatted by hand: it must agree with inet_ntop for every octet
// value in every position.
TEST(IpAddress, V4TextMatchesInetNtop) {
  for (std::uint32_t octet = 0; octet < 256; ++octet) {
    for (int position = 0; position < 4; ++position) {
      const std::uint32_t other = (octet * 37 + 11) & 0xff;
      std::uint32_t host = 0;
      for (int k = 0; k < 4; ++k) host = host << 8 | (k == position ? octet : other);
      const std::uint32_t net = htonl(host);
      char buf[INET_ADDRSTRLEN];
      ASSERT_NE(inet_ntop(AF_INET, &net, buf, sizeof(buf)), nullptr);
      EXPECT_EQ(ip_address::from_v4(host).to_string(), buf);
    }
  }
}

// ---- masked ----

struct mask_case {
  std::string_view in;
  int bits;
  std::string_view want;
};

class IpAddressMasked : public testing::TestWithParam<mask_case> {};

TEST_P(IpAddressMasked, ClearsHostBits) {
  const auto& c = GetParam();
  const auto got = ip(c.in).masked(c.bits);
  EXPECT_EQ(got.to_string(), c.want) << c.in << "/" << c.bits;
  EXPECT_EQ(got.is_v4(), ip(c.in).is_v4()) << "family kept for " << c.in << "/" << c.bits;
}

INSTANTIATE_TEST_SUITE_P(
    IpAddress, IpAddressMasked,
    testing::Values(mask_case{"1.2.3.4", 32, "1.2.3.4"}, mask_case{"1.2.3.4", 24, "1.2.3.0"},
                    mask_case{"1.2.3.4", 16, "1.2.0.0"}, mask_case{"1.2.3.4", 8, "1.0.0.0"},
                    mask_case{"1.2.3.4", 0, "0.0.0.0"},
                    mask_case{"172.31.255.255", 12, "172.16.0.0"},
                    mask_case{"255.255.255.255", 31, "255.255.255.254"},
                    mask_case{"255.255.255.255", 1, "128.0.0.0"},
                    mask_case{"1.2.3.4", 33, "1.2.3.4"},   // clamped to 32
                    mask_case{"1.2.3.4", 128, "1.2.3.4"},  // clamped to 32
                    mask_case{"1.2.3.4", -1, "0.0.0.0"},   // clamped to 0, still IPv4
                    mask_case{"1.2.3.4", -100, "0.0.0.0"},
                    mask_case{"::ffff:1.2.3.4", 24, "1.2.3.0"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::"},
                    mask_case{"2001:db8:1:2:ffff:4:5:6", 65, "2001:db8:1:2:8000::"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 32, "2001:db8::"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 0, "::"},
                    mask_case{"2001:db8:1:2:3:4:5:6", 129, "2001:db8:1:2:3:4:5:6"},
                    mask_case{"2001:db8:1:2:3:4:5:6", -3, "::"},
                    mask_case{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 127,
                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"},
                    mask_case{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 7, "fe00::"}));

// ---- cidr ----

struct cidr_case {
  std::string_view text;
  std::string_view canonical;
  std::vector<std::string_view> inside;
  std::vector<std::string_view> outside;
};

class CidrContains : public testing::TestWithParam<cidr_case> {};

TEST_P(CidrContains, ParsesAndContains) {
  const auto& c = GetParam();
  auto b = cidr::parse(c.text);
  ASSERT_TRUE(b) << c.text;
  EXPECT_EQ(b->to_string(), c.canonical) << c.text;
  EXPECT_EQ(cidr::parse(c.canonical), b) << c.text;
  for (auto a : c.inside) EXPECT_TRUE(b->contains(ip(a))) << c.text << " should contain " << a;
  for (auto a : c.outside)
    EXPECT_FALSE(b->contains(ip(a))) << c.text << " should not contain " << a;
}

INSTANTIATE_TEST_SUITE_P(
    Cidr, CidrContains,
    testing::Values(cidr_case{"10.0.0.0/8",
                              "10.0.0.0/8",
                              {"10.0.0.0", "10.1.2.3", "10.255.255.255", "::ffff:10.9.9.9"},
                              {"11.0.0.0", "9.255.255.255", "::a00:1", "::ffff:11.0.0.1"}},
                    cidr_case{
                        "192.168.1.0/24", "192.168.1.0/24", {"192.168.1.77"}, {"192.168.2.1"}},
                    cidr_case{"172.16.0.0/12",
                              "172.16.0.0/12",
                              {"172.16.0.1", "172.31.255.255"},
                              {"172.32.0.0", "172.15.255.255"}},
                    // Host bits are cleared.
                    cidr_case{"10.1.2.3/8", "10.0.0.0/8", {"10.200.0.1"}, {"11.1.2.3"}},
                    // A bare address is a /32 or /128.
                    cidr_case{"1.2.3.4", "1.2.3.4/32", {"1.2.3.4", "::ffff:1.2.3.4"}, {"1.2.3.5"}},
                    cidr_case{"1.2.3.4/32", "1.2.3.4/32", {"1.2.3.4"}, {"1.2.3.5"}},
                    cidr_case{"::1", "::1/128", {"::1"}, {"::2", "0.0.0.1"}},
                    cidr_case{"255.255.255.254/31",
                              "255.255.255.254/31",
                              {"255.255.255.254", "255.255.255.255"},
                              {"255.255.255.253"}},
                    // /0 covers its own family only.
                    cidr_case{"0.0.0.0/0",
                              "0.0.0.0/0",
                              {"0.0.0.0", "1.2.3.4", "255.255.255.255", "::ffff:8.8.8.8"},
                              {"::", "::1", "2001:db8::1"}},
                    cidr_case{"::/0",
                              "::/0",
                              {"::", "::1", "2001:db8::1", "ffff::", "::1.2.3.4"},
                              {"1.2.3.4", "::ffff:1.2.3.4"}},
                    cidr_case{"2001:db8::/32",
                              "2001:db8::/32",
                              {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
                              {"2001:db9::", "2001:db7:ffff::1"}},
                    cidr_case{"2001:db8:1:2:3:4:5:6/64",
                              "2001:db8:1:2::/64",
                              {"2001:db8:1:2::9"},
                              {"2001:db8:1:3::"}},
                    cidr_case{"fe80::/10", "fe80::/10", {"fe80::1", "febf::1"}, {"fec0::1"}},
                    // IPv4-mapped blocks are the IPv4 blocks they map.
                    cidr_case{"::ffff:10.0.0.0/104", "10.0.0.0/8", {"10.3.3.3"}, {"11.0.0.0"}},
                    cidr_case{"::ffff:0:0/96", "0.0.0.0/0", {"1.2.3.4"}, {"::1"}},
                    cidr_case{"::ffff:1.2.3.4", "1.2.3.4/32", {"1.2.3.4"}, {"1.2.3.5"}},
                    cidr_case{"::ffff:1.2.3.4/128", "1.2.3.4/32", {"1.2.3.4"}, {"1.2.3.5"}}));

class CidrInvalid : public testing::TestWithParam<std::string_view> {};

TEST_P(CidrInvalid, Rejects) {
  EXPECT_FALSE(cidr::parse(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Cidr, CidrInvalid,
                         testing::Values("", "/", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
                                         "10.0.0.0/-0", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ",
                                         " 10.0.0.0/8", "10.0.0.0/8/8", "10.0.0.0//8", "10.0.0.0/a",
                                         "10.0.0.0/8a", "10.0.0.0/0x8",
                                         "10.0.0.0/99999999999999999999", "10.0.0/8", "::/129",
                                         "::/-0", "::/1000", "::ffff:10.0.0.0/95", "::ffff:0:0/0",
                                         "2001:db8::/3 2", "localhost/8", "[::1]/128",
                                         "::1%eth0/128"));

TEST(Cidr, DefaultIsTheWholeIpv6Space) {
  // A default-constructed block is ::/0; config code must never use it as a placeholder.
  cidr c;
  EXPECT_EQ(c.to_string(), "::/0");
  EXPECT_TRUE(c.contains(ip("2001:db8::1")));
  EXPECT_FALSE(c.contains(ip("1.2.3.4")));
}

TEST(Cidr, EqualityIgnoresHostBitsAndSpelling) {
  EXPECT_EQ(block("10.1.2.3/8"), block("10.0.0.0/8"));
  EXPECT_EQ(block("::ffff:10.0.0.0/104"), block("10.0.0.0/8"));
  EXPECT_NE(block("10.0.0.0/8"), block("10.0.0.0/9"));
  EXPECT_NE(block("0.0.0.0/0"), block("::/0"));
}

TEST(Cidr, ContainsAnyIsTrueWhenOneBlockContains) {
  const std::vector<cidr> blocks = {block("10.0.0.0/8"), block("::1/128")};
  EXPECT_TRUE(contains_any(blocks, ip("10.9.8.7")));
  EXPECT_TRUE(contains_any(blocks, ip("::1")));
  EXPECT_FALSE(contains_any(blocks, ip("127.0.0.1")));
  EXPECT_FALSE(contains_any({}, ip("127.0.0.1")));
}

}  // namespace
