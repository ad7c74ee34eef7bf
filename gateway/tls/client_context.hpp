// What Sluice's connections to an HTTPS upstream use (SPEC 15, HTTPS upstreams): TLS 1.2
// and 1.3, ALPN http/1.1, the upstream's certificate verified against upstream.tls.ca
// or the system's store (Debian: /etc/ssl/certs) and checked to name server_name, an
// optional client certificate. `insecure_skip_verify` turns verification off (the
// gateway warns at start). Built at load and reload, off the request path; immutable
// after, shared by every connection through a shared_ptr.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/schema.hpp"

namespace sluice::tls {

class client_context {
 public:
  struct load_result {
    std::shared_ptr<const client_context> context;  // set when `error` is empty
    std::string error;                              // "file: message"
  };
  // `server_name`: what the upstream's certificate must name (a host name or an IP
  // address), sent as SNI when it is a host name.
  static load_result load(
      const config::upstream_tls& settings, std::string server_name,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  client_context(const client_context&) = delete;
  client_context& operator=(const client_context&) = delete;

  boost::asio::ssl::context& context() const { return *context_; }
  // Sets SNI and the name to verify on a new connection's SSL object; false when
  // OpenSSL refuses them.
  bool prepare(SSL* ssl) const;
  const std::string& server_name() const { return server_name_; }

 private:
  client_context() = default;
  std::unique_ptr<boost::asio::ssl::context> context_;
  std::string server_name_;
  bool server_name_is_ip_ = false;
  bool verify_ = true;
};

}  // namespace sluice::tls
