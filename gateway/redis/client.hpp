// Asio RESP2 client for the Redis backend: one server, pipelined connections that
// live on the io_contexts of their callers (one set per gateway I/O worker).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "redis/reply.hpp"

namespace boost::asio {
class io_context;
}

namespace sluice::redis {

namespace detail {
class client_state;  // the connections of every io_context (client.cpp)
}

struct client_options {
  // A name is resolved on every connect; set_address() changes it later.
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;  // AUTH <password> when set
  int database = 0;      // SELECT <database> when non-zero
  // Per command, from command() to its reply (storage.redis.timeout).
  std::chrono::milliseconds timeout{25};
  // Sockets per worker io_context (storage.redis.connections), or on the client's own
  // I/O thread; at least 1. The control io_context gets one.
  int connections = 1;
  // TCP connect plus AUTH/SELECT/PING; a slower handshake is a failed attempt.
  std::chrono::milliseconds connect_timeout{1000};
  // Reconnect backoff after a failed attempt or a lost connection: doubles from
  // reconnect_min up to reconnect_max, back to reconnect_min once up.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{1000};
  // Connection up/lost and failed handshakes (e.g. a wrong password), called on the
  // thread of that connection's io_context, one line at a time (under a lock), never
  // after the client is destroyed; optional. Never called per command.
  std::function<void(std::string_view)> log;
  // Called when a connection is lost, an attempt to connect fails, or a reply is a
  // READONLY error: hints that the server may no longer be the master (sentinel mode
  // asks the sentinels again, redis/sentinel.hpp). Same threads and guarantees as
  // `log`; must be cheap (it may come once per failed command). Optional.
  std::function<void()> on_master_doubt;
};

enum class client_error {
  timeout = 1,      // no reply within client_options::timeout (a late reply is dropped)
  not_connected,    // no connection is up: failed at once, nothing was sent
  connection_lost,  // the connection carrying the command went away (or the client did)
  protocol,         // the server sent bytes that are not RESP2
};

const boost::system::error_category& client_category() noexcept;  // named "redis"
boost::system::error_code make_error_code(client_error e) noexcept;

// A client of one Redis server. Owned by the gateway (one per process, built when
// the redis backend is configured); command() and connected() may be called from
// any thread at any time.
//
// Each io_context the client is given (a gateway I/O worker's, and the control
// thread's) owns its own connections: `connections` sockets per worker, one for the
// control context. A command awaited on one of those io_contexts is encoded into
// one of that context's connections and written with every other command issued
// there in the same turn of the io_context (one write per turn, posted once); the
// replies are read in large reads, matched FIFO and their coroutines resumed right
// there, in order. No lock, no post to another thread, no futex per command. Each
// connection connects in the background, handshakes (AUTH, SELECT, PING) and
// reconnects with backoff after a loss; when one comes up, the others waiting in
// backoff retry at once, so the contexts recover together.
//
// A caller on an io_context the client does not know (a tool, a test, a client
// built without contexts) is served on a context that has a connection up: its
// command hops there and back (a post each way: correct, not fast). The client
// built without contexts runs its own I/O thread for exactly that.
//
// Lifetime: the io_contexts must outlive the client. Destroy the client after its
// callers stop calling it: its connections are told to close (their pending
// commands fail with connection_lost) on their own io_contexts; a connection on an
// io_context that no longer runs is destroyed with that io_context, and the
// commands pending on it with it, never run.
class client {
 public:
  using result = std::pair<boost::system::error_code, reply>;

  // The client's own I/O thread, with options.connections sockets: every caller
  // hops to it (tests and tools).
  explicit client(client_options options);
  // options.connections sockets on each of `workers`, one on `control` (optional).
  client(client_options options, std::vector<boost::asio::io_context*> workers,
         boost::asio::io_context* control);
  // Closes every connection (see Lifetime); joins the own I/O thread if any.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends one command (args are its RESP bulk strings, e.g. {"FCALL", name, "1", key})
  // and completes on the awaiting coroutine's executor with the reply (which may be
  // an error reply from Redis: a success at this level) or with a client_error:
  // not_connected at once, without suspending, while no connection of the caller's
  // io_context is up (for a caller the client does not know: none at all); timeout
  // client_options::timeout after the call; connection_lost as soon as the loss of
  // its connection is known. Never blocks and never throws.
  boost::asio::awaitable<result> command(std::vector<std::string> args);
  // The same without copying the arguments: they are encoded before the awaiting
  // coroutine resumes, so they only need to live until the co_await completes
  // (e.g. views into a per-thread buffer). An empty command fails with
  // errc::invalid_argument (Redis would never answer it).
  boost::asio::awaitable<result> command(std::span<const std::string_view> args);
  // Sends `first`, then `args`, back to back on one connection (nothing in between)
  // and completes as command() does with the reply to `args`; `first`'s reply is
  // dropped. Redis Cluster's ASK redirection: ASKING, then the command. Both views
  // need to live until the co_await completes.
  boost::asio::awaitable<result> command_after(std::span<const std::string_view> first,
                                               std::span<const std::string_view> args);

  // Whether a command from here would find a connection up. On a worker's thread:
  // that worker's connections. Anywhere else (the control thread, other threads):
  // every io_context the client serves has a connection up, i.e. Redis is reachable
  // from the whole process. Lock-free reads of a few atomics.
  bool connected() const noexcept;

  // Re-points the client (sentinel mode: at the master the sentinels name). Every
  // later connection attempt goes to host:port; every connection up to (or being
  // made to) the old address is closed on its own io_context, its pending commands
  // failing with connection_lost, and reconnects at once, without backoff: all
  // workers move over within a round trip or two. The same address again changes
  // nothing. An empty host (also in client_options) makes attempts fail until an
  // address is set. Thread-safe; returns whether the address changed.
  bool set_address(std::string host, std::uint16_t port);
  // The address connections go to now ("host:port"; "" while the host is empty).
  std::string address() const;

 private:
  std::unique_ptr<detail::client_state> state_;
};

}  // namespace sluice::redis

template <>
struct boost::system::is_error_code_enum<sluice::redis::client_error> : std::true_type {};
