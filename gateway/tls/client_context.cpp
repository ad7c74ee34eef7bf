#include "tls/client_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

#include "tls/openssl_setup.hpp"

namespace sluice::tls {

client_context::load_result client_context::load(const config::upstream_tls& settings,
                                                 std::string server_name,
                                                 std::chrono::system_clock::time_point now) {
  namespace ssl = boost::asio::ssl;
  load_result result;
  std::unique_ptr<client_context> made(new client_context);
  made->context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = made->context_->native_handle();
  set_protocol_floor(ctx);
  SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11);

  made->verify_ = !settings.insecure_skip_verify;
  if (made->verify_) {
    const bool loaded = settings.ca.empty()
                            ? SSL_CTX_set_default_verify_paths(ctx) == 1
                            : SSL_CTX_load_verify_locations(ctx, settings.ca.c_str(), nullptr) == 1;
    if (!loaded) {
      result.error = (settings.ca.empty() ? std::string("the system's CA store") : settings.ca) +
                     ": cannot load CA certificates: " + openssl_reason();
      return result;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!settings.cert.empty()) {
    if (auto error = use_certificate_and_key(ctx, settings.cert, settings.key, now);
        !error.empty()) {
      result.error = std::move(error);
      return result;
    }
  }
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(server_name, not_ip);
  made->server_name_is_ip_ = !not_ip;
  made->server_name_ = std::move(server_name);
  result.context = std::move(made);
  return result;
}

bool client_context::prepare(SSL* ssl) const {
  // SNI carries host names only (RFC 6066); an address is verified against the
  // certificate's IP entries instead.
  if (!server_name_is_ip_ && SSL_set_tlsext_host_name(ssl, server_name_.c_str()) != 1) {
    return false;
  }
  if (!verify_) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int ok = server_name_is_ip_ ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str())
                                    : X509_VERIFY_PARAM_set1_host(param, server_name_.c_str(), 0);
  return ok == 1;
}

}  // namespace sluice::tls
