#include "tls/openssl_setup.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace sluice::tls {
namespace {

std::string time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n > 0 ? n : 0));
  BIO_free(bio);
  return out;
}

}  // namespace

void set_protocol_floor(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}

std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

std::string use_certificate_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                                    std::chrono::system_clock::time_point now) {
  std::time_t at = std::chrono::system_clock::to_time_t(now);  // X509_cmp_time takes a non-const
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return cert + ": cannot load certificate: " + openssl_reason();
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    // A key that does not match its certificate is named by the check below.
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      return key + ": cannot load private key: " + openssl_reason();
    }
    ERR_clear_error();
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return key + ": private key does not match certificate " + cert;
  }
  X509* loaded = SSL_CTX_get0_certificate(ctx);
  if (X509_cmp_time(X509_get0_notAfter(loaded), &at) <= 0) {
    return cert + ": certificate expired on " + time_text(X509_get0_notAfter(loaded));
  }
  if (X509_cmp_time(X509_get0_notBefore(loaded), &at) > 0) {
    return cert + ": certificate not valid before " + time_text(X509_get0_notBefore(loaded));
  }
  return "";
}

}  // namespace sluice::tls
