// The decision for one request (SPEC 4 steps 3-6, SPEC 5): identify the client
// (API key, user, tier), apply the access lists, find the route and its cost, build
// the key of every applicable limit, let the store decide all of them at once, and
// pick the limit the headers report.
//
// Split in two halves around the store call so the same code serves the memory
// store (synchronous) and the Redis store (one asynchronous round trip):
//   prepare(...)   -> ev.checks are the store's input (empty: nothing to decide)
//   store.decide(ev.checks, ev.now, ev.decisions)
//   conclude(ev, admitted)
// An `evaluation` is per-request scratch space; reuse one per connection so the
// request path does not allocate once its buffers have grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "identity/overrides.hpp"
#include "limit/memory_store.hpp"
#include "limit/policy.hpp"
#include "limit/scaling.hpp"
#include "util/jwt.hpp"

namespace sluice::limit {

// The lines of one field name in a request head.
struct header_lines {
  std::optional<std::string_view> first;  // the first line's value; nullopt: no line
  bool repeated = false;  // more than one line: an identity there is ambiguous (a 400)
};

// Header lookup implemented by the HTTP layer (names are lower case).
class request_headers {
 public:
  virtual ~request_headers() = default;
  // One lookup answers both what the field says and whether it says it twice.
  virtual header_lines lines(std::string_view lower_name) const = 0;
};

// What the gateway knows about a request when its head has been read.
struct request_facts {
  std::string_view method;
  std::string_view target;             // origin-form request-target: path[?query]
  ip_address client_ip;                // already resolved through trusted proxies
  bool peer_is_trusted_proxy = false;  // the tier (and by default the user) header only then
  const request_headers* headers = nullptr;
  // The verified TLS client certificate's name (tls::client_certificate_name), for the
  // `client_cert` key part; empty without one.
  std::string_view client_cert = {};
};

enum class outcome {
  allowed,       // forward (possibly after `delay`)
  limited,       // 429
  forbidden,     // deny list: 403
  bypassed,      // allow list or `limits: off`: forward without limits or headers
  bad_request,   // a rejected path spelling or an ambiguous identity: 400 (see problem)
  unauthorized,  // identity.jwt: a token that fails verification, or none when required: 401
};

// One limit that applied to the request.
struct applied_limit {
  std::uint16_t limit = 0;  // index into policy::limits()
  const limit_params* params = nullptr;
  std::uint32_t key_begin = 0;  // the key text is evaluation::keys[key_begin, key_end)
  std::uint32_t key_end = 0;
  bool shadow = false;
  decision result;
  double factor = 1.0;  // the scaling applied (limit/scaling.hpp); params is the scaled copy
  // Admitted past this limit's `soft:` threshold (limit/soft_limit.hpp).
  bool degraded = false;
};

struct evaluation {
  // Inputs copied by prepare().
  const policy* pol = nullptr;
  micros now = 0;

  // Identity and route.
  // identity.jwt: the verified token's claims (has_token), or why it was refused
  // (unauthorized: "missing" or util/jwt.hpp's error name).
  jwt_claims claims;
  bool has_token = false;
  std::string_view token_rejection;
  std::string client_ip;  // the `ip` key part: IPv4 text, or the IPv6 prefix ("2001:db8::/64")
  std::string_view api_key;
  std::string_view user;
  int tier = no_tier;
  int route = -1;
  std::int64_t cost = 1;

  // The store's input and output (parallel arrays with `applied`).
  std::vector<applied_limit> applied;
  std::vector<check> checks;
  std::vector<decision> decisions;
  // Scaled copies of limit parameters (limit/scaling.hpp) that `applied` points into;
  // reserved before use so the pointers stay valid.
  std::vector<limit_params> scaled;

  // The conclusion.
  outcome result = outcome::allowed;
  std::string_view problem;  // bad_request: why, for the 400 body (a static message)
  int reported = -1;         // index into `applied` of the limit the headers describe; -1 = none
  int denying = -1;          // index into `applied` of the limit that denied; -1 = none
  micros delay = 0;          // leaky_bucket shaping: hold the request this long
  bool degraded = false;     // an enforced limit's `soft:` was passed: forward it marked

  // Concurrency limits (limit::holds_in_flight): the slots an admitted request holds
  // until its exchange ends, when the session gives them back through the backend that
  // took them (decision_backend::finish). hold_id: the Redis lease id they are held
  // under (empty when decided in memory); decided_locally: the Redis backend decided in
  // its in-process store (storage.on_error: local), where slots go back and costs settle.
  std::string hold_id;
  bool decided_locally = false;
  bool holds(std::size_t check) const;  // check's limit holds a slot of this request
  // A cost from the response (`cost:`, limit/response_cost.hpp): check's limit charged its
  // reserve (ev.checks[check].cost) and settles when the response ends.
  bool settles(std::size_t check) const;
  // Anything for decision_backend::finish() when the exchange ends.
  bool finishes() const;

  // Reused buffers.
  std::string path;             // normalized path
  std::string keys;             // key texts of `applied`
  std::string scratch;          // the unfolded path while routing, then the ID-collapsed path
  std::string decoded_api_key;  // the API key when it came percent-encoded in the query
  std::string client_text;      // the client identity a sharded limit hashes (`client` part)

  std::string_view key_of(const applied_limit& a) const {
    return std::string_view(keys).substr(a.key_begin, a.key_end - a.key_begin);
  }
  const compiled_limit& limit_of(const applied_limit& a) const { return pol->limits()[a.limit]; }
  const compiled_route& route_info() const { return pol->route(route); }
  std::string_view tier_name() const;  // "" when none

  // Forgets the previous request (buffers keep their capacity).
  void reset();
};

// Steps up to the store call. `overrides` and `scaling` may be null. Afterwards
// ev.result is final unless ev.checks is non-empty (then call the store and conclude()).
void prepare(const policy& pol, const request_facts& facts, const identity::overrides* overrides,
             micros now, evaluation& ev, const scaling_sources* scaling = nullptr);

// Folds the store's decisions (ev.decisions) into the result: limited or allowed,
// the denying and reported limits, the shaping delay.
void conclude(evaluation& ev, bool admitted);

// The limit a denied request reports (SPEC 5), by ev.decisions: of the enforced limits
// that deny, the one with the longest retry_after (the first of equals); -1 if none.
int denying_limit(const evaluation& ev);

// The check API's evaluation: one limit, an explicit key, `cost` units, enforced
// (even for a shadow limit: the caller asks whether it would pass), scaled like a
// proxied request when `scaling` is given. No route.
void prepare_single(const policy& pol, int limit_index, const limit_params& params,
                    std::string_view key, std::int64_t cost, micros now, evaluation& ev,
                    const scaling_sources* scaling = nullptr);

// prepare + memory store + conclude.
void decide(const policy& pol, const request_facts& facts, const identity::overrides* overrides,
            memory_store& store, micros now, evaluation& ev);

// `params` (of `limit`) as a request at `now` applies them: for a rate that counts
// calendar periods, its fixed window set to the period that holds `now`
// (config/calendar.hpp); otherwise unchanged. prepare() and prepare_single() apply it;
// a peek at a key's state calls it.
limit_params params_at(const compiled_limit& limit, const limit_params& params, micros now);

// The keyed hash of a limit's key text: what the stores index by.
std::uint64_t state_key(const compiled_limit& limit, std::string_view key_text);

}  // namespace sluice::limit
