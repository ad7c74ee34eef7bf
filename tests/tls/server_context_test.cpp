// TLS server contexts against a CA the test makes with the openssl CLI, over real
// loopback handshakes with an OpenSSL client: versions, ALPN, SNI picking the
// certificate, client certificates, and the checks at load (with an injected clock).
#include "tls/server_context.hpp"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "support/test_ca.hpp"

namespace sluice::tls {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct client_options {
  std::string sni = {};
  std::string alpn = "http/1.1";  // one protocol offered; empty: no ALPN
  std::string cert = {};          // a client certificate and its key, when set
  std::string key = {};
  int max_version = 0;  // e.g. TLS1_1_VERSION; 0: OpenSSL's default
};

struct outcome {
  bool client_ok = false;
  bool server_ok = false;
  std::string version;      // as the client sees it, e.g. "TLSv1.3"
  std::string alpn;         // selected protocol
  std::string server_name;  // CN of the certificate the server presented
  std::string client_name;  // client_certificate_name on the server side
};

std::string common_name(X509* cert) {
  if (cert == nullptr) return "";
  char cn[256];
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return n > 0 ? std::string(cn, static_cast<std::size_t>(n)) : "";
}

outcome handshake(const server_context& server, const test::test_ca& ca,
                  const client_options& options) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  outcome out;
  std::thread server_side([&] {
    ssl::stream<tcp::socket> s(acceptor.accept(), server.handshake_context());
    boost::system::error_code ec;
    s.handshake(ssl::stream_base::server, ec);
    out.server_ok = !ec;
    if (!ec) out.client_name = client_certificate_name(s.native_handle());
    s.next_layer().close(ec);
  });

  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca.ca());
  ctx.set_verify_mode(ssl::verify_peer);
  if (!options.cert.empty()) {
    ctx.use_certificate_chain_file(options.cert);
    ctx.use_private_key_file(options.key, ssl::context::pem);
  }
  if (options.max_version != 0) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), 0);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), options.max_version);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);  // let the old version be offered
  }
  ssl::stream<tcp::socket> client(io, ctx);
  client.next_layer().connect(acceptor.local_endpoint());
  if (!options.sni.empty()) SSL_set_tlsext_host_name(client.native_handle(), options.sni.c_str());
  if (!options.alpn.empty()) {
    std::string wire(1, static_cast<char>(options.alpn.size()));
    wire += options.alpn;
    SSL_set_alpn_protos(client.native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  boost::system::error_code ec;
  client.handshake(ssl::stream_base::client, ec);
  out.client_ok = !ec;
  if (!ec) {
    out.version = SSL_get_version(client.native_handle());
    const unsigned char* selected = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(client.native_handle(), &selected, &length);
    out.alpn.assign(reinterpret_cast<const char*>(selected), length);
    out.server_name = common_name(SSL_get0_peer_certificate(client.native_handle()));
    // A TLS 1.3 server judges the client certificate after the client's handshake
    // ends: a read gives the server's verdict (an alert) its chance to arrive.
    char byte;
    client.next_layer().non_blocking(false);
    client.read_some(asio::buffer(&byte, 1), ec);
  }
  server_side.join();
  return out;
}

class ServerContext : public ::testing::Test {
 protected:
  void SetUp() override {
    ca.issue("a", "a.test", "DNS:a.test");
    ca.issue("b", "b.test", "DNS:b.test,DNS:*.b.test");
    ca.issue("client", "client-1", "");
    ca.issue("san_only", "", "URI:spiffe://sluice/client-2");
  }

  std::shared_ptr<const server_context> load(server_settings settings) {
    auto result = server_context::load(settings);
    EXPECT_EQ(result.error, "");
    return result.context;
  }
  server_settings two_certificates() const {
    return {{{ca.path("a.pem"), ca.path("a.key")}, {ca.path("b.pem"), ca.path("b.key")}}, ""};
  }

  test::test_ca ca;
};

TEST_F(ServerContext, NegotiatesTls13AndHttp11) {
  auto server = load(two_certificates());
  const outcome o = handshake(*server, ca, {.sni = "a.test"});
  EXPECT_TRUE(o.client_ok);
  EXPECT_TRUE(o.server_ok);
  EXPECT_EQ(o.version, "TLSv1.3");
  EXPECT_EQ(o.alpn, "http/1.1");
}

TEST_F(ServerContext, SniPicksTheCertificateThatNamesTheHostElseTheFirst) {
  auto server = load(two_certificates());
  EXPECT_EQ(handshake(*server, ca, {.sni = "b.test"}).server_name, "b.test");
  EXPECT_EQ(handshake(*server, ca, {.sni = "api.b.test"}).server_name, "b.test");  // wildcard
  EXPECT_EQ(handshake(*server, ca, {.sni = "a.test"}).server_name, "a.test");
  // No SNI, or a name no certificate has: the default. The client, checking the host
  // name it asked for, refuses the default certificate itself.
  EXPECT_EQ(handshake(*server, ca, {}).server_name, "a.test");
  EXPECT_EQ(handshake(*server, ca, {.sni = "c.test"}).server_name, "a.test");
}

TEST_F(ServerContext, RefusesOldVersionsAndOtherApplicationProtocols) {
  auto server = load(two_certificates());
  const outcome old = handshake(*server, ca, {.sni = "a.test", .max_version = TLS1_1_VERSION});
  EXPECT_FALSE(old.client_ok);
  EXPECT_FALSE(old.server_ok);
  const outcome h2 = handshake(*server, ca, {.sni = "a.test", .alpn = "h2"});
  EXPECT_FALSE(h2.client_ok);
  EXPECT_FALSE(h2.server_ok);
  const outcome tls12 = handshake(*server, ca, {.sni = "a.test", .max_version = TLS1_2_VERSION});
  EXPECT_TRUE(tls12.client_ok);
  EXPECT_EQ(tls12.version, "TLSv1.2");
  const outcome no_alpn = handshake(*server, ca, {.sni = "a.test", .alpn = ""});
  EXPECT_TRUE(no_alpn.client_ok);  // a client without ALPN is served HTTP/1.1 anyway
  EXPECT_EQ(no_alpn.alpn, "");
}

TEST_F(ServerContext, ClientCertificatesWhenAClientCaIsSet) {
  server_settings settings = two_certificates();
  settings.client_ca = ca.ca();
  auto server = load(settings);
  EXPECT_TRUE(server->requires_client_certificate());

  const outcome without = handshake(*server, ca, {.sni = "a.test"});
  EXPECT_FALSE(without.server_ok);
  const outcome with = handshake(
      *server, ca, {.sni = "a.test", .cert = ca.path("client.pem"), .key = ca.path("client.key")});
  EXPECT_TRUE(with.server_ok);
  EXPECT_EQ(with.client_name, "client-1");
  const outcome san =
      handshake(*server, ca,
                {.sni = "a.test", .cert = ca.path("san_only.pem"), .key = ca.path("san_only.key")});
  EXPECT_TRUE(san.server_ok);
  EXPECT_EQ(san.client_name, "spiffe://sluice/client-2");

  // Signed by another CA: refused.
  test::test_ca other;
  other.issue("stranger", "stranger", "");
  const outcome stranger = handshake(
      *server, ca,
      {.sni = "a.test", .cert = other.path("stranger.pem"), .key = other.path("stranger.key")});
  EXPECT_FALSE(stranger.server_ok);
}

TEST_F(ServerContext, RefusesAtLoadWhatWouldFailEveryHandshake) {
  const auto now = std::chrono::system_clock::now();
  const server_settings one{{{ca.path("a.pem"), ca.path("a.key")}}, ""};
  auto expired = server_context::load(one, now + 48h);
  EXPECT_EQ(expired.context, nullptr);
  EXPECT_TRUE(expired.error.starts_with(ca.path("a.pem") + ": certificate expired on "))
      << expired.error;
  auto early = server_context::load(one, now - 48h);
  EXPECT_TRUE(early.error.starts_with(ca.path("a.pem") + ": certificate not valid before "))
      << early.error;

  auto mismatch = server_context::load({{{ca.path("a.pem"), ca.path("b.key")}}, ""});
  EXPECT_EQ(mismatch.error,
            ca.path("b.key") + ": private key does not match certificate " + ca.path("a.pem"));
  auto missing = server_context::load({{{ca.path("nope.pem"), ca.path("a.key")}}, ""});
  EXPECT_TRUE(missing.error.starts_with(ca.path("nope.pem") + ": cannot load certificate: "))
      << missing.error;
  auto not_a_key = server_context::load({{{ca.path("a.pem"), ca.path("a.pem")}}, ""});
  EXPECT_TRUE(not_a_key.error.starts_with(ca.path("a.pem") + ": cannot load private key: "))
      << not_a_key.error;
  auto bad_ca = server_context::load({{{ca.path("a.pem"), ca.path("a.key")}}, ca.path("a.key")});
  EXPECT_TRUE(bad_ca.error.starts_with(ca.path("a.key") + ": ")) << bad_ca.error;
  EXPECT_EQ(server_context::load({}).error, "no certificate");
}

}  // namespace
}  // namespace sluice::tls
