// The validated configuration as plain, immutable values (SPEC sections 2 and 3).
// Produced only by config::load (loader.hpp), the one place that reads YAML; the
// rest of Sluice reads these structs. Thread-safe to share once built.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/limit_params.hpp"
#include "config/path.hpp"
#include "util/ip_address.hpp"

namespace sluice {
class jwt_keys;  // util/jwt.hpp
}

namespace sluice::config {

using duration = std::chrono::milliseconds;

// Where a value came from, for messages such as "defined twice (first at ...)".
// Line and column are 1-based; both 0 when the position is unknown.
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const;  // "file:line:col"
};

struct host_port {
  std::string host;  // an IP literal (IPv6 without brackets) or a host name
  std::uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
};

// ---- config.yaml ------------------------------------------------------------

// upstream.tls, for an https:// upstream (SPEC 15, HTTPS upstreams); paths resolved
// against the config file's directory.
struct upstream_tls {
  std::string ca = {};           // PEM bundle to verify the upstream with; empty: the system's
  std::string server_name = {};  // what its certificate must name; empty: the URL's host
  std::string cert = {};         // a client certificate for the upstream (with key), or empty
  std::string key = {};
  bool insecure_skip_verify = false;  // no verification at all (warned at start)
  source_location where = {};         // upstream.tls (or upstream.url), for file errors
};

struct upstream_config {
  std::string url;  // as written, e.g. http://127.0.0.1:8000
  host_port address;
  std::optional<upstream_tls> tls;  // set for an https:// URL
  duration connect_timeout{};
  duration timeout{};  // until the upstream response head arrives
  int max_idle_connections = 0;
  int breaker_failures = 0;  // consecutive connect/5xx failures that open the breaker
  duration breaker_cooldown{};
};

// server.websocket_messages: what a WebSocket tunnel carries from the client, per
// tunnel (http/websocket_frames.hpp). Messages beyond it wait; none is dropped.
struct websocket_message_limit {
  double per_second = 0;
  std::int64_t burst = 0;
};

struct server_settings {
  int threads = 0;  // 0 = one per core
  duration header_timeout{};
  duration idle_timeout{};
  std::uint64_t max_header_bytes = 0;
  std::uint64_t max_body_bytes = 0;
  duration drain_timeout{};
  std::string access_log;   // "stdout", "off" or a file path
  int max_connections = 0;  // client connections; 0 = derived from the open-file limit
  std::optional<websocket_message_limit> websocket_messages;  // absent: unlimited
};

struct admin_config {
  std::vector<host_port> listen;
  std::string token;  // empty = no token required
  std::vector<cidr> allow;
  std::string check_limit;  // empty = the first limit
};

enum class client_ip_source { x_forwarded_for, forwarded, x_real_ip };

// identity.jwt (issue 14): clients identified by a verified JSON Web Token
// (util/jwt.hpp). A request without a token is anonymous unless `required`.
struct jwt_config {
  std::string header = "authorization";  // lower case; its value is "Bearer <token>"
  std::string jwks_file;                 // resolved against config.yaml's directory
  std::vector<std::string> issuers;      // empty: any
  std::vector<std::string> audiences;    // empty: any
  bool required = false;                 // no token: 401 instead of anonymous
  std::int64_t leeway_seconds = 30;      // exp/nbf tolerance (clock skew)
  std::shared_ptr<const jwt_keys> keys;  // the JWKS, loaded with the config
};

struct identity_config {
  std::vector<cidr> trusted_proxies;
  client_ip_source client_ip_header = client_ip_source::x_forwarded_for;
  int ipv6_prefix = 64;
  std::string api_key_header;  // empty = not read from a header
  std::string api_key_query;   // empty = not read from the query string
  std::string user_header;
  bool user_trusted_only = true;  // the user header is believed only from trusted_proxies
  std::string tier_header;
  // identity.user.claim / identity.tier.claim: the user and the tier from a claim of the
  // request's verified JWT (empty: not from the token). Need identity.jwt.
  std::string user_claim;
  std::string tier_claim;
  std::optional<jwt_config> jwt;
};

enum class legacy_reset_format { epoch, delta };
enum class standard_headers { draft6, draft7, draft10, off };

struct headers_config {
  bool legacy = true;
  legacy_reset_format legacy_reset = legacy_reset_format::epoch;
  standard_headers standard = standard_headers::draft6;
  bool retry_after = true;
};

enum class storage_backend { memory, redis };
enum class storage_error_mode { local, allow, deny };

// How storage.redis.address is read: one server, cluster seeds, or the sentinels.
enum class redis_mode { single, cluster, sentinel };

// storage.redis.sentinel (sentinel mode only).
struct redis_sentinel_config {
  std::string master;    // the name the sentinels monitor (SENTINEL get-master-addr-by-name)
  std::string password;  // the sentinels' requirepass; empty = none
};

struct redis_config {
  redis_mode mode = redis_mode::single;
  std::vector<host_port> addresses;  // single: one server; cluster: seeds; sentinel: sentinels
  redis_sentinel_config sentinel;    // sentinel mode only
  std::string password;              // the data servers' password (also in sentinel mode)
  int database = 0;
  duration timeout{};
  int connections = 0;
  std::string key_prefix;
  std::uint64_t local_denials = 0;  // entries of the local-denial cache; 0 = off
};

struct storage_config {
  storage_backend backend = storage_backend::memory;
  std::uint64_t max_keys = 0;
  redis_config redis;
  storage_error_mode on_error = storage_error_mode::local;
};

// A TLS listener's certificates (SPEC 15, issue 12); paths resolved against the config
// file's directory. What the files hold is checked when the gateway loads them
// (tls/configured_contexts.hpp), and reported at `where`.
struct tls_certificate_files {
  std::string cert;  // PEM: the certificate, then its chain
  std::string key;   // PEM private key
};

struct listen_tls {
  std::vector<tls_certificate_files> certificates;  // at least one; the first is the default
  std::string client_ca = {};  // PEM CA bundle; set: clients must present a certificate it signed
  source_location where = {};  // the `tls` key, for errors found in the files
};

// One `listen` entry: an address, plain HTTP or TLS.
struct listen_address {
  host_port address;
  std::optional<listen_tls> tls;  // absent: plain HTTP
};

// How the rate limit service charges a request's descriptors (issue 13).
enum class rls_charging {
  all_or_nothing,  // Sluice's: a request over any enforced limit charges none
  each,            // envoyproxy/ratelimit's: each descriptor within its limit is charged
};

// `rls:` — Envoy's rate limit service (gRPC), deciding on envoyproxy/ratelimit's
// configuration directory. Absent: off.
struct rls_service_config {
  host_port listen;
  std::string config;  // the directory, resolved against the config file's directory
  rls_charging charging = rls_charging::all_or_nothing;
};

struct server_config {
  std::string file;  // the config file path as given
  std::vector<listen_address> listen;
  upstream_config upstream;
  server_settings server;
  admin_config admin;
  identity_config identity;
  headers_config headers;
  storage_config storage;
  std::string policies;  // resolved against the config file's directory
  bool reload_watch = true;
  std::optional<rls_service_config> rls;
};

// ---- policies/*.yaml --------------------------------------------------------

struct rate {
  std::int64_t count = 0;    // N
  limit::micros period = 0;  // a calendar unit's longest period (31 days for a month)
  limit::calendar_unit calendar = limit::calendar_unit::none;  // N/day, N/week, N/month
};

// A limit's `calendar:` (config/calendar.hpp): the time zone and anchor of its periods.
struct calendar_def {
  std::string time_zone = "UTC";  // an IANA name, from the system's tz database
  int anchor_day = 1;             // N/month: day of month 1..31; N/week: 1 Monday..7 Sunday
  bool anchor_set = false;        // `anchor_day:` given (rejected for N/day)
};

struct tier_def {
  std::string name;
  bool unlimited = false;
  config::rate rate;       // unset when unlimited
  std::int64_t burst = 0;  // 0 = N
  source_location where;
};

struct api_key_def {
  std::string key;
  std::string tier;  // empty = default tier
  std::string user;  // empty = none
  source_location where;
};

struct access_list {
  std::vector<cidr> ips;
  std::vector<std::string> api_keys;
  std::vector<std::string> users;
};

struct route_def {
  std::string name;
  std::vector<std::string> methods;  // upper case; empty = any method
  std::string pattern;               // "/users/{id}", "/ocr/*", "/static/**"
  std::int64_t cost = 1;
  bool limits_off = false;  // `limits: off`: bypass every limit
  source_location where;
};

enum class key_part_kind {
  global,
  ip,
  api_key,
  user,
  client,
  route,
  method,
  path,
  header,
  client_cert,  // the verified TLS client certificate's name (SPEC 15, mTLS listeners)
  jwt,          // a claim of the request's verified JWT (issue 14): "jwt:<claim>"
};
// Each kind's name in policies, /admin/config and --check-config, in enum order.
inline constexpr std::array<std::string_view, 11> key_part_names = {
    "global", "ip",   "api_key", "user",        "client", "route",
    "method", "path", "header",  "client_cert", "jwt"};

struct key_part {
  key_part_kind kind = key_part_kind::global;
  // kind == header: the header name, lower case; kind == jwt: the claim's name.
  std::string header;
  friend bool operator==(const key_part&, const key_part&) = default;
};

// A limit's key as operators write it, e.g. "ip,header:x-team" (`separator` between parts).
std::string key_text(const std::vector<key_part>& key, std::string_view separator = ",");

enum class count_mode { cost, requests };

// `adaptive:` on a limit (issue 15, load-aware limits): the factor in
// [min_factor, max_factor] that scales its rate and burst follows `signal` against `target`.
enum class adaptive_signal { upstream_latency, upstream_errors, upstream_inflight };

struct adaptive_def {
  adaptive_signal signal = adaptive_signal::upstream_latency;
  double target = 0;  // latency: microseconds; errors: a share in (0, 1); inflight: a count
  double min_factor = 0.25;
  double max_factor = 1.0;
  source_location where;
};

// `penalty:` on a limit (issue 15, penalty box): a key whose share of rejected requests
// reaches `rejected_share` (over at least `min_requests` in `window`) gets the limit
// scaled by `factor` for `duration`.
struct penalty_def {
  double rejected_share = 0.5;
  std::int64_t min_requests = 20;
  limit::micros window = 0;
  double factor = 0.3;
  limit::micros duration = 0;
  source_location where;
};

// `soft:` on a limit (issue 15, soft limits): an admitted request that leaves more than
// this much of the limit's capacity used is forwarded marked degraded (limit/soft_limit.hpp).
// Exactly one of the two is set.
struct soft_def {
  std::int64_t count = 0;         // `soft: 800`: an absolute number of units
  std::int32_t basis_points = 0;  // `soft: 80%` -> 8000 (hundredths of a percent, 1..9999)
  friend bool operator==(const soft_def&, const soft_def&) = default;
};

// `lease:` on a limit (issue 15, local quota leases; Redis backend only): a gateway takes
// up to max_tokens of a key's budget from Redis in one call and spends them locally for
// at most max_age (limit/lease_table.hpp). No effect with the memory backend.
struct lease_def {
  std::int64_t max_tokens = 0;  // 1 .. below the limit's capacity
  limit::micros max_age = 0;    // (0, defaults::lease_max_age]
  source_location where;
};

// `tenant_rate:` on a limit (issue 14, per-tenant limits): N of the limit's rate taken
// per request from a trusted source, bounded by `max`. The period (and the state, keyed
// by the limit's key) stays the limit's: only the number changes.
struct tenant_rate_def {
  std::string claim;     // a claim of the verified JWT (identity.jwt), or
  std::string header;    // a header from a trusted proxy, lower case (neither: runtime
                         // entries of the admin API only; they win over both)
  std::int64_t max = 0;  // values above are taken as max
  source_location where;
};

// `cost:` on a limit (issue 14, a cost from the response): the limit charges `reserve`
// when the request is decided and settles to what the upstream's answer says it cost
// when the response ends (limit/response_cost.hpp reads it).
enum class response_cost_source : std::uint8_t {
  header,   // a response header: its value, a non-negative integer
  json,     // a field of a JSON body (or of a text/event-stream's data events)
  trailer,  // a trailer field of a chunked response
};
struct response_cost_def {
  response_cost_source source = response_cost_source::header;
  std::string name;                        // header or trailer name, lower case
  std::vector<std::string> path;           // json: the field's path ("usage.total_tokens")
  std::optional<std::int64_t> reserve;     // charged up front; absent: the route's cost
  std::optional<std::int64_t> on_failure;  // settled at when no response came; absent: reserve
  source_location where;
};

// The calendar unit a limit with rate `r` counts periods of: a week or a month always, a
// day only with the limit's `calendar:` (without, N/day is the epoch-aligned 24 h
// window); none for a fixed-length rate.
inline limit::calendar_unit counted_calendar_unit(const rate& r, bool has_calendar_block) {
  if (r.calendar == limit::calendar_unit::day && !has_calendar_block) {
    return limit::calendar_unit::none;
  }
  return r.calendar;
}

struct limit_def {
  std::string name;
  std::vector<key_part> key;  // one part, or a composite
  limit::algorithm algo = limit::algorithm::token_bucket;
  bool tier_aware = false;  // rate/burst come from the client's tier
  config::rate rate;        // unset when tier_aware
  std::int64_t burst = 0;   // 0 = N
  limit::micros delay = 0;  // leaky_bucket shaping
  count_mode count = count_mode::cost;
  std::vector<std::string> routes;   // empty = every route
  std::vector<std::string> methods;  // upper case; empty = every method
  bool shadow = false;
  bool fallback_ip = false;  // a missing key part falls back to the client IP
  // `shards: N`: the budget split over N sub-keys "<key>#<i>" (limit::shard_params), each
  // request charging the one its client hashes to (limit::shard_of_client).
  int shards = 1;
  std::optional<adaptive_def> adaptive;            // load-aware factor (limit/scaling.hpp)
  std::optional<penalty_def> penalty;              // penalty box (limit/scaling.hpp)
  std::optional<soft_def> soft;                    // degrade before reject (limit/soft_limit.hpp)
  std::optional<lease_def> lease;                  // local quota leases (limit/lease_table.hpp)
  std::optional<calendar_def> calendar;            // periods of N/day, N/week, N/month rates
  std::optional<tenant_rate_def> tenant_rate;      // N per request from a claim or header
  std::optional<response_cost_def> response_cost;  // `cost:`: settled from the response
  // algorithm: concurrency (issue 14, limit/algorithms/concurrency.hpp): `max` requests
  // in flight per key, each slot given up after `lease` if never released. The reader
  // also sets `rate` to max per lease, which is what its limit_params hold.
  std::int64_t max_in_flight = 0;
  limit::micros in_flight_lease = 0;
  source_location where;
};

struct policy_config {
  std::vector<std::string> files;  // the policy files read, in merge order
  std::vector<tier_def> tiers;
  std::string default_tier;  // empty = none
  std::vector<api_key_def> api_keys;
  access_list allow;
  access_list deny;
  limit::path_options routing;    // the `routing:` block (defaults.hpp when absent)
  std::vector<route_def> routes;  // in match order
  std::vector<limit_def> limits;
};

struct rls_config;  // config/rls_schema.hpp

struct loaded_config {
  server_config server;
  policy_config policy;
  // The rate limit service's configuration (`rls.config`), loaded with the rest; null
  // when `rls` is absent. Shared: immutable once loaded.
  std::shared_ptr<const rls_config> rls;
};

}  // namespace sluice::config
