#include "util/hash.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using sluice::hash64;
using sluice::hash_combine;

namespace {

constexpr std::uint64_t seed_a = 0x0123456789abcdefull;
constexpr std::uint64_t seed_b = 0xfedcba9876543210ull;

// Keys of every tail-path length (0..3, 4..7, 8..16) and of several 16-byte blocks.
std::vector<std::string> sample_keys() {
  std::vector<std::string> keys;
  for (std::size_t n = 0; n <= 70; ++n) {
    std::string k;
    for (std::size_t i = 0; i < n; ++i) k += static_cast<char>('a' + (i * 7 + n) % 26);
    keys.push_back(k);
  }
  return keys;
}

TEST(Hash, IsDeterministic) {
  for (const auto& k : sample_keys()) {
    const std::string copy = k;  // a different buffer with the same bytes
    EXPECT_EQ(hash64(k, seed_a), hash64(copy, seed_a)) << k;
    EXPECT_EQ(hash64(k, seed_a), hash64(k, seed_a)) << k;
  }
}

TEST(Hash, DoesNotDependOnAlignment) {
  const std::string base = "xuser:1234567890-abcdefghijklmnopqrstuvwxyz";
  for (std::size_t off = 0; off < 8; ++off) {
    std::string buf(off, '#');
    buf += base;
    EXPECT_EQ(hash64(std::string_view(buf).substr(off), seed_a), hash64(base, seed_a)) << off;
  }
}

TEST(Hash, SeedChangesEveryOutput) {
  for (const auto& k : sample_keys()) {
    EXPECT_NE(hash64(k, seed_a), hash64(k, seed_b)) << k;
    EXPECT_NE(hash64(k, 0), hash64(k, 1)) << k;
  }
}

TEST(Hash, LengthMatters) {
  // Zero bytes of different lengths must not collide (the tail reads pad with zeros).
  std::vector<std::uint64_t> hashes;
  for (std::size_t n = 0; n <= 64; ++n) hashes.push_back(hash64(std::string(n, '\0'), seed_a));
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::adjacent_find(hashes.begin(), hashes.end()), hashes.end());
}

TEST(Hash, EveryByteMatters) {
  // Flipping any single bit of any byte of keys of every length changes the hash.
  for (const auto& k : sample_keys()) {
    const auto h = hash64(k, seed_a);
    for (std::size_t i = 0; i < k.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string m = k;
        m[i] = static_cast<char>(m[i] ^ (1 << bit));
        EXPECT_NE(hash64(m, seed_a), h) << k << " byte " << i << " bit " << bit;
      }
    }
  }
}

TEST(Hash, Avalanche) {
  // On average a one-bit input change flips about half of the 64 output bits.
  std::uint64_t flipped = 0, trials = 0;
  for (const auto& k : sample_keys()) {
    const auto h = hash64(k, seed_a);
    for (std::size_t i = 0; i < k.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string m = k;
        m[i] = static_cast<char>(m[i] ^ (1 << bit));
        flipped += std::popcount(hash64(m, seed_a) ^ h);
        ++trials;
      }
    }
  }
  const double mean = static_cast<double>(flipped) / static_cast<double>(trials);
  EXPECT_GT(mean, 30.0);
  EXPECT_LT(mean, 34.0);
}

TEST(Hash, NoCollisionsAmongAMillionDistinctKeys) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(1'000'000);
  std::string key;
  for (int i = 0; i < 1'000'000; ++i) {
    // Mix short and long shapes, like ip/api_key/user/route composites.
    key = (i % 3 == 0) ? "ip:10." : (i % 3 == 1) ? "api_key:key-" : "per-client|user:acme-user-";
    key += std::to_string(i);
    hashes.push_back(hash64(key, seed_a));
  }
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::adjacent_find(hashes.begin(), hashes.end()), hashes.end());
}

// Pearson chi-square of `n` counts against a uniform expectation.
double chi_square(const std::vector<std::uint64_t>& counts, std::uint64_t total) {
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double chi = 0;
  for (auto c : counts) {
    const double d = static_cast<double>(c) - expected;
    chi += d * d / expected;
  }
  return chi;
}

TEST(Hash, BucketsAreRoughlyUniform) {
  // 1M sequential keys into 1024 buckets, using the low bits (what a shard index or
  // power-of-two table uses) and the high bits. With 1023 degrees of freedom the
  // statistic is 1023 +- 45; 1350 is over 7 standard deviations out.
  constexpr std::uint64_t n = 1'000'000, buckets = 1024;
  std::vector<std::uint64_t> low(buckets), high(buckets);
  std::string key;
  for (std::uint64_t i = 0; i < n; ++i) {
    key = "user:" + std::to_string(i);
    const auto h = hash64(key, seed_b);
    ++low[h & (buckets - 1)];
    ++high[h >> 54];
  }
  EXPECT_LT(chi_square(low, n), 1350.0);
  EXPECT_LT(chi_square(high, n), 1350.0);
  const auto [min_it, max_it] = std::minmax_element(low.begin(), low.end());
  EXPECT_GT(*min_it, n / buckets * 8 / 10);
  EXPECT_LT(*max_it, n / buckets * 12 / 10);
}

TEST(Hash, NoSeedIndependentCollisions) {
  // Regression: input words were xored with a public constant before multiplying, so
  // a key holding that constant zeroed a product and erased the seed: such keys
  // collided for every seed (and a 9-byte one hashed to 0).
  std::string p1(8, '\0');
  std::memcpy(p1.data(), &sluice::hash_detail::p1, 8);
  const std::string long_a = p1 + "AAAAAAAA" + "tailtail";
  const std::string long_b = p1 + "BBBBBBBB" + "tailtail";
  const std::string short_a = p1 + "x";
  const std::string short_b = p1 + "y";
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{1}, seed_a, seed_b}) {
    EXPECT_NE(hash64(long_a, seed), hash64(long_b, seed)) << seed;
    EXPECT_NE(hash64(short_a, seed), hash64(short_b, seed)) << seed;
    EXPECT_NE(hash64(short_a, seed), 0u) << seed;
  }
  EXPECT_NE(hash64(long_a, seed_a), hash64(long_a, seed_b));
}

TEST(Hash, CombineIsDeterministicAndOrdered) {
  const auto a = hash64("limit:per-ip", seed_a);
  const auto b = hash64("ip:10.0.0.1", seed_a);
  EXPECT_EQ(hash_combine(a, b), hash_combine(a, b));
  EXPECT_NE(hash_combine(a, b), hash_combine(b, a));
  EXPECT_NE(hash_combine(a, b), hash_combine(a, b + 1));
  EXPECT_NE(hash_combine(a, b), hash_combine(a + 1, b));
}

}  // namespace
