// Config messages never echo secrets: a value that came from ${VAR} is shown as the
// reference written in the file, and URL passwords are masked in every error line
// (reload errors, /admin/stats, --check-config and the log all print these lines).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "config/check_config.hpp"
#include "config/reader.hpp"
#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::errors_of;
using testing::fake_env;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::Not;

std::string at(std::string_view name, std::string_view rest) {
  return fixture("server/" + std::string(name) + ".yaml") + ":" + std::string(rest);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(ConfigSecrets, RedisUrlFromTheEnvironmentIsShownAsItsReference) {
  for (const std::string url :
       {"redis://:hunter2@cache.internal:6379", "redis://admin:hunter2@cache.internal:6379/0",
        "admin:hunter2@cache.internal:6379", "hunter2"}) {
    const auto lines = errors_of("server/redis_url_env.yaml", {{"REDIS_URL", url}});
    EXPECT_THAT(joined(lines), Not(HasSubstr("hunter2"))) << url;
    ASSERT_EQ(lines.size(), 1u) << url;
    EXPECT_THAT(lines[0], HasSubstr("storage.redis.address: invalid address '${REDIS_URL}'"));
  }
  EXPECT_THAT(errors_of("server/redis_url_env.yaml",
                        {{"REDIS_URL", "redis://:hunter2@cache.internal:6379"}}),
              ElementsAre(at("redis_url_env",
                             "4:14: storage.redis.address: invalid address '${REDIS_URL}' (an "
                             "IPv6 address needs brackets, e.g. [::1]:8080)")));
}

TEST(ConfigSecrets, RedisUrlWrittenInTheFileHasItsPasswordMasked) {
  EXPECT_THAT(errors_of("server/redis_url_literal.yaml"),
              ElementsAre(at("redis_url_literal",
                             "4:14: storage.redis.address: invalid address "
                             "'redis://admin:****@cache.internal:6379' (an IPv6 address needs "
                             "brackets, e.g. [::1]:8080)")));
}

TEST(ConfigSecrets, NoErrorEchoesAValueFromTheEnvironment) {
  const std::map<std::string, std::string> env = {{"THREADS", "s3cret-threads"},
                                                  {"DRAIN", "s3cret-drain"},
                                                  {"ON_ERROR", "s3cret-mode"},
                                                  {"REDIS_PASSWORD", "s3cret-pw"}};
  const auto lines = errors_of("server/env_values_echoed.yaml", env);
  EXPECT_THAT(joined(lines), Not(HasSubstr("s3cret")));
  EXPECT_THAT(
      lines,
      ElementsAre(
          at("env_values_echoed", "2:12: server.threads: expected an integer, got '${THREADS}'"),
          at("env_values_echoed",
             "3:18: server.drain_timeout: invalid duration '${DRAIN}' (expected a positive "
             "integer followed by ms, s, m, h or d, e.g. 250ms, 5s, 1m)"),
          at("env_values_echoed",
             "5:13: storage.on_error: unknown value '${ON_ERROR}' (expected one of: local, "
             "allow, deny)"),
          at("env_values_echoed",
             "7:15: storage.redis.database: expected an integer, got 'db-${REDIS_PASSWORD}'")));
}

TEST(ConfigSecrets, CheckConfigOutputHasNoPassword) {
  std::ostringstream out;
  std::ostringstream err;
  const int status = check_config(fixture("server/redis_url_env.yaml"),
                                  fake_env({{"REDIS_URL", "redis://u:hunter2@h:6379"}}), out, err);
  EXPECT_EQ(status, 1);
  EXPECT_THAT(out.str() + err.str(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(err.str(), HasSubstr("'${REDIS_URL}'"));
}

TEST(ConfigSecrets, SubstitutedValuesAreReplacedAsWholeWordsOnly) {
  yaml_node node;
  node.value = "1";
  node.source = "${N}";
  EXPECT_EQ(detail::without_substituted_value(node, "must be between 0 and 15 (got 1)"),
            "must be between 0 and 15 (got ${N})");
  EXPECT_EQ(detail::without_substituted_value(node, "1 and 1, not 11 nor a1"),
            "${N} and ${N}, not 11 nor a1");
  node.value = "redis://:pw@h:1";
  node.source = "${URL}";
  EXPECT_EQ(detail::without_substituted_value(node, "'redis://:pw@h:1' (x)"), "'${URL}' (x)");
  node.source.clear();  // written in the file: shown as is (URL passwords are masked later)
  EXPECT_EQ(detail::without_substituted_value(node, "'redis://:pw@h:1'"), "'redis://:pw@h:1'");
}

}  // namespace
}  // namespace sluice::config
