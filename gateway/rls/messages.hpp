// The rate limit service's wire messages (envoy.service.ratelimit.v3, proto/) to and
// from the transport-free decision (limit/rls_decision.hpp). No I/O here: the gRPC
// service (rls/service.hpp) reads a request, decides, and writes the answer.
#pragma once

#include <envoy/service/ratelimit/v3/rls.pb.h>

#include "config/schema.hpp"
#include "limit/rate_limit_headers.hpp"
#include "limit/rls_decision.hpp"

namespace sluice::rls {

namespace pb = envoy::service::ratelimit::v3;

// The request as the decision reads it: views into `in`, which must outlive `out`.
// Reads at most one descriptor, and one entry per descriptor, more than the decision
// accepts (limit::max_rls_descriptors, max_rls_entries): enough for prepare_rls to
// refuse the request, without copying what a hostile one holds beyond that.
void read_request(const pb::RateLimitRequest& in, limit::rls_request& out);

// How the storage answered.
enum class storage_answer {
  decided,      // ev holds the decision (conclude_rls ran)
  unchecked,    // storage.on_error allow with the storage down: admitted, nothing decided
  unavailable,  // storage.on_error deny with the storage down: denied
};

// The answer: the overall code; one status per descriptor (code, current_limit,
// limit_remaining, duration_until_reset); response_headers_to_add with the rate-limit
// headers `headers:` configures (for an allowed answer too, as the proxy sends them);
// raw_body with the 429 JSON when over the limit. `now` is the clock the decision used.
//   unchecked:   every descriptor OK without a current limit, no headers.
//   unavailable: OVER_LIMIT for every descriptor a limit applies to, raw_body the
//                storage_unavailable JSON error, no rate-limit headers.
// `fields` is scratch space (reused across calls).
void write_response(const limit::rls_evaluation& ev, storage_answer storage, limit::micros now,
                    const config::headers_config& headers, limit::header_list& fields,
                    pb::RateLimitResponse& out);

}  // namespace sluice::rls
