// envoyproxy/ratelimit's configuration format (issue 13): its README's nine examples load
// as written; every error is "file:line:col: field: message".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/rls_loader.hpp"
#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;

std::string rls_fixture(std::string_view relative) {
  return std::string(SLUICE_FIXTURES_DIR) + "/rls/" + std::string(relative);
}

// One document read as "rls.yaml": what it configures, and its errors.
rls_config read_document(std::string_view text, std::vector<config_error>& errors) {
  auto parsed = parse_yaml(text, "rls.yaml", testing::fake_env());
  errors = parsed.errors;
  rls_config config;
  if (parsed.root) read_rls_document(*parsed.root, "rls.yaml", errors, config);
  return config;
}

// The error lines of one document.
std::vector<std::string> errors_of(std::string_view text) {
  std::vector<config_error> errors;
  read_document(text, errors);
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(e.to_string());
  return lines;
}

// One document that must be valid (a test failure otherwise).
rls_config valid_document(std::string_view text) {
  std::vector<config_error> errors;
  rls_config config = read_document(text, errors);
  EXPECT_TRUE(errors.empty()) << errors[0].to_string();
  return config;
}

const rls_domain& domain_named(const rls_config& c, std::string_view name) {
  for (const auto& d : c.domains) {
    if (d.domain == name) return d;
  }
  throw std::runtime_error("no domain " + std::string(name));
}

TEST(RlsConfig, LoadsTheReferenceExamplesAsWritten) {
  auto result = load_rls_config(rls_fixture("examples"), testing::fake_env());
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const auto& c = *result.config;
  ASSERT_EQ(c.domains.size(), 9u);              // notes.txt is not a config file
  EXPECT_EQ(c.domains[0].domain, "mongo_cps");  // in file-name order
  EXPECT_EQ(c.domains[8].domain, "example9");

  const auto& messaging = domain_named(c, "messaging");
  ASSERT_EQ(messaging.descriptors.size(), 2u);
  const auto& marketing = messaging.descriptors[0];
  EXPECT_EQ(marketing.key, "message_type");
  EXPECT_EQ(marketing.value, "marketing");
  EXPECT_FALSE(marketing.rate_limit);  // a placeholder level
  ASSERT_EQ(marketing.descriptors.size(), 1u);
  const auto& to_number = marketing.descriptors[0];
  EXPECT_EQ(to_number.full_key, "messaging.message_type_marketing.to_number");
  ASSERT_TRUE(to_number.rate_limit);
  EXPECT_EQ(to_number.rate_limit->requests_per_unit, 5u);
  EXPECT_EQ(to_number.rate_limit->unit, rls_unit::day);
  EXPECT_EQ(to_number.where.line, 7);
  EXPECT_EQ(to_number.where.column, 14);

  const auto& blocked = domain_named(c, "edge_proxy_per_ip").descriptors[1];
  EXPECT_EQ(blocked.full_key, "edge_proxy_per_ip.remote_address_50.0.0.5");
  EXPECT_EQ(blocked.rate_limit->requests_per_unit, 0u);  // blocks every request

  const auto& ldap = domain_named(c, "internal").descriptors[0];
  EXPECT_TRUE(ldap.rate_limit->unlimited);

  const auto& users = domain_named(c, "example6").descriptors[0].descriptors;
  EXPECT_TRUE(users[0].shadow_mode);
  EXPECT_FALSE(users[1].shadow_mode);

  const auto& example7 = domain_named(c, "example7").descriptors;
  EXPECT_EQ(example7[0].descriptors[0].rate_limit->name, "specific_limit");
  EXPECT_THAT(example7[1].descriptors[0].rate_limit->replaces, ElementsAre("specific_limit"));

  EXPECT_TRUE(domain_named(c, "example8").descriptors[0].detailed_metric);
  EXPECT_EQ(domain_named(c, "example9").descriptors[0].value, "value*");
}

TEST(RlsConfig, UnitsAreCaseInsensitiveAndCountedAsTheReferenceCountsThem) {
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n"
                        "  - { key: a, rate_limit: { unit: SECOND, requests_per_unit: 1 } }\n"
                        "  - { key: b, rate_limit: { unit: Week, requests_per_unit: 1 } }\n"),
              ElementsAre());
  EXPECT_EQ(rls_unit_seconds(rls_unit::month), 30 * 86'400);
  EXPECT_EQ(rls_unit_seconds(rls_unit::year), 365 * 86'400);
  EXPECT_EQ(rls_unit_seconds(rls_unit::week), 7 * 86'400);
}

TEST(RlsConfig, ReportsEachMistakeWhereItIs) {
  EXPECT_THAT(errors_of("descriptors: []\n"),
              ElementsAre("rls.yaml:1:1: domain: config file cannot have empty domain"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - value: x\n"),
              ElementsAre("rls.yaml:3:5: descriptors[0].key: descriptor has empty key"));
  EXPECT_THAT(
      errors_of("domain: d\ndescriptors:\n  - key: k\n    value: v\n  - key: k\n    value: v\n"),
      ElementsAre("rls.yaml:5:10: descriptors[1].key: duplicate descriptor composite key "
                  "'d.k_v'"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      unit: fortnight\n      requests_per_unit: 1\n"),
              ElementsAre("rls.yaml:5:13: descriptors[0].rate_limit.unit: invalid rate limit "
                          "unit 'fortnight' (expected second, minute, hour, day, week, month or "
                          "year)"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      requests_per_unit: 1\n"),
              ElementsAre("rls.yaml:5:7: descriptors[0].rate_limit: a rate limit needs a unit "
                          "(second, minute, hour, day, week, month or year) unless it is "
                          "unlimited"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      unlimited: true\n      unit: second\n"),
              ElementsAre("rls.yaml:6:13: descriptors[0].rate_limit.unit: should not specify "
                          "rate limit unit when unlimited"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      unit: second\n      requests_per_unit: -1\n"),
              ::testing::ElementsAre(::testing::StartsWith(
                  "rls.yaml:6:26: descriptors[0].rate_limit.requests_per_unit: ")));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      unit: second\n      name: n\n      replaces: [ { name: n } ]\n"),
              ElementsAre("rls.yaml:7:27: descriptors[0].rate_limit.replaces[0].name: replaces "
                          "should not contain name of same descriptor"));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n"
                        "      unit: second\n      replaces: [ {} ]\n"),
              ElementsAre("rls.yaml:6:19: descriptors[0].rate_limit.replaces[0].name: should "
                          "not have an empty replaces entry"));
}

TEST(RlsConfig, TheSluiceExtensionPicksAnAlgorithmAndABurstCheckedLikeAPolicysLimit) {
  const rls_config config = valid_document(
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n"
      "      requests_per_unit: 10\n      sluice: { algorithm: token_bucket, burst: 25 }\n");
  ASSERT_EQ(config.domains.size(), 1u);
  const auto& limit = *config.domains.at(0).descriptors.at(0).rate_limit;
  EXPECT_EQ(limit.algorithm, limit::algorithm::token_bucket);
  EXPECT_EQ(limit.burst, 25);

  const std::string head = "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n";
  EXPECT_THAT(errors_of(head + "      unit: second\n      requests_per_unit: 1\n"
                               "      sluice: { algorithm: gcra }\n"),
              ElementsAre("rls.yaml:7:28: descriptors[0].rate_limit.sluice.algorithm: unknown "
                          "algorithm 'gcra' (expected one of: token_bucket, leaky_bucket, "
                          "fixed_window, sliding_window, sliding_log)"));
  EXPECT_THAT(errors_of(head + "      unit: second\n      requests_per_unit: 1\n"
                               "      sluice: { burst: 5 }\n"),
              ElementsAre("rls.yaml:7:24: descriptors[0].rate_limit.sluice.burst: burst applies "
                          "only to token_bucket and leaky_bucket (this limit is fixed_window)"));
  EXPECT_THAT(errors_of(head + "      unit: second\n      requests_per_unit: 0\n"
                               "      sluice: { algorithm: sliding_window }\n"),
              ElementsAre("rls.yaml:7:15: descriptors[0].rate_limit.sluice: sliding_window needs "
                          "requests_per_unit >= 1 (only the reference's fixed window takes 0: "
                          "deny every hit)"));
  EXPECT_THAT(
      errors_of(head + "      unlimited: true\n      sluice: { algorithm: token_bucket }\n"),
      ElementsAre("rls.yaml:6:15: descriptors[0].rate_limit.sluice: an unlimited rate "
                  "limit takes no algorithm or burst"));
  EXPECT_THAT(errors_of(head + "      unit: second\n      requests_per_unit: 20000\n"
                               "      sluice: { algorithm: sliding_log }\n"),
              ElementsAre(::testing::StartsWith(
                  "rls.yaml:7:15: descriptors[0].rate_limit.sluice: sliding_log keeps one "
                  "timestamp per admitted request")));
  EXPECT_THAT(errors_of(head + "      unit: second\n      requests_per_unit: 1\n"
                               "      sluice: { algorithm: token_bucket, shape: 1 }\n"),
              ElementsAre("rls.yaml:7:42: descriptors[0].rate_limit.sluice: unknown key 'shape' "
                          "(expected one of: algorithm, burst, calendar)"));
}

// Issue 14's calendar quotas through the extension: a day, week or month unit counted
// over calendar periods of a zone (config/calendar.hpp), fixed window only.
TEST(RlsConfig, TheSluiceExtensionCountsCalendarPeriods) {
  const rls_config config = valid_document(
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: month\n"
      "      requests_per_unit: 1000\n"
      "      sluice: { calendar: { time_zone: Europe/Berlin, anchor_day: 15 } }\n");
  ASSERT_EQ(config.domains.size(), 1u);
  const auto& limit = *config.domains.at(0).descriptors.at(0).rate_limit;
  ASSERT_TRUE(limit.calendar);
  EXPECT_EQ(limit.calendar->time_zone, "Europe/Berlin");
  EXPECT_EQ(limit.calendar->anchor_day, 15);

  const std::string head = "domain: d\ndescriptors:\n  - key: k\n    rate_limit:\n";
  EXPECT_THAT(errors_of(head + "      unit: hour\n      requests_per_unit: 1\n"
                               "      sluice: { calendar: { time_zone: UTC } }\n"),
              ElementsAre("rls.yaml:7:27: descriptors[0].rate_limit.sluice.calendar: calendar "
                          "counts a quota per calendar day, week or month: it needs unit day, "
                          "week or month and the fixed window (this limit is hour, fixed_window)"));
  EXPECT_THAT(errors_of(head + "      unit: day\n      requests_per_unit: 1\n"
                               "      sluice: { algorithm: token_bucket, calendar: {} }\n"),
              ElementsAre(::testing::HasSubstr("(this limit is day, token_bucket)")));
  EXPECT_THAT(errors_of(head + "      unit: week\n      requests_per_unit: 1\n"
                               "      sluice: { calendar: { anchor_day: 9 } }\n"),
              ElementsAre(::testing::HasSubstr("anchor_day is the weekday a week starts")));
  EXPECT_THAT(errors_of(head + "      unit: month\n      requests_per_unit: 1\n"
                               "      sluice: { calendar: { time_zone: Mars/Olympus } }\n"),
              ElementsAre(::testing::HasSubstr("unknown time zone 'Mars/Olympus'")));
}

TEST(RlsConfig, KeysAreCheckedPerLevel) {
  // The reference accepts any of its keys at any level; a `unit` beside `key` is a
  // rate_limit indented wrongly, and says so here.
  EXPECT_THAT(
      errors_of("domain: d\ndescriptors:\n  - key: k\n    unit: second\n"),
      ElementsAre(::testing::StartsWith("rls.yaml:4:5: descriptors[0]: unknown key 'unit'")));
  EXPECT_THAT(errors_of("domain: d\nrate_limit: {}\n"),
              ElementsAre(::testing::AllOf(::testing::StartsWith("rls.yaml:2:1: "),
                                           ::testing::HasSubstr("unknown key 'rate_limit'"))));
  EXPECT_THAT(errors_of("domain: d\ndescriptors:\n  - key: k\n    shadow_mode: maybe\n"),
              ElementsAre(::testing::StartsWith("rls.yaml:4:18: descriptors[0].shadow_mode: ")));
}

TEST(RlsConfig, NestingIsBounded) {
  std::string text = "domain: d\ndescriptors:\n";
  std::string indent = "  ";
  for (int level = 0; level < 20; ++level) {
    text += indent + "- key: k" + std::to_string(level) + "\n";
    text += indent + "  descriptors:\n";
    indent += "    ";
  }
  text += indent + "- key: leaf\n";
  const auto errors = errors_of(text);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::HasSubstr("descriptors nested deeper than 16 levels"));
}

TEST(RlsConfig, DirectoryLevelErrors) {
  auto duplicate = load_rls_config(rls_fixture("duplicate_domain"), testing::fake_env());
  ASSERT_FALSE(duplicate.ok());
  ASSERT_EQ(duplicate.errors.size(), 1u);
  EXPECT_EQ(duplicate.errors[0].to_string(), rls_fixture("duplicate_domain/b.yml") +
                                                 ":1:9: domain: duplicate domain 'shop' (also in " +
                                                 rls_fixture("duplicate_domain/a.yaml") + ")");

  auto missing = load_rls_config(rls_fixture("no_such_dir"), testing::fake_env());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.errors[0].message, ::testing::HasSubstr("not a directory"));
}

}  // namespace
}  // namespace sluice::config
