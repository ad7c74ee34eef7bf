// Listening sockets and accept loops. Each I/O thread gets its own acceptor per
// address (SO_REUSEPORT), so the kernel spreads connections across threads and no
// accept path is shared between threads.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "config/schema.hpp"
#include "http/net.hpp"

namespace sluice::net {

// Resolves "host:port" to the endpoints to bind. Throws std::runtime_error.
std::vector<tcp::endpoint> resolve_listen(const config::host_port& address);

// Opens, binds and listens (SO_REUSEADDR + SO_REUSEPORT). Throws
// std::runtime_error naming the address on failure.
std::unique_ptr<tcp::acceptor> open_acceptor(asio::io_context& io, const tcp::endpoint& endpoint);

// Accepts until the acceptor is closed, handing each socket to `on_accept`.
// Transient errors (EMFILE, ECONNABORTED) pause briefly instead of spinning.
awaitable<void> accept_loop(tcp::acceptor& acceptor, std::function<void(tcp::socket)> on_accept);

}  // namespace sluice::net
