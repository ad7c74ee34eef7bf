// What a TLS listener hands every handshake (issue 12, TLS termination): one OpenSSL
// context per configured certificate, all with the same settings — TLS 1.2 and 1.3
// only, Mozilla's "intermediate" TLS 1.2 ciphers (TLS 1.3's own suites), no
// renegotiation or compression, ALPN `http/1.1` (a client offering only other protocols
// gets RFC 7301's no_application_protocol alert, as from nginx), and, with a client CA,
// a required client certificate signed by it. The first certificate is the default;
// the client's SNI host name picks the first certificate that names it (nginx's
// default-server rule: no match keeps the default). Built at load and reload, off the
// request path; immutable after, shared by every handshake through a shared_ptr.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/schema.hpp"

namespace sluice::tls {

// A `listen` entry's tls: its certificates (the first is the default) and client CA.
using certificate_files = config::tls_certificate_files;
using server_settings = config::listen_tls;

class server_context {
 public:
  struct load_result {
    std::shared_ptr<const server_context> context;  // set when `error` is empty
    std::string error;                              // "file: message"
  };
  // Loads and checks every certificate: readable PEM, a key that matches it, valid at
  // `now` (an expired or not yet valid certificate is refused at load, not at the first
  // handshake), and the client CA when set.
  static load_result load(
      const server_settings& settings,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  ~server_context();
  server_context(const server_context&) = delete;
  server_context& operator=(const server_context&) = delete;

  // The context a handshake starts with (SNI may switch it to another of this set).
  boost::asio::ssl::context& handshake_context() const { return *contexts_.front(); }
  bool requires_client_certificate() const { return requires_client_certificate_; }

 private:
  server_context() = default;
  static int on_server_name(SSL* ssl, int* alert, void* self);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;
  bool requires_client_certificate_ = false;
};

// Who the client's verified certificate says it is, for the `client_cert` identity key
// part: the subject's common name, else the first subject alternative name (DNS, URI
// or e-mail); empty without a verified client certificate.
std::string client_certificate_name(const SSL* ssl);

}  // namespace sluice::tls
