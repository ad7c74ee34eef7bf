// Every error Sluice itself answers, and the one function that turns it into an
// HTTP status and the JSON error body of SPEC 5:
//   {"error":{"code":"bad_gateway","message":"..."}}
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sluice::net {

enum class gateway_error {
  bad_request,           // 400 malformed request, smuggling attempt, bad path
  unauthorized,          // 401 admin token missing or wrong
  forbidden,             // 403 deny list, admin peer not allowed
  not_found,             // 404 (admin listener)
  method_not_allowed,    // 405 (admin listener)
  payload_too_large,     // 413 body over server.max_body_bytes
  headers_too_large,     // 431 head over server.max_header_bytes
  internal_error,        // 500 an unexpected failure, caught at the connection
  bad_gateway,           // 502 upstream connect failure or invalid response
  upstream_unavailable,  // 503 circuit breaker open
  storage_unavailable,   // 503 Redis down with storage.on_error: deny
  overloaded,            // 503 out of a local resource (file descriptors, ports)
  shutting_down,         // 503 the gateway is draining
  gateway_timeout,       // 504 no upstream response head within upstream.timeout
};

int status_of(gateway_error e);
std::string_view code_of(gateway_error e);  // "bad_gateway"

// The JSON error body: {"error":{"code":...,"message":...}}.
std::string error_body(gateway_error e, std::string_view message);

}  // namespace sluice::net
