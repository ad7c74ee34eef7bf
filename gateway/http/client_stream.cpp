#include "http/client_stream.hpp"

namespace sluice::net {

awaitable<error_code> client_stream::handshake(std::shared_ptr<const tls::server_context> context) {
  context_ = std::move(context);
  tls_ = std::make_unique<asio::ssl::stream<beast::tcp_stream&>>(tcp_,
                                                                 context_->handshake_context());
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, nothrow);
  co_return ec;
}

void client_stream::shutdown_send() {
  error_code ignored;
  if (tls_) {
    tcp_.socket().close(ignored);
    return;
  }
  tcp_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void client_stream::close() {
  error_code ignored;
  tcp_.socket().close(ignored);
}

}  // namespace sluice::net
