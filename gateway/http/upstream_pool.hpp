// Keep-alive connections to the upstream (upstream.max_idle_connections).
// One pool per I/O thread, used only from that thread: no locking. A connection
// goes back to the pool only after a cleanly framed, complete response with nothing
// read beyond it, and is checked before reuse for a close or bytes the upstream sent
// meanwhile: a pooled connection carries nothing from a previous exchange (SPEC 13).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/peer_stream.hpp"
#include "net/asio.hpp"
#include "runtime/upstream_target.hpp"

namespace sluice::net {

struct upstream_connection {
  // `max_buffered`: the most bytes read ahead of the response parser (bounds a head,
  // a chunk-size line and a trailer section; see http/message_reader.hpp).
  upstream_connection(asio::io_context& io, std::size_t max_buffered)
      : stream(io), buffer(max_buffered) {}
  peer_stream stream;  // TLS for an https:// upstream
  beast::flat_buffer buffer;
  std::uint64_t generation = 0;
  bool reused = false;  // true when taken from the pool rather than freshly connected
};

class upstream_pool {
 public:
  upstream_pool(asio::io_context& io, std::size_t max_idle) : io_(io), max_idle_(max_idle) {}

  // An idle connection to `target`, or null. It is first checked for a close or stray
  // bytes from the upstream (one recv syscall, always: an upstream that sent a second
  // response after the first must not hand it to the next client).
  std::unique_ptr<upstream_connection> take_idle(const upstream_target& target);
  // A new connection to `target`, within target.connect_timeout (TLS handshake included).
  awaitable<std::pair<error_code, std::unique_ptr<upstream_connection>>> connect(
      const upstream_target& target);

  // Returns a connection whose last response was complete and kept alive.
  void release(std::unique_ptr<upstream_connection> c);

  void set_max_idle(std::size_t n) { max_idle_ = n; }
  std::size_t idle() const { return idle_.size(); }
  void clear() { idle_.clear(); }

 private:
  asio::io_context& io_;
  std::size_t max_idle_;
  std::vector<std::unique_ptr<upstream_connection>> idle_;
};

}  // namespace sluice::net
