// Every error Sluice itself answers, the one function that turns it into an HTTP
// status and the JSON error body of SPEC 5:
//   {"error":{"code":"bad_gateway","message":"..."}}
// and the one map from a failed upstream exchange to that answer (SPEC 4 step 8).
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::admin {
enum class upstream_error_kind : std::uint8_t;  // telemetry/metrics.hpp
}

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

// How an exchange with the upstream went wrong, on either side of Sluice.
enum class exchange_failure {
  none,
  connect,                // no connection to the upstream
  local_resources,        // no descriptor or port for one (EMFILE, ENFILE, ...)
  timeout,                // no response head within upstream.timeout
  reset,                  // the upstream closed or reset the connection
  invalid,                // the upstream's response cannot be relayed
  client_gone,            // the client left or stalled while sending its body
  client_body_too_large,  // the body passed server.max_body_bytes
  client_body_malformed,  // bad chunk framing, or a trailer section too large
};

// What the client gets when an exchange fails before the response head went out.
struct failure_answer {
  bool answered = true;  // false: the client left; close without a response
  gateway_error error = gateway_error::bad_gateway;
  std::string_view message;
  std::int64_t retry_after_s = 0;
  // Counted in gateway_upstream_errors_total{kind} and fed to the circuit breaker;
  // nothing for failures on the client's side or of this machine.
  std::optional<admin::upstream_error_kind> upstream_fault;
};
failure_answer answer_for(exchange_failure f);

}  // namespace sluice::net
