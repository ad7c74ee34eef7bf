// Sluice's own checks on a request head Beast has parsed (SPEC 4 step 1, SPEC 13):
// what Beast accepts but an edge proxy must refuse, because Sluice and the upstream
// could read the message differently. Beast already rejects Content-Length with
// Transfer-Encoding, differing Content-Length values, bad field names and values,
// and bare LF line endings. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "http/error_response.hpp"
#include "http/head_arena.hpp"
#include "http/response_head.hpp"
#include "net/asio.hpp"

namespace sluice::net {

struct head_problem {
  gateway_error error;
  std::string_view message;  // static text, for the JSON error body
};

// True when the Transfer-Encoding lines of `fields`, taken together, are exactly one
// "chunked" (or absent). Any other coding (gzip, identity, a list) is refused in both
// directions: Sluice re-frames bodies and would drop the coding.
bool transfer_coding_ok(const head_fields& fields);
bool transfer_coding_ok(std::span<const head_field> fields);  // an upstream's response

// The first problem with a parsed request head, or nothing:
// - Transfer-Encoding other than exactly "chunked", or any in an HTTP/1.0 request;
// - no Host in an HTTP/1.1 request, two Host lines, or a Host that is not a host[:port];
// - a field that spells Content-Length, Transfer-Encoding or Host with '_' for '-'
//   (CGI-style upstreams read those as the real field);
// - a CONNECT request, or a target that is neither origin-form, absolute-form nor "*".
// (A Content-Length over the body limit is Beast's body_limit error.)
// `summary`, when given, gets what the session needs from the same pass over the fields.
struct head_summary {
  bool keep_alive = false;        // req.keep_alive()
  bool expects_continue = false;  // Expect: 100-continue (the first Expect line)
};
std::optional<head_problem> check_request_head(const request_message& req,
                                               head_summary* summary = nullptr);

// An absolute-form target ("http://host/path?q") becomes origin-form ("/path?q") and
// its authority replaces Host (RFC 9112 3.2.2); other targets are left alone.
void to_origin_form(request_head& req);

}  // namespace sluice::net
