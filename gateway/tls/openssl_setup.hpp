// What both ends of Sluice's TLS (the listeners: tls/server_context.hpp; the upstream
// connections: tls/client_context.hpp) set up alike in OpenSSL: TLS 1.2 as the floor,
// no compression or renegotiation, ALPN's http/1.1, and a certificate with its key
// checked for what would otherwise fail every handshake later (readable PEM, a key
// that matches, valid at `now`). Stateless; thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <string>

namespace sluice::tls {

// ALPN's protocol list with http/1.1 alone (RFC 7301 wire form).
inline constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// TLS 1.2 and 1.3 only; no compression, no renegotiation.
void set_protocol_floor(SSL_CTX* ctx);

// "" or "file: message".
std::string use_certificate_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                                    std::chrono::system_clock::time_point now);

// OpenSSL's reason for the last failure (its error queue is emptied).
std::string openssl_reason();

}  // namespace sluice::tls
