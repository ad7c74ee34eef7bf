// The response headers and the 429 body that tell a client where it stands
// (SPEC 5): legacy X-RateLimit-*, IETF draft-6 / draft-7 / draft-10 RateLimit
// fields, Retry-After. Pure functions of a concluded evaluation; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"
#include "limit/engine.hpp"
#include "limit/rls_decision.hpp"

namespace sluice::limit {

struct header_field {
  std::string_view name;
  std::string value;
};

// A reusable list of header fields: clear() keeps the value buffers.
class header_list {
 public:
  void clear() { size_ = 0; }
  std::string& add(std::string_view name);
  std::size_t size() const { return size_; }
  const header_field& operator[](std::size_t i) const { return fields_[i]; }
  const header_field* begin() const { return fields_.data(); }
  const header_field* end() const { return fields_.data() + size_; }

 private:
  std::vector<header_field> fields_;
  std::size_t size_ = 0;
};

// Appends the rate-limit headers for an allowed or limited request: nothing when no
// enforced limit applied. Retry-After is added for a limited one.
void append_rate_limit_headers(const evaluation& ev, const config::headers_config& cfg,
                               header_list& out);

// Seconds a limited client is told to wait (>= 1).
std::int64_t retry_after_seconds(const evaluation& ev);

// The JSON body of a 429.
std::string rejection_body(const evaluation& ev);

// The same for the rate limit service's answer (issue 13: its response_headers_to_add
// and raw_body), `now` the clock the decision used. The name a status reports: its
// limit's `name`, else the descriptor's full key ("domain.key_value..."), else "" (a
// descriptor's own `limit`).
std::string_view rls_scope(const rls_evaluation& ev, std::size_t status);
void append_rls_headers(const rls_evaluation& ev, micros now, const config::headers_config& cfg,
                        header_list& out);
std::string rls_rejection_body(const rls_evaluation& ev, micros now);

}  // namespace sluice::limit
