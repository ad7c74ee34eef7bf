// Keep-alive connections to the upstream (upstream.max_idle_connections).
// One pool per I/O thread, used only from that thread: no locking. A connection
// taken from the pool is checked for a close by the upstream first, so a request is
// not sent on a connection the upstream already dropped (see acquire for when the
// check is skipped).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/net.hpp"

namespace sluice::net {

// Where the upstream is, as resolved for one configuration snapshot.
struct upstream_target {
  std::vector<tcp::endpoint> endpoints;
  std::uint64_t generation = 0;  // connections to an older target are not reused
  std::chrono::milliseconds connect_timeout{};
};

struct upstream_connection {
  explicit upstream_connection(asio::io_context& io) : stream(io) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::uint64_t generation = 0;
  bool reused = false;  // true when taken from the pool rather than freshly connected
  std::chrono::steady_clock::time_point idle_since;  // when it was returned to the pool
};

class upstream_pool {
 public:
  upstream_pool(asio::io_context& io, std::size_t max_idle) : io_(io), max_idle_(max_idle) {}

  // An idle connection to `target`, or a new one within target.connect_timeout.
  // An idle connection is first checked for a close or stray bytes from the upstream
  // (one recv syscall). `may_resend`: the caller resends the request on a new
  // connection when a reused one fails before any response byte; then a connection
  // idle for less than skip_probe_idle is taken unchecked: an upstream's idle timeout
  // (seconds) cannot have closed it or made it send a 408 yet, and any other close
  // is caught by the resend.
  awaitable<std::pair<error_code, std::unique_ptr<upstream_connection>>> acquire(
      const upstream_target& target, bool allow_reuse = true, bool may_resend = false);

  static constexpr std::chrono::milliseconds skip_probe_idle{500};

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
