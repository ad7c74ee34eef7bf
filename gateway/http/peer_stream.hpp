// A connection to a peer — a client, or the upstream — plain TCP or TLS (SPEC 15, TLS
// termination and HTTPS upstreams): what the session, the upstream pool, the message
// reader and the tunnel read from and write to. Either way the bytes go
// through one beast::tcp_stream, so its deadlines (expires_at/after) cut TLS reads and
// writes like plain ones. Reads and writes dispatch on the connection's kind; the
// handler and its executor are the caller's (async_initiate), so an awaited read costs
// what it costs on the stream underneath. Used by one coroutine at a time.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <type_traits>

#include "net/asio.hpp"
#include "net/drained_read.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

namespace sluice::net {

class peer_stream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  explicit peer_stream(tcp::socket socket)
      : tcp_(std::move(socket)), drained_(tcp_.get_executor()) {}
  explicit peer_stream(asio::io_context& io) : tcp_(io), drained_(tcp_.get_executor()) {}

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

  tcp::socket& socket() { return tcp_.socket(); }
  beast::tcp_stream& transport() { return tcp_; }
  // TLS: bytes already received and decrypted or still to decrypt, not yet read (a
  // pooled upstream connection must have none).
  bool has_unread_tls_bytes() const;
  executor_type get_executor() { return tcp_.get_executor(); }
  template <class TimePoint>
  void expires_at(TimePoint t) {
    tcp_.expires_at(t);
    deadline_set_ = true;
  }
  template <class Duration>
  void expires_after(Duration d) {
    tcp_.expires_after(d);
    deadline_set_ = true;
  }
  void expires_never() {
    if (!deadline_set_) return;
    tcp_.expires_never();
    deadline_set_ = false;
  }

  // A plain read with no deadline set (a keep-alive connection waiting for its next
  // request, which the worker's idle sweep ends; an upstream answer, which its sweep
  // cuts) goes to the socket itself: tcp_stream's read operation, there only to race
  // the deadline's timer, costs about 600 instructions more per read. It is a drained
  // read (net/drained_read.hpp): after a read that emptied the socket, the next one
  // waits for epoll rather than trying first and finding nothing.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else if (deadline_set_) {
            tcp_.async_read_some(b, std::move(handler));
          } else if constexpr (std::is_convertible_v<MutableBuffers, asio::mutable_buffer>) {
            drained_.async_read_some(tcp_.socket(), b, std::move(handler));
          } else {
            tcp_.socket().async_read_some(b, std::move(handler));
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
            tcp_.async_write_some(b, std::move(handler));
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
    const std::size_t n = tcp_.socket().write_some(buffers, ec);
    if (ec == asio::error::would_block) ec = {};
    return n;
  }

  // Ends the sending half: a TCP half-close. TLS has no half-close the peer would wait
  // out (close_notify ends the session), so a TLS connection is closed instead.
  void shutdown_send();
  void close();

 private:
  beast::tcp_stream tcp_;
  drained_reader drained_;
  bool deadline_set_ = false;  // tcp_'s expiry is not never: reads and writes race it
  std::shared_ptr<const tls::server_context> server_context_;
  std::shared_ptr<const tls::client_context> client_context_;
  std::unique_ptr<asio::ssl::stream<beast::tcp_stream&>> tls_;
};

}  // namespace sluice::net
