// The byte tunnel a connection becomes after the upstream answered an Upgrade request
// with 101 Switching Protocols (SPEC 15, WebSocket pass-through): what one side sends,
// the other receives, unchanged. A side that ends its sending half (EOF) has that
// passed on as a half-close, and the other direction goes on until it ends too; an
// error on either socket, or neither side sending anything for `idle_timeout`, closes
// both. With a message limit (server.websocket_messages), the client's messages beyond
// it wait before they go on (back-pressure: nothing is dropped). Free function; the
// sockets are used by the calling coroutine only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "config/schema.hpp"
#include "net/asio.hpp"

namespace sluice::net {

struct tunnel_result {
  std::uint64_t to_upstream = 0;  // bytes
  std::uint64_t to_client = 0;
  std::uint64_t delayed_messages = 0;  // client messages held by the message limit
};

// The sockets must outlive the returned awaitable; everything else is taken by value (a
// coroutine runs after its caller's temporaries are gone). `Stream`: peer_stream (a TLS
// end is closed where a plain one is half-closed) or tcp::socket.
// `client_early` / `upstream_early`: bytes each side sent after its HTTP head that were
// already read (a client's first frames pipelined behind the handshake, an upstream's
// first frames in the same segment as its 101); they go through first.
template <class Stream>
awaitable<tunnel_result> run_tunnel(
    Stream& client, asio::const_buffer client_early, Stream& upstream,
    asio::const_buffer upstream_early, std::chrono::steady_clock::duration idle_timeout,
    std::optional<config::websocket_message_limit> message_limit = std::nullopt);

}  // namespace sluice::net
