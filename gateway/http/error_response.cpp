#include "http/error_response.hpp"

#include "telemetry/metrics.hpp"
#include "util/json_text.hpp"

namespace sluice::net {

int status_of(gateway_error e) {
  switch (e) {
    case gateway_error::bad_request:
      return 400;
    case gateway_error::unauthorized:
      return 401;
    case gateway_error::forbidden:
      return 403;
    case gateway_error::not_found:
      return 404;
    case gateway_error::method_not_allowed:
      return 405;
    case gateway_error::payload_too_large:
      return 413;
    case gateway_error::headers_too_large:
      return 431;
    case gateway_error::internal_error:
      return 500;
    case gateway_error::bad_gateway:
      return 502;
    case gateway_error::upstream_unavailable:
    case gateway_error::storage_unavailable:
    case gateway_error::overloaded:
    case gateway_error::shutting_down:
      return 503;
    case gateway_error::gateway_timeout:
      return 504;
  }
  return 500;
}

std::string_view code_of(gateway_error e) {
  switch (e) {
    case gateway_error::bad_request:
      return "bad_request";
    case gateway_error::unauthorized:
      return "unauthorized";
    case gateway_error::forbidden:
      return "forbidden";
    case gateway_error::not_found:
      return "not_found";
    case gateway_error::method_not_allowed:
      return "method_not_allowed";
    case gateway_error::payload_too_large:
      return "payload_too_large";
    case gateway_error::headers_too_large:
      return "headers_too_large";
    case gateway_error::internal_error:
      return "internal_error";
    case gateway_error::bad_gateway:
      return "bad_gateway";
    case gateway_error::upstream_unavailable:
      return "upstream_unavailable";
    case gateway_error::storage_unavailable:
      return "storage_unavailable";
    case gateway_error::overloaded:
      return "overloaded";
    case gateway_error::shutting_down:
      return "shutting_down";
    case gateway_error::gateway_timeout:
      return "gateway_timeout";
  }
  return "internal_error";
}

std::string error_body(gateway_error e, std::string_view message) {
  std::string body = R"({"error":{"code":)";
  append_json_string(body, code_of(e));
  body += R"(,"message":)";
  append_json_string(body, message);
  body += "}}";
  return body;
}

failure_answer answer_for(exchange_failure f) {
  using kind = admin::upstream_error_kind;
  switch (f) {
    case exchange_failure::none:
      break;
    case exchange_failure::connect:
      return {true, gateway_error::bad_gateway, "Upstream connection failed", 0, kind::connect};
    case exchange_failure::local_resources:
      return {true, gateway_error::overloaded,
              "Gateway out of file descriptors or ports for the upstream", 1, std::nullopt};
    case exchange_failure::timeout:
      return {true, gateway_error::gateway_timeout,
              "Upstream did not respond within upstream.timeout", 0, kind::timeout};
    case exchange_failure::reset:
      return {true, gateway_error::bad_gateway, "Upstream closed the connection", 0, kind::reset};
    case exchange_failure::invalid:
      return {true, gateway_error::bad_gateway, "Upstream sent an invalid response", 0,
              kind::invalid};
    case exchange_failure::client_gone:
      return {false, gateway_error::bad_request, {}, 0, std::nullopt};
    case exchange_failure::client_body_too_large:
      return {true, gateway_error::payload_too_large, "Request body exceeds server.max_body_bytes",
              0, std::nullopt};
    case exchange_failure::client_body_malformed:
      return {true, gateway_error::bad_request, "Malformed request body", 0, std::nullopt};
  }
  return {false, gateway_error::bad_request, {}, 0, std::nullopt};
}

}  // namespace sluice::net
