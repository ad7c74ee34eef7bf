// The listeners' TLS contexts as a start, a reload and --check-config load them: one per
// `listen` entry, and errors at the entry's `tls` position naming the file.
#include "tls/listener_contexts.hpp"

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

TEST(ListenerContexts, OnePerEntryNullForPlainHttp) {
  test::test_ca ca;
  ca.issue("a", "a.test", "DNS:a.test");
  const auto loaded = load_listener_contexts(two_listeners(ca));
  EXPECT_TRUE(loaded.errors.empty());
  ASSERT_EQ(loaded.contexts.size(), 2u);
  EXPECT_EQ(loaded.contexts[0], nullptr);
  EXPECT_NE(loaded.contexts[1], nullptr);
}

TEST(ListenerContexts, AnUnusableCertificateIsAnErrorAtItsListenEntry) {
  test::test_ca ca;
  ca.issue("a", "a.test", "DNS:a.test");
  const auto loaded = load_listener_contexts(two_listeners(ca), std::chrono::system_clock::now() + 48h);
  ASSERT_EQ(loaded.errors.size(), 1u);
  const std::string line = loaded.errors[0].to_string();
  EXPECT_TRUE(line.starts_with("config.yaml:3:38: listen[1].tls: " + ca.path("a.pem") +
                               ": certificate expired on "))
      << line;
  EXPECT_EQ(loaded.contexts[1], nullptr);
}

}  // namespace
}  // namespace sluice::tls
