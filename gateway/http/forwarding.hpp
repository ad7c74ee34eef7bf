// Header rewriting for the proxy hop (SPEC 4 step 7): what the upstream receives and
// what the client gets back. Works on Beast headers in place; pure otherwise.
#pragma once

#include <string_view>

#include "http/net.hpp"

namespace sluice::net {

// Removes hop-by-hop fields: Connection and every field it names, Keep-Alive, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-Connection. The caller re-applies
// chunked framing and keep-alive for the next hop.
void strip_hop_by_hop(http::fields& fields);

struct forwarded_context {
  std::string_view peer_ip;        // the TCP peer, appended to X-Forwarded-For
  bool peer_trusted = false;       // a trusted proxy: its X-Forwarded-Proto is kept
  std::string_view upstream_host;  // Host for requests that came without one
};

// Turns the client's request head into the upstream's: hop-by-hop fields removed,
// Expect removed (Sluice answers 100-continue itself), X-Forwarded-For appended
// (all lines folded into one), X-Forwarded-Proto and X-Forwarded-Host set, Via
// appended, HTTP/1.1 towards the upstream. The caller re-applies chunked framing
// (Transfer-Encoding is hop-by-hop and removed here).
void prepare_upstream_request(http::request_header<>& req, const forwarded_context& ctx);

// Turns the upstream's response head into the client's: hop-by-hop fields removed
// and Via appended. Framing and keep-alive are decided by the session.
void prepare_client_response(http::response_header<>& res);

}  // namespace sluice::net
