#include "http/peer_stream.hpp"

namespace sluice::net {

awaitable<error_code> peer_stream::handshake(std::shared_ptr<const tls::server_context> context) {
  server_context_ = std::move(context);
  tls_ = std::make_unique<asio::ssl::stream<tcp_transport&>>(transport_,
                                                             server_context_->handshake_context());
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, nothrow);
  co_return ec;
}

awaitable<error_code> peer_stream::handshake(std::shared_ptr<const tls::client_context> context) {
  client_context_ = std::move(context);
  tls_ =
      std::make_unique<asio::ssl::stream<tcp_transport&>>(transport_, client_context_->context());
  if (!client_context_->prepare(tls_->native_handle())) co_return asio::error::invalid_argument;
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, nothrow);
  co_return ec;
}

bool peer_stream::has_unread_tls_bytes() const {
  if (!tls_) return false;
  SSL* ssl = tls_->native_handle();
  return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

void peer_stream::shutdown_send() {
  error_code ignored;
  if (tls_) {
    transport_.socket().close(ignored);
    return;
  }
  transport_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void peer_stream::close() {
  error_code ignored;
  transport_.socket().close(ignored);
}

}  // namespace sluice::net
