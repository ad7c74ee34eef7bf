// A connection to a peer — a client, or the upstream — plain TCP or TLS (SPEC 15, TLS
// termination and HTTPS upstreams): what the session, the upstream pool, the message
// reader and the tunnel read from and write to. Either way the bytes go
// through one tcp_transport (http/tcp_transport.hpp), so its deadlines (expires_at/after)
// cut TLS reads and writes like plain ones, and without a deadline TLS records are read
// and written as plain bytes are. Reads and writes dispatch on the connection's kind; the
// handler and its executor are the caller's (async_initiate), so an awaited read costs
// what it costs on the stream underneath. Used by one coroutine at a time.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/stream.hpp>
#include <memory>

#include "http/tcp_transport.hpp"
#include "net/asio.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

namespace sluice::net {

class peer_stream {
 public:
  using executor_type = tcp_transport::executor_type;

  explicit peer_stream(tcp::socket socket) : transport_(std::move(socket)) {}
  explicit peer_stream(asio::io_context& io) : transport_(io) {}

  // Makes the connection TLS with `context` and runs the server side of the handshake
  // under the current deadline. The context is held for the connection's life (SNI
  // may have switched it to one of its other certificates).
  awaitable<error_code> handshake(std::shared_ptr<const tls::server_context> context);
  // The client side, on a connected socket: SNI and the name the peer's certificate
  // must have come from `context`.
  awaitable<error_code> handshake(std::shared_ptr<const tls::client_context> context);

  bool is_tls() const { return tls_ != nullptr; }
  // The TLS connection (for the client certificate); nullptr when plain.
  const SSL* ssl() const { return tls_ ? tls_->native_handle() : nullptr; }

  tcp::socket& socket() { return transport_.socket(); }
  tcp_transport& transport() { return transport_; }
  // TLS: bytes already received and decrypted or still to decrypt, not yet read (a
  // pooled upstream connection must have none).
  bool has_unread_tls_bytes() const;
  executor_type get_executor() { return transport_.get_executor(); }
  template <class TimePoint>
  void expires_at(TimePoint t) {
    transport_.expires_at(t);
  }
  template <class Duration>
  void expires_after(Duration d) {
    transport_.expires_after(d);
  }
  void expires_never() { transport_.expires_never(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            transport_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            transport_.async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // Writes what the socket takes at once, without waiting (the socket is non-blocking).
  // TLS: nothing (a TLS record cut short must be retried with the same bytes, which
  // the asynchronous write does).
  template <class ConstBuffers>
  std::size_t write_now(const ConstBuffers& buffers, error_code& ec) {
    ec = {};
    if (tls_) return 0;
    const std::size_t n = transport_.socket().write_some(buffers, ec);
    if (ec == asio::error::would_block) ec = {};
    return n;
  }

  // Ends the sending half: a TCP half-close. TLS has no half-close the peer would wait
  // out (close_notify ends the session), so a TLS connection is closed instead.
  void shutdown_send();
  void close();

 private:
  tcp_transport transport_;
  std::shared_ptr<const tls::server_context> server_context_;
  std::shared_ptr<const tls::client_context> client_context_;
  std::unique_ptr<asio::ssl::stream<tcp_transport&>> tls_;  // over transport_
};

}  // namespace sluice::net
