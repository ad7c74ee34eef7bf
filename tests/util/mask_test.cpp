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

}  // namespace
}  // namespace sluice
