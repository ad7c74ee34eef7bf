// The listeners' TLS contexts as a start, a reload and --check-config load them: one per
// `listen` entry, and errors at the entry's `tls` position naming the file.
#include "tls/configured_contexts.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "support/test_ca.hpp"

namespace sluice::tls {
namespace {

using namespace std::chrono_literals;

config::server_config two_listeners(const test::test_ca& ca) {
  config::server_config server;
  server.listen.push_back({{"127.0.0.1", 8080}, std::nullopt});
  config::listen_tls tls;
  tls.certificates.push_back({ca.path("a.pem"), ca.path("a.key")});
  tls.where = {"config.yaml", 3, 38};
  server.listen.push_back({{"127.0.0.1", 8443}, tls});
  return server;
}

TEST(ConfiguredContexts, OnePerEntryNullForPlainHttp) {
  test::test_ca ca;
  ca.issue("a", "a.test", "DNS:a.test");
  const auto loaded = load_configured_contexts(two_listeners(ca));
  EXPECT_TRUE(loaded.errors.empty());
  ASSERT_EQ(loaded.listeners.size(), 2u);
  EXPECT_EQ(loaded.listeners[0], nullptr);
  EXPECT_NE(loaded.listeners[1], nullptr);
}

TEST(ConfiguredContexts, AnUnusableCertificateIsAnErrorAtItsListenEntry) {
  test::test_ca ca;
  ca.issue("a", "a.test", "DNS:a.test");
  const auto loaded =
      load_configured_contexts(two_listeners(ca), std::chrono::system_clock::now() + 48h);
  ASSERT_EQ(loaded.errors.size(), 1u);
  const std::string line = loaded.errors[0].to_string();
  EXPECT_TRUE(line.starts_with("config.yaml:3:38: listen[1].tls: " + ca.path("a.pem") +
                               ": certificate expired on "))
      << line;
  EXPECT_EQ(loaded.listeners[1], nullptr);
}

TEST(ConfiguredContexts, TheHttpsUpstreamsClientCertificateIsCheckedToo) {
  test::test_ca ca;
  ca.issue("a", "a.test", "DNS:a.test");
  config::server_config server;
  server.upstream.address = {"api.internal", 443};
  server.upstream.tls = config::upstream_tls{.ca = ca.ca(),
                                             .cert = ca.path("a.pem"),
                                             .key = ca.path("a.pem"),
                                             .where = {"config.yaml", 2, 3}};
  const auto bad = load_configured_contexts(server);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_TRUE(bad.errors[0].to_string().starts_with(
      "config.yaml:2:3: upstream.tls: " + ca.path("a.pem") + ": cannot load private key: "))
      << bad.errors[0].to_string();
  server.upstream.tls->key = ca.path("a.key");
  const auto good = load_configured_contexts(server);
  EXPECT_TRUE(good.errors.empty());
  ASSERT_NE(good.upstream, nullptr);
  EXPECT_EQ(good.upstream->server_name(), "api.internal");  // the URL's host by default
}

}  // namespace
}  // namespace sluice::tls
