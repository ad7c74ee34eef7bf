#include "util/mask.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Mask, KeepsFourCharactersOfLongValues) {
  EXPECT_EQ(mask_secret("key-demo-pro"), "key-****");
  EXPECT_EQ(mask_secret("12345678"), "****");
  EXPECT_EQ(mask_secret(""), "");
}

TEST(Mask, DistinctMasksTellKeysWithTheSamePrefixApart) {
  const std::string a = mask_secret_distinct("key-alpha-0001");
  const std::string b = mask_secret_distinct("key-alpha-0002");
  EXPECT_EQ(a.substr(0, 9), "key-****#");
  EXPECT_EQ(a.size(), 15u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, mask_secret_distinct("key-alpha-0001")) << "stable for one key";
  EXPECT_EQ(a.find("alpha"), std::string::npos);
}

TEST(MaskCredentials, HidesTheUserinfoPasswordOfUrls) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"redis://:secret@host:6379", "redis://:****@host:6379"},
      {"redis://user:secret@host:6379/0", "redis://user:****@host:6379/0"},
      {"rediss://token-secret@host", "rediss://****@host"},
      {"http://u:p%40ss@h/path?q=a@b", "http://u:****@h/path?q=a@b"},  // '@' in the query
      {"redis://u:p@ss@host", "redis://u:****@host"},                  // '@' in the password
      {"user:secret@host:6379", "user:****@host:6379"},                // no scheme
      {":secret@host:6379", ":****@host:6379"},
      {"storage.redis.address: invalid address 'redis://:secret@h:6379' (an IPv6 address "
       "needs brackets, e.g. [::1]:8080)",
       "storage.redis.address: invalid address 'redis://:****@h:6379' (an IPv6 address "
       "needs brackets, e.g. [::1]:8080)"},
      {"a 'user:pw1@h' and \"redis://x:pw2@h\"", "a 'user:****@h' and \"redis://x:****@h\""},
      {"mail ops@example.com, no url", "mail ops@example.com, no url"},  // not a credential
      {"http://host/a@b", "http://host/a@b"},                            // '@' in a path
      {"no at sign: a:b", "no at sign: a:b"},
      {"", ""},
      {"@", "@"},
      // Found by the fuzzer: looped forever (an authority that ends before a later '@').
      {"a://@?@", "a://@?@"},
      {"x a://u:p@?@b@c", "x a://u:****@?@b@c"},
      // Found by the fuzzer: the masked form masked again lost "x@" (not idempotent).
      {"u:p@x@y", "u:****@y"},
      {"@?://@x, \"a:b@?@\"", "@?://@x, \"a:****@?@\""},
      {"u:****@x@y", "u:****@y"},
  };
  for (const auto& [in, expected] : cases) {
    EXPECT_EQ(mask_credentials(in), expected) << in;
    EXPECT_EQ(mask_credentials(expected), expected) << "idempotent: " << expected;
  }
}

}  // namespace
}  // namespace sluice
