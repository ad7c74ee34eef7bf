#include "limit/engine.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "config/path.hpp"
#include "limit/shards.hpp"
#include "limit/soft_limit.hpp"
#include "util/hash.hpp"
#include "util/percent.hpp"

namespace sluice::limit {
namespace {

using config::key_part_kind;

// Whether the query parameter name `encoded` percent-decodes to `name`: `api%5Fkey`
// is `api_key` to most upstreams. Malformed escapes stay literal, as percent_decode_lenient does.
bool decodes_to(std::string_view encoded, std::string_view name) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i, ++n) {
    char c = encoded[i];
    if (const int byte = percent_escape_at(encoded, i); byte >= 0) {
      c = static_cast<char>(byte);
      i += 2;
    }
    if (n == name.size() || name[n] != c) return false;
  }
  return n == name.size();
}

struct query_lookup {
  std::optional<std::string_view> value;  // the raw value of the first occurrence
  bool repeated = false;                  // the parameter occurs more than once
};

// Parameter `name` in `query` (no leading '?'), every pair examined.
query_lookup query_param(std::string_view query, std::string_view name) {
  query_lookup found;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (!decodes_to(pair.substr(0, eq), name)) continue;
    if (found.value) {
      found.repeated = true;
      return found;
    }
    found.value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return found;
}

// The `ip` key part: IPv4 as text; IPv6 grouped by the configured prefix.
void format_client_ip(const ip_address& ip, int ipv6_prefix, std::string& out) {
  if (ip.is_v4() || ipv6_prefix >= 128) {
    out = ip.to_string();
    return;
  }
  out = ip.masked(ipv6_prefix).to_string();
  out += '/';
  out += std::to_string(ipv6_prefix);
}

bool listed(const compiled_access_list& list, identity::access_kind kind, const ip_address& ip,
            std::string_view api_key, std::string_view user, const identity::overrides* overrides,
            micros now) {
  if (contains_any(list.ips, ip)) return true;
  if (!api_key.empty() && list.api_keys.find(api_key) != list.api_keys.end()) return true;
  if (!user.empty() && list.users.find(user) != list.users.end()) return true;
  if (overrides == nullptr || overrides->empty()) return false;
  using identity::subject_kind;
  if (overrides->contains(kind, subject_kind::ip, ip.to_string(), now)) return true;
  if (!api_key.empty() && overrides->contains(kind, subject_kind::api_key, api_key, now)) {
    return true;
  }
  return !user.empty() && overrides->contains(kind, subject_kind::user, user, now);
}

// A request whose identity the upstream may read differently than Sluice: a 400.
bool ambiguous(evaluation& ev, std::string_view why) {
  ev.result = outcome::bad_request;
  ev.problem = why;
  return false;
}

// The token of "Bearer <token>" (the scheme in any case, RFC 7235), or empty.
std::string_view bearer_token(std::string_view value) {
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return {};
  }
  value.remove_prefix(scheme.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

// identity.jwt: verifies the request's bearer token into ev.claims. False (ev.result
// set) when the request is answered 400 (two token headers) or 401 (a token that fails
// verification, or none when required); a request without a token is anonymous.
bool read_token(const config::jwt_config& jwt, const jwt_rules& rules, const request_facts& facts,
                evaluation& ev) {
  std::string_view token;
  if (facts.headers != nullptr) {
    const header_lines authorization = facts.headers->lines(jwt.header);
    if (authorization.repeated) return ambiguous(ev, "Duplicate authorization header");
    if (authorization.first) token = bearer_token(*authorization.first);
  }
  if (token.empty()) {
    if (!jwt.required) return true;
    ev.result = outcome::unauthorized;
    ev.problem = "Missing bearer token";
    ev.token_rejection = "missing";
    return false;
  }
  // The loader always sets the keys; without them no token can be trusted.
  const jwt_error error = jwt.keys == nullptr ? jwt_error::unknown_key
                                              : verify_jwt(token, *jwt.keys, rules,
                                                           ev.now / micros_per_second, ev.claims);
  if (error != jwt_error::none) {
    ev.result = outcome::unauthorized;
    ev.problem = describe(error);
    ev.token_rejection = to_string(error);
    return false;
  }
  ev.has_token = true;
  return true;
}

// Identity (SPEC 4 steps 1 and 3): API key from the header, else the query; user from
// the header (from a trusted proxy, unless identity.user.trusted_only is false) unless
// the key's entry names one; tier by precedence runtime > key entry > trusted tier
// header > default. False (ev.problem set) when an identity is given twice: the
// upstream might take the other copy. The key in both header and query must agree.
bool identify(const policy& pol, const request_facts& facts, const identity::overrides* overrides,
              std::string_view query, evaluation& ev) {
  const auto& id = pol.identity();
  const request_headers* headers = facts.headers;
  ev.api_key = {};
  ev.user = {};
  std::optional<std::string_view> header_key;
  if (headers != nullptr && !id.api_key_header.empty()) {
    const header_lines key = headers->lines(id.api_key_header);
    if (key.repeated) return ambiguous(ev, "Duplicate API key header");
    header_key = key.first;
  }
  std::optional<std::string_view> query_key;
  if (!id.api_key_query.empty()) {
    const query_lookup q = query_param(query, id.api_key_query);
    if (q.repeated) return ambiguous(ev, "Duplicate API key query parameter");
    if (q.value && q.value->find('%') != std::string_view::npos) {
      percent_decode_lenient(*q.value, ev.decoded_api_key);
      query_key = ev.decoded_api_key;
    } else {
      query_key = q.value;
    }
  }
  if (header_key && query_key && *header_key != *query_key) {
    return ambiguous(ev, "API key header and query parameter differ");
  }
  ev.api_key = header_key ? *header_key : query_key.value_or(std::string_view{});

  std::optional<std::string_view> user_header;
  if (headers != nullptr && !id.user_header.empty()) {
    const header_lines user = headers->lines(id.user_header);
    if (user.repeated) return ambiguous(ev, "Duplicate user header");
    if (facts.peer_is_trusted_proxy || !id.user_trusted_only) user_header = user.first;
  }
  const api_key_info* key_info = ev.api_key.empty() ? nullptr : pol.find_api_key(ev.api_key);
  // A verified token's claim (identity.user.claim) names the user before anything else.
  std::optional<std::string_view> user_claim;
  if (ev.has_token && !id.user_claim.empty()) user_claim = ev.claims.get(id.user_claim);
  if (user_claim && !user_claim->empty()) {
    ev.user = *user_claim;
  } else if (key_info != nullptr && !key_info->user.empty()) {
    ev.user = key_info->user;
  } else if (user_header) {
    ev.user = *user_header;
  }

  ev.tier = no_tier;
  if (!ev.api_key.empty() && overrides != nullptr && !overrides->empty()) {
    if (auto name = overrides->tier_of(ev.api_key, ev.now)) ev.tier = pol.find_tier(*name);
  }
  if (ev.tier == no_tier && key_info != nullptr) ev.tier = key_info->tier;
  if (ev.tier == no_tier && ev.has_token && !id.tier_claim.empty()) {
    if (auto plan = ev.claims.get(id.tier_claim)) ev.tier = pol.find_tier(*plan);
  }
  if (ev.tier == no_tier && facts.peer_is_trusted_proxy && facts.headers != nullptr &&
      !id.tier_header.empty()) {
    const header_lines tier = facts.headers->lines(id.tier_header);
    if (tier.repeated) return ambiguous(ev, "Duplicate tier header");
    if (tier.first) ev.tier = pol.find_tier(*tier.first);
  }
  if (ev.tier == no_tier) ev.tier = pol.default_tier();
  return true;
}

// The `client` key part: user, else API key, else IP, prefixed so that a user, a key and
// an address with equal text stay apart.
void append_client(const evaluation& ev, std::string& out) {
  if (!ev.user.empty()) {
    out += "user:";
    out += ev.user;
  } else if (!ev.api_key.empty()) {
    out += "key:";
    out += ev.api_key;
  } else {
    out += "ip:";
    out += ev.client_ip;
  }
}

// The client identity a sharded limit hashes (append_client), built once per request.
std::string_view client_identity(const evaluation& ev, std::string& cache) {
  if (cache.empty()) append_client(ev, cache);
  return cache;
}

// Appends one key part's text; false when the request does not have it.
bool append_part(const config::key_part& part, const request_facts& facts, evaluation& ev,
                 bool& path_collapsed) {
  std::string& out = ev.keys;
  switch (part.kind) {
    case key_part_kind::global:
      out += "global";
      return true;
    case key_part_kind::ip:
      out += ev.client_ip;
      return true;
    case key_part_kind::api_key:
      if (ev.api_key.empty()) return false;
      out += ev.api_key;
      return true;
    case key_part_kind::user:
      if (ev.user.empty()) return false;
      out += ev.user;
      return true;
    case key_part_kind::client_cert:
      if (facts.client_cert.empty()) return false;
      out += facts.client_cert;
      return true;
    case key_part_kind::jwt: {
      if (!ev.has_token) return false;
      auto claim = ev.claims.get(part.header);
      if (!claim || claim->empty()) return false;
      out += *claim;
      return true;
    }
    case key_part_kind::client:
      append_client(ev, out);
      return true;
    case key_part_kind::route:
      out += ev.route_info().name;
      return true;
    case key_part_kind::method:
      out += facts.method;
      return true;
    case key_part_kind::path:
      if (!path_collapsed) {
        collapse_ids(ev.path, ev.scratch);
        path_collapsed = true;
      }
      out += ev.scratch;
      return true;
    case key_part_kind::header: {
      if (facts.headers == nullptr) return false;
      // Two lines of a header that keys a limit: the upstream may read the other one.
      const header_lines key = facts.headers->lines(part.header);
      if (key.repeated) return ambiguous(ev, "Duplicate header used as a limit key");
      if (!key.first || key.first->empty()) return false;
      out += *key.first;
      return true;
    }
  }
  return false;
}

// Builds the key text of `limit` at the end of ev.keys; false when it does not apply.
bool build_key(const compiled_limit& limit, const request_facts& facts, evaluation& ev,
               bool& path_collapsed) {
  const std::size_t begin = ev.keys.size();
  for (std::size_t i = 0; i < limit.key.size(); ++i) {
    if (i > 0) ev.keys += ':';
    if (append_part(limit.key[i], facts, ev, path_collapsed)) continue;
    if (!limit.fallback_ip) {
      ev.keys.resize(begin);
      return false;
    }
    ev.keys += "ip:";
    ev.keys += ev.client_ip;
  }
  return true;
}

// Copies of parameters that `applied` points into: per limit at most one with its
// tenant's number, one for its calendar period and one scaled. Reserved up front for
// `limits` limits, so the pointers stay valid.
void reserve_copies(evaluation& ev, std::size_t limits) {
  ev.scaled.reserve(3 * limits);
}

// `tenant_rate:`: the tenant's N from a runtime entry for its key text (the admin API),
// else from the verified token's claim or a trusted proxy's header, at most max; nullopt
// when none gives a positive integer (then the limit's own rate applies). False
// (ev.result set, a 400) for two header lines.
bool tenant_number(const compiled_limit& limit, const request_facts& facts,
                   const identity::overrides* overrides, std::string_view key, evaluation& ev,
                   std::optional<std::int64_t>& n) {
  const config::tenant_rate_def& source = *limit.tenant_rate;
  // An operator's runtime entry for this key wins over what the request carries.
  if (overrides != nullptr && !overrides->empty()) {
    if (auto entry = overrides->tenant_number(limit.name, key)) {
      n = std::min(*entry, source.max);
      return true;
    }
  }
  std::optional<std::string_view> text;
  if (!source.claim.empty()) {
    if (ev.has_token) text = ev.claims.get(source.claim);
  } else if (!source.header.empty() && facts.peer_is_trusted_proxy && facts.headers != nullptr) {
    const header_lines rate = facts.headers->lines(source.header);
    if (rate.repeated) return ambiguous(ev, "Duplicate tenant rate header");
    text = rate.first;
  }
  if (!text || text->empty()) return true;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec == std::errc::result_out_of_range && text->front() != '-') {
    value = source.max;  // a huge number is at most max
  } else if (ec != std::errc{} || end != text->data() + text->size() || value < 1) {
    return true;
  }
  n = std::min(value, source.max);
  return true;
}

// The limit's params with the tenant's N (same algorithm, period and calendar).
limit_params with_tenant_number(const compiled_limit& limit, const limit_params& p,
                                std::int64_t n) {
  limit_params t = limit_params::make(
      p.algo, n, p.period, tenant_burst(limit.configured_burst, p.count, n), p.max_delay);
  t.calendar = p.calendar;
  t.origin = p.origin;
  // Validation checked max; a smaller N can still need more bits for a bucket (a
  // smaller gcd with the period): such a tenant keeps the limit's own numbers.
  return t.exact() ? t : p;
}

// Points every applied limit whose rate counts calendar periods (N/week, N/month, or
// with `calendar:`) at a copy of its parameters whose fixed window is the period that
// holds ev.now (config/calendar.hpp). Before scaling, which keeps the window.
void apply_calendars(evaluation& ev) {
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    applied_limit& a = ev.applied[i];
    if (a.params->calendar == calendar_unit::none) continue;
    a.params = &ev.scaled.emplace_back(params_at(ev.limit_of(a), *a.params, ev.now));
    ev.checks[i].params = a.params;
  }
}

// Points every applied limit that `scales` and has a factor below 1 at a scaled copy
// of its parameters (limit/scaling.hpp).
void apply_scaling(const scaling_sources& scaling, evaluation& ev) {
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    applied_limit& a = ev.applied[i];
    const compiled_limit& limit = ev.limit_of(a);
    if (!limit.scales) continue;
    const double f =
        scaling.factor(scaling_query{a.limit, &limit, ev.key_of(a), ev.checks[i].key_hash, ev.now});
    if (!(f < 1.0)) continue;
    ev.scaled.push_back(scaled(*a.params, f));
    a.factor = f;
    a.params = &ev.scaled.back();
    ev.checks[i].params = a.params;
  }
}

}  // namespace

std::string_view evaluation::tier_name() const {
  if (pol == nullptr || tier < 0) return {};
  return pol->tier_names()[tier];
}

void evaluation::reset() {
  pol = nullptr;
  claims.clear();
  has_token = false;
  token_rejection = {};
  client_ip.clear();
  api_key = {};
  user = {};
  tier = no_tier;
  route = -1;
  cost = 1;
  applied.clear();
  checks.clear();
  decisions.clear();
  scaled.clear();
  keys.clear();
  result = outcome::allowed;
  problem = {};
  reported = -1;
  denying = -1;
  delay = 0;
  degraded = false;
  hold_id.clear();
  decided_locally = false;
}

bool evaluation::holds(std::size_t i) const {
  return result == outcome::allowed && i < decisions.size() && decisions[i].allowed &&
         holds_in_flight(checks[i].params->algo);
}

bool evaluation::settles(std::size_t i) const {
  return result == outcome::allowed && i < decisions.size() && decisions[i].allowed &&
         limit_of(applied[i]).response_cost.has_value();
}

bool evaluation::finishes() const {
  for (std::size_t i = 0; i < checks.size(); ++i) {
    if (holds(i) || settles(i)) return true;
  }
  return false;
}

limit_params params_at(const compiled_limit& limit, const limit_params& params, micros now) {
  if (!limit.calendar) return params;
  return in_period(params, *limit.calendar, now);
}

std::uint64_t state_key(const compiled_limit& limit, std::string_view key_text) {
  return hash64(key_text, limit.state_seed);
}

void prepare(const policy& pol, const request_facts& facts, const identity::overrides* overrides,
             micros now, evaluation& ev, const scaling_sources* scaling) {
  ev.reset();
  ev.pol = &pol;
  ev.now = now;

  // SPEC 3: the route, from the normalized path; a spelling upstreams read differently is
  // a 400 (config/path.hpp), since routing it either way lets someone dodge a limit.
  std::string_view raw_path, query;
  path_status status = split_target(facts.target, raw_path, query);
  if (status == path_status::ok) {
    status = pol.route_path(facts.method, raw_path, ev.path, ev.scratch, ev.route);
  }
  if (status != path_status::ok) {
    ev.result = outcome::bad_request;
    ev.problem = describe(status);
    return;
  }

  format_client_ip(facts.client_ip, pol.identity().ipv6_prefix, ev.client_ip);
  const compiled_route& route = pol.route(ev.route);
  // A `limits: off` route is served without a token: health checks and the like.
  if (const auto& jwt = pol.identity().jwt; jwt && !route.bypass) {
    if (!read_token(*jwt, *pol.token_rules(), facts, ev)) return;  // 400 or 401
  }
  if (!identify(pol, facts, overrides, query, ev)) return;  // bad_request: ev.problem says why

  ev.cost = route.cost;

  // SPEC 4 step 4: the deny list wins over everything, the allow list skips limits.
  using identity::access_kind;
  if (listed(pol.deny_list(), access_kind::deny, facts.client_ip, ev.api_key, ev.user, overrides,
             now)) {
    ev.result = outcome::forbidden;
    return;
  }
  if (route.bypass || listed(pol.allow_list(), access_kind::allow, facts.client_ip, ev.api_key,
                             ev.user, overrides, now)) {
    ev.result = outcome::bypassed;
    return;
  }

  bool path_collapsed = false;
  std::string& client = ev.client_text;  // the client identity, built when first needed
  client.clear();
  const auto limits = pol.limits();
  reserve_copies(ev, route.limits.size());
  for (std::uint16_t index : route.limits) {
    const compiled_limit& limit = limits[index];
    if (!limit.applies_to_method(facts.method)) continue;
    const limit_params* params = limit.params_for(ev.tier);
    if (params == nullptr) continue;
    const auto begin = static_cast<std::uint32_t>(ev.keys.size());
    if (!build_key(limit, facts, ev, path_collapsed)) {
      if (ev.result != outcome::bad_request) continue;
      ev.applied.clear();  // nothing is charged for a request answered 400
      ev.checks.clear();
      return;
    }
    if (limit.shards > 1) {
      // `shards: N`: the sub-key of this client, with its share of the budget.
      const int shard = shard_of_client(client_identity(ev, client), limit.shards);
      if (limit.global_suffixes.empty()) {
        append_shard_suffix(ev.keys, begin, shard, limit.shards);
      } else {
        ev.keys += limit.global_suffixes[shard];
      }
      params = limit.shard_params_for(ev.tier, shard);
    }
    if (limit.tenant_rate) {
      std::optional<std::int64_t> n;
      const std::string_view key = std::string_view(ev.keys).substr(begin);
      if (!tenant_number(limit, facts, overrides, key, ev, n)) {
        ev.applied.clear();  // nothing is charged for a request answered 400
        ev.checks.clear();
        return;
      }
      if (n && *n != params->count) {
        params = &ev.scaled.emplace_back(with_tenant_number(limit, *params, *n));
      }
    }
    const auto end = static_cast<std::uint32_t>(ev.keys.size());
    // A request holds one slot of a concurrency limit whatever it costs; a cost from the
    // response charges its reserve first.
    std::int64_t cost = route.cost;
    if (limit.count == config::count_mode::requests || holds_in_flight(params->algo)) {
      cost = 1;
    } else if (limit.response_cost && limit.response_cost->reserve) {
      cost = *limit.response_cost->reserve;
    }
    ev.applied.push_back(applied_limit{index, params, begin, end, limit.shadow, {}});
    ev.checks.push_back(check{0, params, cost, limit.shadow});
  }
  // Hashes are taken once every key is in place (ev.keys may have reallocated).
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    ev.checks[i].key_hash = state_key(limits[ev.applied[i].limit], ev.key_of(ev.applied[i]));
  }
  apply_calendars(ev);
  if (scaling != nullptr && !scaling->empty()) apply_scaling(*scaling, ev);
  ev.decisions.resize(ev.checks.size());
  ev.result = outcome::allowed;
}

void prepare_single(const policy& pol, int limit_index, const limit_params& params,
                    std::string_view key, std::int64_t cost, micros now, evaluation& ev,
                    const scaling_sources* scaling) {
  ev.reset();
  ev.pol = &pol;
  ev.now = now;
  ev.keys.assign(key);
  const auto index = static_cast<std::uint16_t>(limit_index);
  ev.applied.push_back(
      applied_limit{index, &params, 0, static_cast<std::uint32_t>(key.size()), false, {}});
  ev.checks.push_back(check{state_key(pol.limits()[index], key), &params, cost, false});
  reserve_copies(ev, 1);
  apply_calendars(ev);
  if (scaling != nullptr && !scaling->empty()) apply_scaling(*scaling, ev);
  ev.decisions.resize(1);
  ev.result = outcome::allowed;
}

int denying_limit(const evaluation& ev) {
  int denying = -1;
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const decision& d = ev.decisions[i];
    if (ev.applied[i].shadow || d.allowed) continue;
    // Several deny: report the one that keeps the client waiting longest.
    if (denying < 0 || d.retry_after > ev.decisions[denying].retry_after) {
      denying = static_cast<int>(i);
    }
  }
  return denying;
}

void conclude(evaluation& ev, bool admitted) {
  ev.result = admitted ? outcome::allowed : outcome::limited;
  ev.denying = denying_limit(ev);
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    applied_limit& a = ev.applied[i];
    a.result = ev.decisions[i];
    // A concurrency limit's slots are not a budget the headers describe; it is
    // reported only when it denies.
    if (a.shadow || holds_in_flight(a.params->algo)) continue;
    const decision& d = a.result;
    const int idx = static_cast<int>(i);
    if (d.delay > ev.delay) ev.delay = d.delay;
    if (ev.reported < 0) {
      ev.reported = idx;
    } else {
      // Closest to exhaustion: the lowest remaining / limit.
      const decision& r = ev.applied[ev.reported].result;
      if (static_cast<__int128>(d.remaining) * r.limit <
          static_cast<__int128>(r.remaining) * d.limit) {
        ev.reported = idx;
      }
    }
  }
  if (!admitted) {
    ev.reported = ev.denying;
    ev.delay = 0;
  }
  mark_degraded(ev);
}

void decide(const policy& pol, const request_facts& facts, const identity::overrides* overrides,
            memory_store& store, micros now, evaluation& ev) {
  prepare(pol, facts, overrides, now, ev);
  if (ev.result != outcome::allowed) return;
  if (ev.checks.empty()) {
    conclude(ev, true);
    return;
  }
  const bool admitted = store.decide(ev.checks, now, ev.decisions);
  conclude(ev, admitted);
}

}  // namespace sluice::limit
