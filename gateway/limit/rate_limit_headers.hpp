// The response headers and the 429 body that tell a client where it stands
// (SPEC 5): legacy X-RateLimit-*, IETF draft-6 / draft-7 / draft-10 RateLimit
// fields, Retry-After. Pure functions of a concluded evaluation; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "config/schema.hpp"
#include "limit/engine.hpp"
#include "limit/header_list.hpp"
#include "limit/rls_decision.hpp"

namespace sluice::limit {

// Appends the rate-limit headers for an allowed or limited request: nothing when no
// enforced limit applied. Retry-After is added for a limited one.
void append_rate_limit_headers(const evaluation& ev, const config::headers_config& cfg,
                               header_list& out);

// Seconds a limited client is told to wait (>= 1).
std::int64_t retry_after_seconds(const evaluation& ev);

// Appends the JSON body of a 429.
void append_rejection_body(const evaluation& ev, text_buffer& out);

// The same for the rate limit service's answer (issue 13: its response_headers_to_add
// and raw_body), `now` the clock the decision used. The name a status reports: its
// limit's `name`, else the descriptor's full key ("domain.key_value..."), else "" (a
// descriptor's own `limit`).
std::string_view rls_scope(const rls_evaluation& ev, std::size_t status);
void append_rls_headers(const rls_evaluation& ev, micros now, const config::headers_config& cfg,
                        header_list& out);
std::string rls_rejection_body(const rls_evaluation& ev, micros now);

}  // namespace sluice::limit
