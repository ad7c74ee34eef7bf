#include "http/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>

#include "config/defaults.hpp"

namespace sluice::net {
namespace {

// True when the upstream has not closed (or written to) an idle connection.
bool still_open(upstream_connection& c) {
  auto& socket = c.stream.socket();
  if (!socket.is_open() || c.buffer.size() != 0 || c.stream.has_unread_tls_bytes()) return false;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::unique_ptr<upstream_connection> upstream_pool::take_idle(const upstream_target& target) {
  while (!idle_.empty()) {
    std::unique_ptr<upstream_connection> c = std::move(idle_.back());
    idle_.pop_back();
    if (c->generation == target.generation && still_open(*c)) {
      c->reused = true;
      return c;
    }
  }
  return nullptr;
}

awaitable<std::pair<error_code, std::unique_ptr<upstream_connection>>> upstream_pool::connect(
    const upstream_target& target) {
  auto c = std::make_unique<upstream_connection>(
      io_, static_cast<std::size_t>(config::defaults::upstream_max_header_bytes));
  c->generation = target.generation;
  // Each endpoint in turn, within one connect_timeout. The socket is opened here, not
  // by a range connect: that reports a failed open (EMFILE: out of descriptors, this
  // machine's problem, not the upstream's) as operation_aborted.
  c->stream.expires_after(target.connect_timeout);
  error_code ec = asio::error::host_not_found;
  for (const auto& endpoint : target.endpoints) {
    auto& socket = c->stream.socket();
    error_code ignored;
    socket.close(ignored);
    socket.open(endpoint.protocol(), ec);
    if (ec) co_return std::pair{ec, nullptr};
    std::tie(ec) = co_await c->stream.transport().async_connect(endpoint, nothrow);
    if (!ec || ec == beast::error::timeout) break;
  }
  if (!ec && target.tls) ec = co_await c->stream.handshake(target.tls);
  if (ec) co_return std::pair{ec, nullptr};
  // The session's reads are cut by the worker's sweep, not by a timer per read.
  c->stream.expires_never();
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  c->stream.socket().non_blocking(true, ec);  // the session writes at once first
  // Plain upstream connections read drained (net/drained_read.hpp). TLS ones not: it
  // cost TLS client connections CPU (process/gateway.cpp), and no benchmark here
  // measures a TLS upstream.
  if (!target.tls) enable_drained_reads(c->stream.socket());
  co_return std::pair{error_code{}, std::move(c)};
}

void upstream_pool::release(std::unique_ptr<upstream_connection> c) {
  // Bytes after a complete response mean the upstream broke framing: drop it.
  if (idle_.size() >= max_idle_ || c->buffer.size() != 0) return;
  c->stream.expires_never();
  idle_.push_back(std::move(c));
}

}  // namespace sluice::net
