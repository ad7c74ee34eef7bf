#include "http/listener.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "http/session.hpp"

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

namespace {

constexpr auto accept_retry = std::chrono::milliseconds(50);
constexpr auto admit_retry = std::chrono::milliseconds(20);

bool out_of_descriptors(const error_code& ec) {
  using boost::system::errc::errc_t;
  return ec == errc_t::too_many_files_open || ec == errc_t::too_many_files_open_in_system ||
         ec == errc_t::no_buffer_space || ec == errc_t::not_enough_memory;
}

// Running out of descriptors is one episode for the whole process, however many
// accept loops fail during it and however often a freed descriptor lets one accept
// through: logged when it starts, and at the first accept a quiet second after the
// last failure.
constexpr auto episode_quiet = std::chrono::seconds(1);
std::atomic<bool> descriptors_short{false};
std::atomic<std::uint64_t> descriptor_failures{0};
std::atomic<std::chrono::steady_clock::rep> last_descriptor_failure{0};

void note_accept_failure(const error_code& ec) {
  if (!out_of_descriptors(ec)) return;  // ECONNABORTED and the like: routine
  descriptor_failures.fetch_add(1, std::memory_order_relaxed);
  last_descriptor_failure.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                                std::memory_order_relaxed);
  if (!descriptors_short.exchange(true)) {
    std::cerr << "sluice: accept: " << ec.message()
              << "; retrying every 50 ms until descriptors are free\n";
  }
}

void note_accept_success() {
  if (!descriptors_short.load(std::memory_order_relaxed)) return;
  const std::chrono::steady_clock::duration since_failure(
      std::chrono::steady_clock::now().time_since_epoch().count() -
      last_descriptor_failure.load(std::memory_order_relaxed));
  if (since_failure < episode_quiet || !descriptors_short.exchange(false)) return;
  std::cerr << "sluice: accepting again (" << descriptor_failures.exchange(0)
            << " accept(s) failed for lack of descriptors)\n";
}

// Closes the connection on `w` that has waited longest for a next request (the
// earliest idle deadline). Runs on w's thread.
bool close_longest_idle(worker& w) {
  session* oldest = nullptr;
  std::chrono::steady_clock::time_point oldest_until = std::chrono::steady_clock::time_point::max();
  for (session* s : w.sessions) {
    const auto until = s->idle_until();
    if (until && (oldest == nullptr || *until < oldest_until)) {
      oldest = s;
      oldest_until = *until;
    }
  }
  if (oldest == nullptr) return false;
  oldest->close_if_idle(std::chrono::steady_clock::time_point::max());
  return true;
}

}  // namespace

void connection_limit::set_workers(std::vector<worker*> workers) {
  workers_ = std::move(workers);
}

void connection_limit::set_max(int max) {
  max_.store(max, std::memory_order_relaxed);
}

bool connection_limit::admit(worker& w) {
  const int max = max_.load(std::memory_order_relaxed);
  const int open = open_.load(std::memory_order_relaxed);
  if (open < max) {
    // The episode ends well below the limit, so a gateway hovering at it logs once.
    if (open <= max - std::max(1, max / 10) && full_.load(std::memory_order_relaxed) &&
        full_.exchange(false)) {
      std::cerr << "sluice: below server.max_connections (" << max << ") again\n";
    }
    return true;
  }
  if (!full_.exchange(true)) {
    std::cerr << "sluice: server.max_connections (" << max
              << ") reached: closing the longest-idle keep-alive connections to make room; "
                 "new connections wait in the listen backlog while none is idle\n";
  }
  if (close_longest_idle(w)) {
    on_evict_();
    return true;
  }
  // None idle on this thread: ask another one, and hold this connection meanwhile.
  if (workers_.size() > 1) {
    worker* other = workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
    if (other != &w) {
      asio::post(other->io, [this, other] {
        if (close_longest_idle(*other)) on_evict_();
      });
    }
  }
  return false;
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, std::function<void(tcp::socket)> on_accept,
                            worker* w, connection_limit* limit) {
  asio::steady_timer pause(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      // Out of descriptors, or an aborted handshake: back off instead of spinning.
      note_accept_failure(ec);
      pause.expires_after(accept_retry);
      co_await pause.async_wait(nothrow);
      continue;
    }
    note_accept_success();
    // At the connection limit: hold this one, and accept no more, until it may start.
    while (limit != nullptr && !limit->admit(*w)) {
      pause.expires_after(admit_retry);
      co_await pause.async_wait(nothrow);
      if (!acceptor.is_open()) co_return;  // draining: the held connection closes unserved
    }
    on_accept(std::move(socket));
  }
}

}  // namespace sluice::net
