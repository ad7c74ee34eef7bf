#include "http/listener.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace sluice::net {

std::vector<tcp::endpoint> resolve_listen(const config::host_port& address) {
  asio::io_context io;
  tcp::resolver resolver(io);
  error_code ec;
  auto results = resolver.resolve(address.host, std::to_string(address.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw std::runtime_error("listen " + address.to_string() + ": " + ec.message());
  }
  std::vector<tcp::endpoint> out;
  for (const auto& r : results) {
    if (std::find(out.begin(), out.end(), r.endpoint()) == out.end()) out.push_back(r.endpoint());
  }
  return out;
}

std::unique_ptr<tcp::acceptor> open_acceptor(asio::io_context& io, const tcp::endpoint& endpoint) {
  auto acceptor = std::make_unique<tcp::acceptor>(io);
  error_code ec;
  auto fail = [&](const char* what) {
    std::ostringstream where;
    where << endpoint;
    throw std::runtime_error("listen " + where.str() + ": " + what + ": " + ec.message());
  };
  acceptor->open(endpoint.protocol(), ec);
  if (ec) fail("open");
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  int one = 1;
  ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  acceptor->bind(endpoint, ec);
  if (ec) fail("bind");
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  return acceptor;
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, std::function<void(tcp::socket)> on_accept) {
  asio::steady_timer pause(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      // Out of descriptors or an aborted handshake: back off instead of spinning.
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(nothrow);
      continue;
    }
    on_accept(std::move(socket));
  }
}

}  // namespace sluice::net
