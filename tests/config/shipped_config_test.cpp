// The config.yaml and policies/ shipped at the repository root load cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;

TEST(ConfigShipped, RootConfigAndPoliciesAreValid) {
  const std::string root = SLUICE_SOURCE_DIR;
  auto result = load_config(root + "/config.yaml", testing::fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& server = result.config->server;
  EXPECT_EQ(server.upstream.address.to_string(), "127.0.0.1:8000");
  EXPECT_EQ(server.listen[0].address.to_string(), "0.0.0.0:8080");
  EXPECT_EQ(server.admin.listen[0].to_string(), "127.0.0.1:9901");
  EXPECT_EQ(server.storage.backend, storage_backend::memory);
  EXPECT_EQ(server.admin.token, "");
  const auto& policy = result.config->policy;
  EXPECT_THAT(policy.files, ElementsAre(root + "/policies/default.yaml"));
  std::vector<std::string> limits;
  for (const auto& l : policy.limits) limits.push_back(l.name);
  EXPECT_THAT(limits, ElementsAre("global", "per-ip", "per-client", "ocr-per-key", "login"));
  std::vector<std::string> routes;
  for (const auto& r : policy.routes) routes.push_back(r.name);
  EXPECT_THAT(routes, ElementsAre("health", "login", "ocr-batch", "ocr", "user", "static"));
  EXPECT_EQ(policy.routes[2].cost, 50);
  EXPECT_EQ(policy.default_tier, "free");
  EXPECT_EQ(policy.api_keys.size(), 2u);
}

TEST(ConfigShipped, SecretsComeFromTheEnvironment) {
  const std::string root = SLUICE_SOURCE_DIR;
  auto result =
      load_config(root + "/config.yaml",
                  testing::fake_env({{"SLUICE_ADMIN_TOKEN", "tok"}, {"REDIS_PASSWORD", "pw"}}));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->server.admin.token, "tok");
  EXPECT_EQ(result.config->server.storage.redis.password, "pw");
}

}  // namespace
}  // namespace sluice::config
