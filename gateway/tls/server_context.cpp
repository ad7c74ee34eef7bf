#include "tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls/openssl_setup.hpp"

namespace sluice::tls {
namespace {

namespace ssl = boost::asio::ssl;

// Mozilla's "intermediate" configuration (TLS 1.2 part; TLS 1.3 suites are OpenSSL's).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN: http/1.1 or nothing (RFC 7301: no_application_protocol when not offered).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_length, alpn_http11, sizeof alpn_http11, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// One certificate's context with the shared settings; "" or the error.
std::string configure(SSL_CTX* ctx, const certificate_files& files, const std::string& client_ca,
                      std::chrono::system_clock::time_point now) {
  set_protocol_floor(ctx);
  if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) return "cipher list: " + openssl_reason();
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);

  if (auto error = use_certificate_and_key(ctx, files.cert, files.key, now); !error.empty()) {
    return error;
  }

  if (!client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, client_ca.c_str(), nullptr) != 1) {
      return client_ca + ": cannot load client CA: " + openssl_reason();
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str());
    if (names == nullptr) return client_ca + ": no CA certificate in file";
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return "";
}

}  // namespace

server_context::~server_context() = default;

server_context::load_result server_context::load(const server_settings& settings,
                                                 std::chrono::system_clock::time_point now) {
  load_result result;
  if (settings.certificates.empty()) {
    result.error = "no certificate";
    return result;
  }
  std::shared_ptr<server_context> made(new server_context);
  made->requires_client_certificate_ = !settings.client_ca.empty();
  for (const auto& files : settings.certificates) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    result.error = configure(ctx->native_handle(), files, settings.client_ca, now);
    if (!result.error.empty()) return result;
    made->contexts_.push_back(std::move(ctx));
  }
  // SNI is answered by the context the handshake starts with: the first.
  SSL_CTX* first = made->contexts_.front()->native_handle();
  SSL_CTX_set_tlsext_servername_callback(first, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(first, made.get());
  result.context = std::move(made);
  return result;
}

int server_context::on_server_name(SSL* ssl, int*, void* self) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  const auto& contexts = static_cast<const server_context*>(self)->contexts_;
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    SSL_CTX* ctx = contexts[i]->native_handle();
    if (X509_check_host(SSL_CTX_get0_certificate(ctx), name, 0, 0, nullptr) == 1) {
      SSL_set_SSL_CTX(ssl, ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;  // the first certificate, whether it names the host or not
}

std::string client_certificate_name(const SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return "";
  char cn[256];
  const int n =
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  if (n > 0) return std::string(cn, static_cast<std::size_t>(n));
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && out.empty(); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
      const ASN1_IA5STRING* s = g->d.ia5;
      out.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                 static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace sluice::tls
