// Listening sockets and accept loops. Each I/O thread gets its own acceptor per
// address (SO_REUSEPORT), so the kernel spreads connections across threads and no
// accept path is shared between threads.
#pragma once

#include <atomic>
#include <climits>
#include <functional>
#include <memory>
#include <vector>

#include "config/schema.hpp"
#include "net/asio.hpp"

namespace sluice::net {

// Resolves "host:port" to the endpoints to bind. Throws std::runtime_error.
std::vector<tcp::endpoint> resolve_listen(const config::host_port& address);

// Opens, binds and listens (SO_REUSEADDR + SO_REUSEPORT). Throws
// std::runtime_error naming the address on failure.
std::unique_ptr<tcp::acceptor> open_acceptor(asio::io_context& io, const tcp::endpoint& endpoint);

struct worker;

// server.max_connections, shared by every accept loop (SPEC 13). Under the limit a
// new connection starts at once. At the limit the accepting thread closes its
// longest-idle keep-alive connection to make room (as nginx reuses idle keep-alive
// connections); with none idle it asks another thread to, and holds the new
// connection, accepting no more (later ones wait in the listen backlog), until
// there is room. Owned by the gateway; thread-safe (admit runs on the accepting
// worker's thread, and touches other workers only by posting to them).
class connection_limit {
 public:
  // `open` counts client connections (sessions) on every worker; `on_evict` is
  // called on each eviction (a metric).
  connection_limit(std::atomic<int>& open, std::function<void()> on_evict)
      : open_(open), on_evict_(std::move(on_evict)) {}
  void set_workers(std::vector<worker*> workers);  // once, before the accept loops run
  void set_max(int max);                           // at start and at every reload
  int max() const { return max_.load(std::memory_order_relaxed); }

  // On w's thread, after an accept: true when the new connection may start now.
  bool admit(worker& w);

 private:
  std::atomic<int>& open_;
  std::function<void()> on_evict_;
  std::atomic<int> max_{INT_MAX};
  std::vector<worker*> workers_;
  std::atomic<unsigned> next_{0};  // the worker asked next to close an idle connection
  std::atomic<bool> full_{false};  // in an episode at the limit (logged once)
};

// Accepts until the acceptor is closed, handing each socket to `on_accept`.
// Errors (EMFILE, ENFILE, ECONNABORTED) pause 50 ms instead of spinning; running
// out of descriptors is logged once per episode. With `limit`, a connection starts
// only when limit->admit says so.
awaitable<void> accept_loop(tcp::acceptor& acceptor, std::function<void(tcp::socket)> on_accept,
                            worker* w = nullptr, connection_limit* limit = nullptr);

}  // namespace sluice::net
