// Header rewriting for the proxy hop (SPEC 4 step 7): what the upstream receives and
// what the client gets back. Works on Beast headers in place; pure otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "http/net.hpp"

namespace sluice::net {

// Removes hop-by-hop fields: Connection and every field it names, Keep-Alive, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-Connection. Connection can never name
// away Content-Length or Host (the framing: a client naming Content-Length would
// otherwise send the upstream a body it does not expect, read as a request of its
// own), nor any field in `kept` (the identity fields Sluice decided on). The caller
// sets the framing for the next hop (set_body_framing) and keep-alive.
void strip_hop_by_hop(http::fields& fields, std::span<const std::string_view> kept = {});

// How the next hop learns where a body ends.
enum class body_framing {
  none,         // no body
  length,       // Content-Length
  chunked,      // Transfer-Encoding: chunked
  until_close,  // the end of the connection (responses to HTTP/1.0 clients)
};

// Replaces every Content-Length and Transfer-Encoding field with the one framing
// Sluice writes the body with: what the next hop parses is what Sluice sends.
void set_body_framing(http::fields& fields, body_framing framing, std::uint64_t length = 0);

struct forwarded_context {
  std::string_view peer_ip;                // the TCP peer, appended to X-Forwarded-For
  bool peer_trusted = false;               // a trusted proxy: its X-Forwarded-Proto is kept
  std::string_view upstream_host;          // Host for requests that came without one
  std::span<const std::string_view> kept;  // fields Connection cannot remove
};

// Turns the client's request head into the upstream's: hop-by-hop fields removed,
// Expect removed (Sluice answers 100-continue itself), X-Forwarded-For appended
// (all lines folded into one), X-Forwarded-Proto and X-Forwarded-Host set, Via
// appended, HTTP/1.1 towards the upstream. The caller sets the body framing.
void prepare_upstream_request(http::request_header<>& req, const forwarded_context& ctx);

// Turns the upstream's response head into the client's: hop-by-hop fields removed
// and Via appended. Framing and keep-alive are decided by the session.
void prepare_client_response(http::response_header<>& res);

}  // namespace sluice::net
