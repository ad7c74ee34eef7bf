// The heads of the proxy hop (SPEC 4 step 7): what the upstream receives and what the
// client gets back, written in one pass from the parsed head into the wire buffer. The
// parsed head is only read: nothing is erased, inserted or allocated per field.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/head_arena.hpp"
#include "http/response_head.hpp"
#include "http/wire.hpp"
#include "limit/rate_limit_headers.hpp"
#include "net/asio.hpp"

namespace sluice::net {

// How the next hop learns where a body ends.
enum class body_framing {
  none,         // no body
  length,       // Content-Length
  chunked,      // Transfer-Encoding: chunked
  until_close,  // the end of the connection (responses to HTTP/1.0 clients)
};

// The framing field Sluice writes for a body it sends, replacing every Content-Length
// and Transfer-Encoding of the message: what the next hop parses is what Sluice sends.
struct body_frame {
  body_framing framing = body_framing::none;
  std::uint64_t length = 0;  // for body_framing::length
};

// Beast's bound on one field value (and Sluice's on a field it joins): a joined
// X-Forwarded-For or Via longer than this is not sent.
inline constexpr std::size_t max_field_value_bytes = 65'535;

struct upstream_request_context {
  std::string_view peer_ip;                // the TCP peer, appended to X-Forwarded-For
  bool peer_trusted = false;               // a trusted proxy: its X-Forwarded-Proto/-Host are kept
  std::string_view upstream_host;          // Host for requests that came without one
  std::span<const std::string_view> kept;  // fields Connection cannot remove
  body_frame body;
  // X-RateLimit-Degraded's value (limit/soft_limit.hpp: the limits whose `soft:` this
  // request passed); empty = not degraded, and no such field is sent.
  std::string_view degraded = {};
  // A WebSocket handshake (is_websocket_upgrade) to pass on: its Upgrade field goes
  // with it, and Connection: Upgrade.
  bool upgrade = false;
  bool tls = false;  // the client connection is TLS: X-Forwarded-Proto https
};

// A WebSocket opening handshake Sluice passes on (SPEC 15): a GET in HTTP/1.1, no body, one
// Upgrade line saying `websocket`, a Connection line naming `upgrade`. Any other
// Upgrade (h2c in particular, which would carry further requests inside the tunnel,
// past the limits) is stripped as a hop-by-hop field, and the request goes on as plain
// HTTP.
bool is_websocket_upgrade(const request_head& req, bool has_body);

// Writes the upstream's request head from the client's: request line in HTTP/1.1;
// every field in order except the hop-by-hop ones (Connection and every field it
// names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Connection), Expect
// (Sluice answers 100-continue itself) and the fields Sluice writes itself; then
// X-Forwarded-For (every line joined, then the peer), X-Forwarded-Proto: http or https
// (ctx.tls; a trusted peer's own is kept in place), Host when the request had none,
// X-Forwarded-Host (a trusted peer's own is kept), Via (every line joined, then "1.1 sluice"),
// X-RateLimit-Degraded when ctx.degraded is set (a client's own is never forwarded),
// Connection: Upgrade for a passed-on handshake (its Upgrade field then kept in place),
// and the body framing. Connection never names away Content-Length or Host (the framing: a
// client naming Content-Length would otherwise send the upstream a body it does not
// expect, read as a request of its own), nor a field in `kept` (the identity fields
// Sluice decided on). False, and `out` unusable, when a joined field would exceed
// max_field_value_bytes.
bool write_upstream_request_head(wire_buffer& out, const request_head& req,
                                 const upstream_request_context& ctx);

struct client_response_context {
  unsigned version = 11;  // the client's HTTP version: 10 or 11
  body_frame body;
  const limit::header_list* rate_headers = nullptr;  // replace the upstream's fields of these names
  bool keep_alive = true;
  // A 101 Switching Protocols answering a passed-on handshake: its Upgrade field goes
  // with it, and Connection: Upgrade (instead of keep-alive or close).
  bool upgrade = false;
};

// Writes the client's response head from the upstream's: status line (the upstream's
// reason phrase) in the client's version; every field in order except the hop-by-hop
// ones, the framing and those the rate-limit headers replace; then Via (joined, then
// "1.1 sluice"), the body framing, the rate-limit headers, and Connection when the
// client's version needs it to say so.
void write_client_response_head(wire_buffer& out, const response_parser& res,
                                const client_response_context& ctx);

}  // namespace sluice::net
