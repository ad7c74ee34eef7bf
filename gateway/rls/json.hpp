// Envoy's rate limit service in JSON (issue 13), as envoyproxy/ratelimit's HTTP `/json`
// endpoint speaks it: a RateLimitRequest in proto3's JSON mapping in, a RateLimitResponse
// in that mapping out (field names in lowerCamelCase, enums by name, as Go's protojson
// writes them). Protobuf's own JSON parser reads the body; the caller bounds its size.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <envoy/service/ratelimit/v3/rls.pb.h>

namespace sluice::rls {

namespace pb = envoy::service::ratelimit::v3;

// Reads `body` into `out`; returns why it cannot (unknown fields are refused), or
// nothing.
std::optional<std::string> read_json_request(std::string_view body, pb::RateLimitRequest& out);

// The response as JSON.
std::string json_response(const pb::RateLimitResponse& response);

// The HTTP status envoyproxy/ratelimit answers a decided request with: 429 when over
// the limit, 200 when not.
int json_status(const pb::RateLimitResponse& response);

}  // namespace sluice::rls
