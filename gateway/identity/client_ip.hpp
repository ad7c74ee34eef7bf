// Client IP resolution through trusted proxies (SPEC 4, step 2). Pure; thread-safe.
#pragma once

#include <span>
#include <string_view>

#include "config/schema.hpp"
#include "util/ip_address.hpp"

namespace sluice::identity {

// Returns the client address of a request that arrived from `peer`.
// - peer not in `trusted`: the peer, whatever the headers say.
// - peer trusted: walk the configured header's entries right to left (all header
//   lines in order of appearance, joined as one comma-separated list), skipping
//   trusted addresses; the first untrusted address is the client. When every
//   entry is trusted, the leftmost one is the client. An entry that is not an
//   address (garbage, "unknown", an obfuscated RFC 7239 identifier) ends the walk,
//   and the last address accepted so far (initially the peer) is the client.
// - x_forwarded_for: entries are addresses, optionally with a port
//   ("1.2.3.4:80", "[2001:db8::1]:443").
// - forwarded (RFC 7239): each element's `for=` parameter, token or quoted string,
//   quoted IPv6 with brackets and optional port ("[2001:db8::1]:4711"); parameter
//   names are case-insensitive; elements without `for=` are skipped.
// - x_real_ip: a single address (the last line if repeated).
// IPv4-mapped IPv6 addresses are IPv4 (ip_address stores them that way).
ip_address resolve_client_ip(const ip_address& peer, std::span<const std::string_view> header_lines,
                             config::client_ip_source source, std::span<const cidr> trusted);

}  // namespace sluice::identity
