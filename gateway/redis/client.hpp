// Asio RESP2 client for the Redis backend: one server, a few pipelined connections
// on the client's own I/O thread, used by coroutines on the gateway's I/O threads.
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

namespace sluice::redis {

namespace detail {
class client_state;  // the I/O thread and the connections (client.cpp)
}

struct client_options {
  std::string host = "127.0.0.1";  // a name is resolved on every connect
  std::uint16_t port = 6379;
  std::string password;  // AUTH <password> when set
  int database = 0;      // SELECT <database> when non-zero
  // Per command, from command() to its reply (storage.redis.timeout).
  std::chrono::milliseconds timeout{25};
  int connections = 2;  // storage.redis.connections; at least 1
  // TCP connect plus AUTH/SELECT/PING; a slower handshake is a failed attempt.
  std::chrono::milliseconds connect_timeout{1000};
  // Reconnect backoff after a failed attempt or a lost connection: doubles from
  // reconnect_min up to reconnect_max, back to reconnect_min once up.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{1000};
  // Connection up/lost and failed handshakes (e.g. a wrong password), called on the
  // client's I/O thread; optional. Never called per command.
  std::function<void(std::string_view)> log;
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
// the redis backend is configured); thread-safe: command() and connected() may be
// called from any thread at any time.
//
// The constructor starts an I/O thread that owns `connections` sockets, connects
// them in the background and reconnects them with backoff after a loss. command()
// encodes on the caller's thread into one connection's write queue (a short lock);
// the I/O thread writes each queue in batches and matches replies FIFO; the result
// is posted back to the caller's executor. Commands never wait for each other's
// round trips, only for their share of a batched write.
//
// Lifetime: destroy the client after its callers stop calling it and before their
// io_contexts go away (it posts completions to them, up to its own destruction).
class client {
 public:
  using result = std::pair<boost::system::error_code, reply>;

  explicit client(client_options options);
  // Stops the I/O thread; pending commands complete with connection_lost.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends one command (args are its RESP bulk strings, e.g. {"EVALSHA", sha, "1", key})
  // and completes on the awaiting coroutine's executor with the reply (which may be
  // an error reply from Redis: a success at this level) or with a client_error:
  // not_connected at once, without suspending, while no connection is up; timeout
  // client_options::timeout after the call; connection_lost as soon as the loss of
  // its connection is known. Never blocks and never throws.
  boost::asio::awaitable<result> command(std::vector<std::string> args);
  // The same without copying the arguments: they are encoded before the awaiting
  // coroutine resumes, so they only need to live until the co_await completes
  // (e.g. views into a per-thread buffer). An empty command fails with
  // errc::invalid_argument (Redis would never answer it).
  boost::asio::awaitable<result> command(std::span<const std::string_view> args);

  // At least one connection is up (handshake done). A lock-free read.
  bool connected() const noexcept;

 private:
  std::unique_ptr<detail::client_state> state_;
};

}  // namespace sluice::redis

template <>
struct boost::system::is_error_code_enum<sluice::redis::client_error> : std::true_type {};
