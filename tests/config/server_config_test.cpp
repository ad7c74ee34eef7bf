// config.yaml (SPEC 2): defaults, every key, and one fixture per error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/defaults.hpp"
#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::errors_of;
using testing::fake_env;
using testing::fixture;

// The expected line for an error in server fixture `name`.
const auto at = &testing::server_error_at;

std::vector<std::string> server_errors(std::string_view name,
                                       std::map<std::string, std::string> env = {}) {
  return errors_of("server/" + std::string(name) + ".yaml", std::move(env));
}

TEST(ConfigServer, EmptyFileTakesEveryDefault) {
  auto result = load_config(fixture("server/empty.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const server_config& c = result.config->server;
  EXPECT_EQ(c.file, fixture("server/empty.yaml"));
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].address.to_string(), defaults::listen);
  EXPECT_FALSE(c.listen[0].tls);
  EXPECT_EQ(c.upstream.url, defaults::upstream_url);
  EXPECT_EQ(c.upstream.address.to_string(), "127.0.0.1:8000");
  EXPECT_EQ(c.upstream.connect_timeout, defaults::upstream_connect_timeout);
  EXPECT_EQ(c.upstream.timeout, defaults::upstream_timeout);
  EXPECT_EQ(c.upstream.max_idle_connections, defaults::upstream_max_idle_connections);
  EXPECT_EQ(c.upstream.breaker_failures, defaults::circuit_breaker_failures);
  EXPECT_EQ(c.upstream.breaker_cooldown, defaults::circuit_breaker_cooldown);
  EXPECT_EQ(c.server.threads, defaults::server_threads);
  EXPECT_EQ(c.server.header_timeout, defaults::header_timeout);
  EXPECT_EQ(c.server.idle_timeout, defaults::idle_timeout);
  EXPECT_EQ(c.server.max_header_bytes, defaults::max_header_bytes);
  EXPECT_EQ(c.server.max_body_bytes, defaults::max_body_bytes);
  EXPECT_EQ(c.server.drain_timeout, defaults::drain_timeout);
  EXPECT_EQ(c.server.access_log, defaults::access_log);
  EXPECT_EQ(c.server.max_connections, defaults::max_connections);
  ASSERT_EQ(c.admin.listen.size(), 1u);
  EXPECT_EQ(c.admin.listen[0].to_string(), defaults::admin_listen);
  EXPECT_EQ(c.admin.token, "");
  ASSERT_EQ(c.admin.allow.size(), 2u);
  EXPECT_EQ(c.admin.allow[0].to_string(), "127.0.0.0/8");
  EXPECT_EQ(c.admin.allow[1].to_string(), "::1/128");
  EXPECT_EQ(c.admin.check_limit, "");
  EXPECT_TRUE(c.identity.trusted_proxies.empty());
  EXPECT_EQ(c.identity.client_ip_header, client_ip_source::x_forwarded_for);
  EXPECT_EQ(c.identity.ipv6_prefix, defaults::ipv6_prefix);
  EXPECT_EQ(c.identity.api_key_header, defaults::api_key_header);
  EXPECT_EQ(c.identity.api_key_query, defaults::api_key_query);
  EXPECT_EQ(c.identity.user_header, defaults::user_header);
  EXPECT_TRUE(c.identity.user_trusted_only);
  EXPECT_EQ(c.identity.tier_header, defaults::tier_header);
  EXPECT_TRUE(c.headers.legacy);
  EXPECT_EQ(c.headers.legacy_reset, legacy_reset_format::epoch);
  EXPECT_EQ(c.headers.standard, standard_headers::draft6);
  EXPECT_TRUE(c.headers.retry_after);
  EXPECT_EQ(c.storage.backend, storage_backend::memory);
  EXPECT_EQ(c.storage.max_keys, defaults::max_keys);
  EXPECT_EQ(c.storage.redis.mode, redis_mode::single);
  ASSERT_EQ(c.storage.redis.addresses.size(), 1u);
  EXPECT_EQ(c.storage.redis.addresses[0].to_string(), defaults::redis_address);
  EXPECT_EQ(c.storage.redis.sentinel.master, "");
  EXPECT_EQ(c.storage.redis.sentinel.password, "");
  EXPECT_EQ(c.storage.redis.password, "");
  EXPECT_EQ(c.storage.redis.database, 0);
  EXPECT_EQ(c.storage.redis.timeout, defaults::redis_timeout);
  EXPECT_EQ(c.storage.redis.connections, defaults::redis_connections);
  EXPECT_EQ(c.storage.redis.key_prefix, defaults::redis_key_prefix);
  EXPECT_EQ(c.storage.redis.local_denials, defaults::redis_local_denials);
  EXPECT_EQ(c.storage.on_error, storage_error_mode::local);
  EXPECT_EQ(c.policies, fixture("server/policies/"));
  EXPECT_TRUE(c.reload_watch);
  EXPECT_EQ(result.config->policy.files,
            std::vector<std::string>{fixture("server/policies/minimal.yaml")});
}

TEST(ConfigServer, ReadsEveryKeyWithEnvironmentSubstitution) {
  auto result = load_config(
      fixture("server/full.yaml"),
      fake_env({{"ADMIN_TOKEN", "s3cret"}, {"PREFIX", "gw1:"}, {"SENTINEL_PASSWORD", "watch"}}));
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const server_config& c = result.config->server;
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].address.to_string(), "127.0.0.1:8081");
  EXPECT_EQ(c.listen[1].address.host, "::1");
  EXPECT_EQ(c.listen[1].address.port, 8082);
  EXPECT_EQ(c.upstream.url, "http://backend.internal:9000/");
  EXPECT_EQ(c.upstream.address.host, "backend.internal");
  EXPECT_EQ(c.upstream.address.port, 9000);
  EXPECT_EQ(c.upstream.connect_timeout, 250ms);
  EXPECT_EQ(c.upstream.timeout, 1min);
  EXPECT_EQ(c.upstream.max_idle_connections, 8);
  EXPECT_EQ(c.upstream.breaker_failures, 3);
  EXPECT_EQ(c.upstream.breaker_cooldown, 1h);
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.header_timeout, 5s);
  EXPECT_EQ(c.server.idle_timeout, 2min);
  EXPECT_EQ(c.server.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.server.max_body_bytes, 1024u * 1024 * 1024);
  EXPECT_EQ(c.server.drain_timeout, 24h);
  EXPECT_EQ(c.server.access_log, "off");
  EXPECT_EQ(c.server.max_connections, 20000);
  ASSERT_EQ(c.admin.listen.size(), 1u);
  EXPECT_EQ(c.admin.listen[0].to_string(), "[::1]:9901");
  EXPECT_EQ(c.admin.token, "s3cret");
  ASSERT_EQ(c.admin.allow.size(), 2u);
  EXPECT_EQ(c.admin.allow[1].to_string(), "2001:db8::/32");
  EXPECT_EQ(c.admin.check_limit, "per-ip");
  ASSERT_EQ(c.identity.trusted_proxies.size(), 2u);
  EXPECT_EQ(c.identity.trusted_proxies[0].to_string(), "192.0.2.1/32");
  EXPECT_EQ(c.identity.client_ip_header, client_ip_source::forwarded);
  EXPECT_EQ(c.identity.ipv6_prefix, 56);
  EXPECT_EQ(c.identity.api_key_header, "X-Key");
  EXPECT_EQ(c.identity.api_key_query, "");
  EXPECT_EQ(c.identity.user_header, "X-User");
  EXPECT_FALSE(c.identity.user_trusted_only);
  EXPECT_EQ(c.identity.tier_header, "");
  EXPECT_FALSE(c.headers.legacy);
  EXPECT_EQ(c.headers.legacy_reset, legacy_reset_format::delta);
  EXPECT_EQ(c.headers.standard, standard_headers::draft10);
  EXPECT_FALSE(c.headers.retry_after);
  EXPECT_EQ(c.storage.backend, storage_backend::redis);
  EXPECT_EQ(c.storage.max_keys, 5000u);
  EXPECT_EQ(c.storage.redis.mode, redis_mode::sentinel);
  ASSERT_EQ(c.storage.redis.addresses.size(), 2u);
  EXPECT_EQ(c.storage.redis.addresses[1].to_string(), "10.0.0.2:7000");
  EXPECT_EQ(c.storage.redis.sentinel.master, "mymaster");
  EXPECT_EQ(c.storage.redis.sentinel.password, "watch");
  EXPECT_EQ(c.storage.redis.password, "");
  EXPECT_EQ(c.storage.redis.database, 3);
  EXPECT_EQ(c.storage.redis.timeout, 50ms);
  EXPECT_EQ(c.storage.redis.connections, 8);
  EXPECT_EQ(c.storage.redis.key_prefix, "gw1:");
  EXPECT_EQ(c.storage.redis.local_denials, 0u);
  EXPECT_EQ(c.storage.on_error, storage_error_mode::deny);
  EXPECT_EQ(c.policies, fixture("server/policies/minimal.yaml"));
  EXPECT_FALSE(c.reload_watch);
}

TEST(ConfigServer, EnvironmentDefaultAppliesWhenUnset) {
  auto result = load_config(fixture("server/full.yaml"), fake_env({{"ADMIN_TOKEN", "t"}}));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->server.storage.redis.key_prefix, "rl:");
}

TEST(ConfigServer, AliasesResolve) {
  auto result = load_config(fixture("server/aliases.yaml"), fake_env());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->server.upstream.timeout, 3s);
  EXPECT_EQ(result.config->server.server.header_timeout, 3s);
}

TEST(ConfigServer, UnsetVariableIsAnErrorAtItsScalar) {
  EXPECT_THAT(server_errors("unset_env"),
              ElementsAre(at("unset_env",
                             "2:10: admin.token: environment variable "
                             "'SLUICE_TEST_UNSET_TOKEN' is not set (use "
                             "${SLUICE_TEST_UNSET_TOKEN:-default} for a default)")));
}

TEST(ConfigServer, UnknownKey) {
  EXPECT_THAT(
      server_errors("unknown_key"),
      ElementsAre(at("unknown_key",
                     "3:3: upstream: unknown key 'retries' (expected one of: url, "
                     "connect_timeout, timeout, max_idle_connections, circuit_breaker, tls)")));
}

TEST(ConfigServer, DuplicateKeyIsReportedAtTheSecondOccurrence) {
  EXPECT_THAT(server_errors("duplicate_key"),
              ElementsAre(at("duplicate_key",
                             "4:3: server: duplicate key 'threads' (first at line 2, column 3)")));
}

TEST(ConfigServer, WrongType) {
  EXPECT_THAT(
      server_errors("wrong_type"),
      ElementsAre(at("wrong_type", "2:12: server.threads: expected an integer, got 'many'")));
  EXPECT_THAT(server_errors("not_a_map"),
              ElementsAre(at("not_a_map", "1:11: identity: expected a map, got a list")));
  EXPECT_THAT(
      server_errors("bad_bool"),
      ElementsAre(at("bad_bool", "1:18: reload.watch: expected true or false, got 'sometimes'")));
  EXPECT_THAT(server_errors("bad_user_trusted_only"),
              ElementsAre(at("bad_user_trusted_only",
                             "2:44: identity.user.trusted_only: expected true or false, got "
                             "'sometimes'")));
}

TEST(ConfigServer, UserMapKeys) {
  EXPECT_THAT(server_errors("unknown_user_key"),
              ElementsAre(at("unknown_user_key",
                             "2:30: identity.user: unknown key 'trusted' (expected one of: "
                             "header, trusted_only, claim)")));
}

TEST(ConfigServer, OutOfRangeIntegers) {
  EXPECT_THAT(server_errors("threads_range"),
              ElementsAre(at("threads_range",
                             "2:12: server.threads: must be between 0 and 256 (got 300)")));
  EXPECT_THAT(server_errors("ipv6_prefix_range"),
              ElementsAre(at("ipv6_prefix_range",
                             "2:16: identity.ipv6_prefix: must be between 1 and 128 (got 129)")));
  EXPECT_THAT(server_errors("redis_database_range"),
              ElementsAre(at("redis_database_range",
                             "2:22: storage.redis.database: must be between 0 and 15 (got 16)")));
  EXPECT_THAT(
      server_errors("redis_connections_range"),
      ElementsAre(at("redis_connections_range",
                     "3:18: storage.redis.connections: must be between 1 and 64 (got 65)")));
  EXPECT_THAT(server_errors("redis_local_denials_range"),
              ElementsAre(at("redis_local_denials_range",
                             "3:20: storage.redis.local_denials: must be between 0 and 16777216 "
                             "(got -1)")));
  EXPECT_THAT(
      server_errors("max_keys_range"),
      ElementsAre(at("max_keys_range", "2:13: storage.max_keys: must be >= 1000 (got 999)")));
  EXPECT_THAT(server_errors("max_connections_range"),
              ElementsAre(at("max_connections_range",
                             "2:20: server.max_connections: must be between 0 and 10000000 "
                             "(got -1)")));
}

TEST(ConfigServer, Sizes) {
  EXPECT_THAT(server_errors("header_bytes_range"),
              ElementsAre(at("header_bytes_range",
                             "2:21: server.max_header_bytes: must be between "
                             "1KiB and 1MiB (got 2MiB)")));
  EXPECT_THAT(server_errors("bad_size"),
              ElementsAre(at("bad_size",
                             "2:19: server.max_body_bytes: invalid size '10MB' (expected a byte "
                             "count, or a number followed by KiB, MiB or GiB, e.g. 16KiB)")));
}

TEST(ConfigServer, Durations) {
  EXPECT_THAT(server_errors("bad_duration"),
              ElementsAre(at("bad_duration",
                             "2:12: upstream.timeout: invalid duration '1.5s' (expected a positive "
                             "integer followed by ms, s, m, h or d, e.g. 250ms, 5s, 1m)")));
  EXPECT_THAT(server_errors("zero_duration"),
              ElementsAre(at("zero_duration",
                             "2:17: server.idle_timeout: duration must be > 0 (got '0s')")));
}

TEST(ConfigServer, HttpsUpstreamWithItsTlsSettings) {
  auto result = load_config(fixture("server/https_upstream.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& up = result.config->server.upstream;
  EXPECT_EQ(up.address.to_string(), "api.example.com:443");  // https's default port
  ASSERT_TRUE(up.tls);
  EXPECT_EQ(up.tls->ca, fixture("server/certs/internal-ca.pem"));
  EXPECT_EQ(up.tls->server_name, "api.internal");
  EXPECT_EQ(up.tls->cert, "/etc/sluice/client.pem");
  EXPECT_EQ(up.tls->key, "/etc/sluice/client.key");
  EXPECT_FALSE(up.tls->insecure_skip_verify);
  EXPECT_THAT(
      server_errors("bad_upstream_tls"),
      ElementsAre(at("bad_upstream_tls", "3:8: upstream.tls: needs an https:// upstream url")));
  EXPECT_THAT(
      server_errors("bad_upstream_tls_keys"),
      ElementsAre(
          at("bad_upstream_tls_keys",
             "3:8: upstream.tls: a client certificate needs both cert and key"),
          at("bad_upstream_tls_keys",
             "3:45: upstream.tls.insecure_skip_verify: expected true or false, got 'maybe'"),
          at("bad_upstream_tls_keys",
             "3:52: upstream.tls: unknown key 'sni' (expected one of: ca, server_name, cert, key, "
             "insecure_skip_verify)")));
}

TEST(ConfigServer, UpstreamUrlWithoutPath) {
  EXPECT_THAT(server_errors("upstream_path"),
              ElementsAre(at("upstream_path",
                             "2:8: upstream.url: upstream URL must not have a path (got "
                             "'/api/v1'); requests are forwarded with their own path, use "
                             "http://host:port")));
}

TEST(ConfigServer, ListenAddresses) {
  EXPECT_THAT(server_errors("bad_listen"),
              ElementsAre(at("bad_listen",
                             "1:24: listen[1]: invalid address '::1:8080' (an IPv6 "
                             "address needs brackets, e.g. [::1]:8080)")));
  EXPECT_THAT(server_errors("bad_port"),
              ElementsAre(at("bad_port",
                             "1:9: listen: port must be between 1 and 65535 in '0.0.0.0:70000'")));
}

TEST(ConfigServer, TlsListenersWithPathsFromTheConfigDirectory) {
  auto result = load_config(fixture("server/tls_listen.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& listen = result.config->server.listen;
  ASSERT_EQ(listen.size(), 3u);
  EXPECT_FALSE(listen[0].tls);
  const std::string dir = fixture("server/");
  ASSERT_TRUE(listen[1].tls);
  EXPECT_EQ(listen[1].address.to_string(), "127.0.0.1:8443");
  ASSERT_EQ(listen[1].tls->certificates.size(), 1u);  // cert/key: one certificate
  EXPECT_EQ(listen[1].tls->certificates[0].cert, dir + "certs/api.pem");
  EXPECT_EQ(listen[1].tls->certificates[0].key, dir + "certs/api.key");
  EXPECT_EQ(listen[1].tls->client_ca, "");
  EXPECT_EQ(listen[1].tls->where.to_string(), fixture("server/tls_listen.yaml") + ":3:37");
  ASSERT_TRUE(listen[2].tls);
  EXPECT_EQ(listen[2].address.to_string(), "[::1]:8444");
  ASSERT_EQ(listen[2].tls->certificates.size(), 2u);
  EXPECT_EQ(listen[2].tls->certificates[0].cert, "/etc/sluice/a.pem");  // absolute: as given
  EXPECT_EQ(listen[2].tls->certificates[1].key, dir + "b.key");
  EXPECT_EQ(listen[2].tls->client_ca, dir + "ca.pem");
}

TEST(ConfigServer, OneTlsListenerWithoutAList) {
  auto result = load_config(fixture("server/tls_listen_one.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const auto& listen = result.config->server.listen;
  ASSERT_EQ(listen.size(), 1u);
  ASSERT_TRUE(listen[0].tls);
  EXPECT_EQ(listen[0].tls->certificates[0].cert, fixture("server/api.pem"));
}

TEST(ConfigServer, NoAddressTwiceAcrossListenAndAdmin) {
  EXPECT_THAT(server_errors("shared_address"),
              ElementsAre(at("shared_address",
                             "3:3: admin: address 127.0.0.1:8443 is used twice (an address "
                             "takes one listener, in listen or admin.listen)")));
}

TEST(ConfigServer, TlsListenerErrors) {
  const auto at_line = [](std::string_view rest) { return at("bad_tls_listen", rest); };
  EXPECT_THAT(
      server_errors("bad_tls_listen"),
      ElementsAre(
          at_line("2:5: listen[0]: missing required key 'address' (e.g. address: 0.0.0.0:8443)"),
          at_line("3:37: listen[1].tls: missing required key 'key' (a certificate needs cert "
                  "and key)"),
          at_line("4:37: listen[2].tls: give either cert and key or certificates, not both"),
          at_line("5:53: listen[3].tls.certificates: must name at least one certificate"),
          at_line("6:37: listen[4].tls: missing a certificate (cert and key, or certificates)"),
          at_line("7:45: listen[5].tls.cert: must name a file"),
          at_line("7:63: listen[5]: unknown key 'port' (expected one of: address, tls)"),
          at_line("8:82: listen[6].tls.certificates[0]: unknown key 'pass' (expected one of: "
                  "cert, key)")));
}

TEST(ConfigServer, RedisClusterModeTakesSeeds) {
  auto result = load_config(fixture("server/redis_cluster.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const redis_config& r = result.config->server.storage.redis;
  EXPECT_EQ(r.mode, redis_mode::cluster);
  ASSERT_EQ(r.addresses.size(), 3u);
  EXPECT_EQ(r.addresses[0].to_string(), "127.0.0.1:7000");
  EXPECT_EQ(r.addresses[2].to_string(), "127.0.0.1:7002");
  EXPECT_EQ(r.database, 0);
  EXPECT_EQ(r.sentinel.master, "");
}

TEST(ConfigServer, RedisSentinelModeDefaultsToTheLocalSentinel) {
  auto result = load_config(fixture("server/redis_sentinel_default_address.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const redis_config& r = result.config->server.storage.redis;
  EXPECT_EQ(r.mode, redis_mode::sentinel);
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(r.addresses[0].to_string(), defaults::redis_sentinel_address);
  EXPECT_EQ(r.sentinel.master, "mymaster");
  EXPECT_EQ(r.sentinel.password, "");
}

TEST(ConfigServer, RedisModeCombinationsPointAtTheFieldThatMakesThemBad) {
  EXPECT_THAT(server_errors("redis_mode_bad"),
              ElementsAre(at("redis_mode_bad",
                             "3:11: storage.redis.mode: unknown value 'replicated' "
                             "(expected one of: single, cluster, sentinel)")));
  EXPECT_THAT(server_errors("redis_cluster_database"),
              ElementsAre(at("redis_cluster_database",
                             "6:15: storage.redis.database: must be 0 in cluster mode (Redis "
                             "Cluster has only database 0)")));
  EXPECT_THAT(server_errors("redis_cluster_prefix_brace"),
              ElementsAre(at("redis_cluster_prefix_brace",
                             "6:17: storage.redis.key_prefix: must not contain '{' or '}' in "
                             "cluster mode (the hash tag goes on each key's identity; a brace "
                             "here would put every key in one slot)")));
  EXPECT_THAT(server_errors("redis_sentinel_without_mode"),
              ElementsAre(at("redis_sentinel_without_mode",
                             "5:15: storage.redis.sentinel: only with mode: sentinel (mode is "
                             "single, the default)")));
  EXPECT_THAT(server_errors("redis_sentinel_in_cluster_mode"),
              ElementsAre(at("redis_sentinel_in_cluster_mode",
                             "6:15: storage.redis.sentinel: only with mode: sentinel (mode is "
                             "cluster)")));
  EXPECT_THAT(server_errors("redis_sentinel_mode_without_master"),
              ElementsAre(at("redis_sentinel_mode_without_master",
                             "4:11: storage.redis.mode: sentinel mode needs sentinel: { master: "
                             "<name> }, the name the sentinels monitor")));
  EXPECT_THAT(server_errors("redis_sentinel_missing_master"),
              ElementsAre(at("redis_sentinel_missing_master",
                             "5:15: storage.redis.sentinel: missing 'master' (the name the "
                             "sentinels monitor)")));
  EXPECT_THAT(server_errors("redis_sentinel_empty_master"),
              ElementsAre(at("redis_sentinel_empty_master",
                             "6:15: storage.redis.sentinel.master: must not be empty")));
  EXPECT_THAT(server_errors("redis_sentinel_unknown_key"),
              ElementsAre(at("redis_sentinel_unknown_key",
                             "4:35: storage.redis.sentinel: unknown key 'name' (expected one "
                             "of: master, password)")));
  EXPECT_THAT(server_errors("redis_single_two_addresses"),
              ElementsAre(at("redis_single_two_addresses",
                             "6:9: storage.redis.address[1]: single mode takes one address "
                             "(set mode: cluster for cluster seeds, mode: sentinel for "
                             "sentinels)")));
}

TEST(ConfigServer, EnumsListTheAllowedValues) {
  EXPECT_THAT(server_errors("bad_enum"),
              ElementsAre(at("bad_enum",
                             "2:13: headers.standard: unknown value 'draft-8' "
                             "(expected one of: draft-6, draft-7, draft-10, off)")));
  EXPECT_THAT(server_errors("bad_on_error"),
              ElementsAre(at("bad_on_error",
                             "2:13: storage.on_error: unknown value 'retry' "
                             "(expected one of: local, allow, deny)")));
}

TEST(ConfigServer, UnparsableCidr) {
  EXPECT_THAT(server_errors("bad_cidr"),
              ElementsAre(at("bad_cidr",
                             "2:33: identity.trusted_proxies[1]: invalid CIDR '10.1.0.0/33' "
                             "(expected an address or address/prefix, e.g. 10.0.0.0/8 or "
                             "2001:db8::/32)")));
}

TEST(ConfigServer, CheckLimitMustNameALimit) {
  EXPECT_THAT(server_errors("unknown_check_limit"),
              ElementsAre(at("unknown_check_limit",
                             "2:16: admin.check_limit: unknown limit "
                             "'per-user' (defined limits: per-ip)")));
}

TEST(ConfigServer, MissingPolicies) {
  EXPECT_THAT(server_errors("missing_policies"),
              ElementsAre(at("missing_policies", "1:11: policies: no such file or directory: '" +
                                                     fixture("server/nowhere/") + "'")));
}

TEST(ConfigServer, UnreadableConfigFile) {
  EXPECT_THAT(errors_of("server/does_not_exist.yaml"),
              ElementsAre(fixture("server/does_not_exist.yaml") +
                          ": cannot read file: No such file or directory"));
}

TEST(ConfigServer, SyntaxErrorHasAPosition) {
  EXPECT_THAT(server_errors("syntax_error"),
              ElementsAre(at("syntax_error", "4:9: invalid YAML: end of sequence flow not found")));
  EXPECT_THAT(server_errors("two_documents"),
              ElementsAre(at("two_documents", "2:1: only one YAML document is allowed per file")));
}

TEST(ConfigServer, ReportsEveryErrorOfAFileInPositionOrder) {
  EXPECT_THAT(
      server_errors("multiple_errors"),
      ElementsAre(
          at("multiple_errors",
             "2:9: listen: invalid address '0.0.0.0' (expected host:port, "
             "e.g. 0.0.0.0:8080 or [::]:8080)"),
          at("multiple_errors",
             "4:8: upstream.url: invalid upstream URL 'ftp://example.com' (expected "
             "http://host:port or https://host:port)"),
          at("multiple_errors",
             "5:12: upstream.timeout: invalid duration 'soon' (expected a positive integer "
             "followed by ms, s, m, h or d, e.g. 250ms, 5s, 1m)"),
          at("multiple_errors", "7:12: server.threads: must be between 0 and 256 (got -1)"),
          at("multiple_errors", "8:3: server: duplicate key 'threads' (first at line 7, column 3)"),
          at("multiple_errors",
             "10:12: storage.backend: unknown value 'disk' (expected one of: "
             "memory, redis)"),
          at("multiple_errors",
             "11:1: unknown key 'colour' (expected one of: listen, upstream, server, admin, "
             "identity, headers, storage, policies, reload, rls)")));
}

TEST(ConfigServer, WebSocketMessageLimit) {
  auto absent = load_config(fixture("server/empty.yaml"), fake_env());
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent.config->server.server.websocket_messages);

  auto set = load_config(fixture("server/websocket_messages.yaml"), fake_env());
  ASSERT_TRUE(set.ok()) << testing::error_lines(set)[0];
  ASSERT_TRUE(set.config->server.server.websocket_messages);
  EXPECT_DOUBLE_EQ(set.config->server.server.websocket_messages->per_second, 50);
  EXPECT_EQ(set.config->server.server.websocket_messages->burst, 80);

  auto per_minute =
      load_config(fixture("server/websocket_messages_default_burst.yaml"), fake_env());
  ASSERT_TRUE(per_minute.ok()) << testing::error_lines(per_minute)[0];
  EXPECT_DOUBLE_EQ(per_minute.config->server.server.websocket_messages->per_second, 2);
  EXPECT_EQ(per_minute.config->server.server.websocket_messages->burst, 120);

  EXPECT_THAT(server_errors("websocket_messages_no_rate"),
              ElementsAre(at("websocket_messages_no_rate",
                             "2:23: server.websocket_messages: needs a rate, e.g. { rate: 50/s, "
                             "burst: 100 }")));
  EXPECT_THAT(server_errors("websocket_messages_zero_burst"),
              ElementsAre(at("websocket_messages_zero_burst",
                             "2:44: server.websocket_messages.burst: must be between 1 and "
                             "1000000000 (got 0)")));
}

}  // namespace
}  // namespace sluice::config
