// The rate limit service's decision (issue 13): a RateLimitRequest's descriptors matched
// against envoyproxy/ratelimit's configuration (limit/rls_matcher.hpp), decided by the
// same stores as the proxy's own limits, answered as a RateLimitResponse's codes and
// statuses. No transport here: the gRPC service and the HTTP /json endpoint parse into
// an rls_request and write out the evaluation's answer.
//
// Split around the store call like limit/engine.hpp, so the memory store (synchronous)
// and the Redis store (one round trip) take the same code:
//   prepare_rls(policy, request, ev)        -> ev.checks (one per limited descriptor)
//   all_or_nothing: store.decide(ev.checks, now, ev.decisions)
//   each:           store.decide on every check alone
//   conclude_rls(ev, charging, admitted)    -> ev.overall, ev.statuses
//
// Windows are envoyproxy/ratelimit's: fixed, aligned to the Unix epoch, a month of 30
// days and a year of 365 (config::rls_unit_seconds), unless a rate_limit's `sluice:`
// extension names another algorithm (and a bucket's burst) over the same N per unit. Its descriptor
// key text (the request's entries, values included) is the state key, so `key: remote_address`
// without a value counts each address apart, as it does there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/calendar.hpp"
#include "config/limit_params.hpp"
#include "config/rls_schema.hpp"
#include "limit/memory_store.hpp"
#include "limit/rls_matcher.hpp"

namespace sluice::limit {

// Bounds on one request, whatever the transport allows.
inline constexpr std::size_t max_rls_descriptors = 64;
inline constexpr std::size_t max_rls_entries = 16;  // the config's nesting bound

// envoy.service.ratelimit.v3.RateLimitResponse.Code, with its proto numbers.
enum class rls_code : int { unknown = 0, ok = 1, over_limit = 2 };

// A descriptor's own `limit`: it replaces whatever the configuration says (the domain
// must still be configured). `unit` is the proto's number, checked by prepare_rls.
struct rls_limit_override {
  std::uint32_t requests_per_unit = 0;
  int unit = 0;
};

struct rls_descriptor_request {
  std::vector<rls_entry> entries = {};  // views into the transport's request
  std::optional<rls_limit_override> limit = {};
  std::optional<std::uint64_t> hits_addend = {};  // set: this descriptor's hits, 0 = a peek
};

struct rls_request {
  std::string_view domain = {};
  std::vector<rls_descriptor_request> descriptors = {};
  std::uint32_t hits_addend = 0;  // proto3 cannot tell 0 from unset: 0 means 1
};

struct rls_current_limit {
  std::uint32_t requests_per_unit = 0;
  config::rls_unit unit = config::rls_unit::second;
  std::string_view name;  // the configured `name`, "" for none
};

// One descriptor's answer, in envoyproxy/ratelimit's terms: no limit = ok without
// current_limit (remaining 0); unlimited = ok, remaining 2^32-1; a shadow_mode limit
// answers ok when over.
struct rls_status {
  rls_code code = rls_code::ok;
  std::optional<rls_current_limit> current_limit;
  std::uint32_t limit_remaining = 0;
  micros duration_until_reset = 0;  // to the end of the window; only with current_limit
};

// How a request's descriptors are charged (config.yaml `rls.charging`).
using rls_charging = config::rls_charging;

// The configuration compiled for deciding: its matcher, and each limited descriptor's
// parameters and state namespace. Immutable once built (any thread may read it); not
// copyable or movable, since the matcher points into the configuration it holds.
class rls_policy {
 public:
  // `hash_seed` keys the state hashes, like policy's.
  rls_policy(config::rls_config config, std::uint64_t hash_seed);
  rls_policy(const rls_policy&) = delete;
  rls_policy& operator=(const rls_policy&) = delete;

  const config::rls_config& config() const { return config_; }
  const rls_matcher& matcher() const { return matcher_; }
  std::uint64_t hash_seed() const { return hash_seed_; }

  struct compiled {
    limit_params params;     // requests_per_unit per unit; fixed_window unless `sluice:`
    std::uint64_t seed = 0;  // the state namespace: of state_name
    std::string state_name;  // "rls:<domain>:<unit>[:<algorithm>]" (the Redis key's middle)
    // `sluice: { calendar }`: the zone and anchor of the unit's calendar periods.
    std::optional<limit::calendar> calendar = {};
  };
  // Of a descriptor with a (non-unlimited) rate_limit, found by the matcher.
  const compiled& of(const config::rls_descriptor& d) const { return compiled_.at(&d); }

 private:
  config::rls_config config_;
  rls_matcher matcher_;  // after config_: it borrows it
  std::uint64_t hash_seed_;
  std::unordered_map<const config::rls_descriptor*, compiled> compiled_;
};

// Per-request scratch space; reuse one per connection or stream.
struct rls_evaluation {
  std::string_view problem;  // set by prepare_rls for a malformed request (a static text)

  // Per descriptor of the request, in its order (parallel arrays): the configured limit
  // that applies (null: none, or the descriptor's own `limit`), and what to decide.
  std::vector<const config::rls_descriptor*> found;
  struct descriptor_plan {
    bool unlimited = false;
    std::optional<rls_limit_override> override_limit;
    int check = -1;  // index into checks; -1 = nothing to decide
    std::int64_t hits = 1;
  };
  std::vector<descriptor_plan> plan;

  // The store's input and output (parallel arrays).
  std::vector<check> checks;
  std::vector<decision> decisions;
  // Params made for this request, one per descriptor at most: a descriptor's own limit, or
  // a calendar limit in its period. Reserved first: checks point into it.
  std::vector<limit_params> params_copies;
  // Per check, its state as the Redis backend names it: "rls:<domain>:<unit>..." (a view
  // of the policy's compiled name, or of override_names for a descriptor's own limit)
  // and the entries' text. Only the first checks.size() keys are this request's (the
  // strings are kept for reuse).
  std::vector<std::string_view> state_names;
  std::vector<std::string> override_names;  // reserved first: state_names view them
  std::vector<std::string> state_keys;

  // The answer.
  rls_code overall = rls_code::ok;
  std::vector<rls_status> statuses;
  int reported = -1;  // the status the rate-limit headers describe; -1 = none

  void reset();
};

// Matches every descriptor and builds the checks. Afterwards either ev.problem is set
// (the transport answers an error: INVALID_ARGUMENT, or 400) or ev.checks is the store's
// input (possibly empty: nothing to decide, conclude at once).
// `now` is the clock a calendar period (`sluice: { calendar }`) is worked out on.
void prepare_rls(const rls_policy& pol, const rls_request& request, rls_evaluation& ev, micros now);

// Folds the store's decisions into the answer. `admitted` is what the all-or-nothing
// decide returned (ignored with `each`: there each check's own verdict says whether it
// was charged).
void conclude_rls(rls_evaluation& ev, rls_charging charging, bool admitted);

// prepare_rls + memory store + conclude_rls.
void decide_rls(const rls_policy& pol, const rls_request& request, memory_store& store, micros now,
                rls_charging charging, rls_evaluation& ev);

}  // namespace sluice::limit
