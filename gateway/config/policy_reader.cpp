// Pass 1 for the policy files (SPEC 3): structure, types and ranges of tiers,
// clients, access lists, routes and limits, merged across files.
#include <algorithm>
#include <cctype>

#include "config/defaults.hpp"
#include "config/loader_internal.hpp"
#include "config/route_match.hpp"
#include "config/units.hpp"

namespace sluice::config::detail {

// A list (or one string) of strings; nullopt when any item is not a string.
std::optional<std::vector<std::string>> read_strings(const yaml_node& node, const std::string& path,
                                                     error_sink& sink, bool scalar_ok,
                                                     std::vector<located>* where) {
  auto items = read_list(node, path, sink, scalar_ok);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : *items) {
    auto text = read_string(*item.node, item.path, sink);
    if (text && text->empty()) {
      sink.add(*item.node, item.path, "must not be empty");
      text.reset();
    }
    if (text) {
      out.push_back(*text);
      if (where) where->push_back({sink.where(*item.node), item.path});
    }
    ok = ok && text.has_value();
  }
  if (!ok) return std::nullopt;
  return out;
}

const std::initializer_list<std::pair<std::string_view, limit::algorithm>> algorithm_names = {
    {"token_bucket", limit::algorithm::token_bucket},
    {"leaky_bucket", limit::algorithm::leaky_bucket},
    {"fixed_window", limit::algorithm::fixed_window},
    {"sliding_window", limit::algorithm::sliding_window},
    {"sliding_log", limit::algorithm::sliding_log},
};

namespace {

// A policy's limits may also count requests in flight (a proxied request has a response
// whose end gives its slot back; the rate limit service's descriptors have none).
const std::initializer_list<std::pair<std::string_view, limit::algorithm>> limit_algorithm_names = {
    {"token_bucket", limit::algorithm::token_bucket},
    {"leaky_bucket", limit::algorithm::leaky_bucket},
    {"fixed_window", limit::algorithm::fixed_window},
    {"sliding_window", limit::algorithm::sliding_window},
    {"sliding_log", limit::algorithm::sliding_log},
    {"concurrency", limit::algorithm::concurrency},
};

}  // namespace

namespace {

constexpr std::int64_t max_route_cost = 1'000'000;

const std::initializer_list<std::pair<std::string_view, count_mode>> count_modes = {
    {"cost", count_mode::cost},
    {"requests", count_mode::requests},
};

std::string twice(std::string_view what, std::string_view name, const source_location& first) {
  return std::string(what) + " '" + std::string(name) + "' defined twice (first at " +
         first.to_string() + ")";
}

// Names end up in metric labels and Redis keys: keep them plain.
bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<std::string> read_name(const yaml_node& node, const std::string& path,
                                     error_sink& sink) {
  auto text = read_string(node, path, sink);
  if (text && !valid_name(*text)) {
    sink.add(node, path, "invalid name '" + *text + "' (use letters, digits, '-', '_' and '.')");
    return std::nullopt;
  }
  return text;
}

void report_missing(const map_reader& m, error_sink& sink, std::string_view key,
                    std::string_view hint = "") {
  sink.add(m.node(), m.path(),
           "missing required key '" + std::string(key) + "'" + std::string(hint));
}

void read_tiers(const yaml_node& node, error_sink& sink, policy_state& st) {
  map_reader tiers(node, "tiers", sink, {});
  for (const auto& [key, value] : tiers.entries()) {
    const std::string path = tiers.path(key->value);
    if (!valid_name(key->value)) {
      sink.add(*key, path,
               "invalid name '" + key->value + "' (use letters, digits, '-', '_' and '.')");
      continue;
    }
    tier_def tier;
    tier.name = key->value;
    tier.where = sink.where(*key);
    map_reader m(*value, path, sink, {"rate", "burst", "unlimited"});
    if (!m.ok()) continue;
    if (auto* v = m.get("unlimited")) {
      if (auto b = read_bool(*v, m.path("unlimited"), sink)) tier.unlimited = *b;
    }
    const yaml_node* rate_node = m.get("rate");
    const yaml_node* burst_node = m.get("burst");
    if (tier.unlimited) {
      for (auto [k, v] : {std::pair{"rate", rate_node}, std::pair{"burst", burst_node}}) {
        if (v) sink.add(*v, m.path(k), "an unlimited tier takes no " + std::string(k));
      }
    } else {
      if (!rate_node) {
        sink.add(value->type == yaml_node::kind::null ? *key : *value, path,
                 "missing required key 'rate' (or 'unlimited: true')");
      } else if (auto r = read_rate(*rate_node, m.path("rate"), sink)) {
        tier.rate = *r;
      }
      if (burst_node) {
        if (auto b = read_int(*burst_node, m.path("burst"), sink, 1, limit::max_exact_integer)) {
          tier.burst = *b;
        }
      }
    }
    auto first = std::find_if(st.policy.tiers.begin(), st.policy.tiers.end(),
                              [&](const tier_def& t) { return t.name == tier.name; });
    if (first != st.policy.tiers.end()) {
      sink.add(*key, path, twice("tier", tier.name, first->where));
      continue;
    }
    st.policy.tiers.push_back(std::move(tier));
    st.tiers.push_back({path});
  }
}

void read_clients(const yaml_node& node, error_sink& sink, policy_state& st) {
  map_reader m(node, "clients", sink, {"default_tier", "api_keys"});
  if (!m.ok()) return;
  if (auto* v = m.get("default_tier")) {
    if (auto name = read_string(*v, m.path("default_tier"), sink)) {
      if (st.default_tier_at) {
        sink.add(*v, m.path("default_tier"),
                 "default_tier set twice (first at " + st.default_tier_at->to_string() + ")");
      } else {
        st.policy.default_tier = *name;
        st.default_tier_at = sink.where(*v);
      }
    }
  }
  auto* keys_node = m.get("api_keys");
  if (!keys_node) return;
  map_reader keys(*keys_node, m.path("api_keys"), sink, {});
  for (const auto& [key, value] : keys.entries()) {
    const std::string path = keys.path(key->value);
    const bool printable =
        !key->value.empty() && std::none_of(key->value.begin(), key->value.end(), [](char c) {
          return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        });
    if (!printable) {
      sink.add(*key, path, "an API key must be non-empty, without spaces or control characters");
      continue;
    }
    api_key_def def;
    def.key = key->value;
    def.where = sink.where(*key);
    api_key_info info{path, std::nullopt};
    map_reader k(*value, path, sink, {"tier", "user"});
    if (auto* t = k.get("tier")) {
      if (auto tier = read_string(*t, k.path("tier"), sink)) {
        def.tier = *tier;
        info.tier_at = sink.where(*t);
      }
    }
    if (auto* u = k.get("user")) {
      if (auto user = read_string(*u, k.path("user"), sink)) def.user = *user;
    }
    // An index, not a scan: policies with tens of thousands of keys load in linear time.
    auto [first, inserted] = st.api_key_index.emplace(def.key, st.policy.api_keys.size());
    if (!inserted) {
      sink.add(*key, path, twice("api key", def.key, st.policy.api_keys[first->second].where));
      continue;
    }
    st.policy.api_keys.push_back(std::move(def));
    st.api_keys.push_back(std::move(info));
  }
}

void read_access_list(const yaml_node& node, const std::string& path, error_sink& sink,
                      access_list& list) {
  map_reader m(node, path, sink, {"ips", "api_keys", "users"});
  if (!m.ok()) return;
  if (auto* v = m.get("ips")) {
    if (auto items = read_list(*v, m.path("ips"), sink, false)) {
      for (const auto& item : *items) {
        if (auto block = read_cidr(*item.node, item.path, sink)) list.ips.push_back(*block);
      }
    }
  }
  for (auto [key, out] : {std::pair{"api_keys", &list.api_keys}, std::pair{"users", &list.users}}) {
    if (auto* v = m.get(key)) {
      if (auto values = read_strings(*v, m.path(key), sink, false)) {
        out->insert(out->end(), values->begin(), values->end());
      }
    }
  }
}

void read_access(const yaml_node& node, error_sink& sink, policy_state& st) {
  map_reader m(node, "access", sink, {"allow", "deny"});
  if (!m.ok()) return;
  if (auto* v = m.get("allow")) read_access_list(*v, m.path("allow"), sink, st.policy.allow);
  if (auto* v = m.get("deny")) read_access_list(*v, m.path("deny"), sink, st.policy.deny);
}

// `routing:` (how request paths are read) is one block across all policy files.
void read_routing(const yaml_node& node, error_sink& sink, policy_state& st) {
  if (st.routing_at) {
    sink.add(node, "routing", "defined twice (first at " + st.routing_at->to_string() + ")");
    return;
  }
  st.routing_at = sink.where(node);
  map_reader m(node, "routing", sink,
               {"case_insensitive", "strip_matrix_params", "allow_encoded_slash"});
  if (!m.ok()) return;
  limit::path_options& routing = st.policy.routing;
  for (auto [key, field] : {std::pair{"case_insensitive", &routing.case_insensitive},
                            std::pair{"strip_matrix_params", &routing.strip_matrix_params},
                            std::pair{"allow_encoded_slash", &routing.allow_encoded_slash}}) {
    if (auto* v = m.get(key)) {
      if (auto b = read_bool(*v, m.path(key), sink)) *field = *b;
    }
  }
}

void read_route(const yaml_node& node, const std::string& path, error_sink& sink,
                policy_state& st) {
  map_reader m(node, path, sink, {"name", "match", "cost", "limits"});
  if (!m.ok()) return;
  route_def route;
  route_info info{path, std::nullopt};
  route.where = sink.where(node);
  route.cost = defaults::route_cost;
  const yaml_node* name_node = m.get("name");
  std::optional<std::string> name;
  if (!name_node) {
    report_missing(m, sink, "name");
  } else if ((name = read_name(*name_node, m.path("name"), sink))) {
    if (*name == "default") {
      sink.add(*name_node, m.path("name"),
               "the route name 'default' is reserved for requests that match no route");
      name.reset();
    }
  }
  if (auto* v = m.get("match")) {
    if (auto text = read_string(*v, m.path("match"), sink)) {
      auto parsed = limit::parse_route_match(*text);
      if (parsed.match) {
        route.methods = parsed.match->methods;
        route.pattern = parsed.match->pattern;
      } else {
        sink.add(*v, m.path("match"), parsed.error);
      }
    }
  } else {
    report_missing(m, sink, "match", " (e.g. match: \"GET /users/{id}\")");
  }
  if (auto* v = m.get("cost")) {
    if (auto cost = read_int(*v, m.path("cost"), sink, 1, max_route_cost)) {
      route.cost = *cost;
      info.cost_at = sink.where(*v);
    }
  }
  if (auto* v = m.get("limits")) {
    auto text = read_string(*v, m.path("limits"), sink);
    if (text && (*text == "off" || *text == "false")) {
      route.limits_off = true;
    } else if (text && *text != "on" && *text != "true") {
      sink.add(*v, m.path("limits"),
               "expected 'off' (bypass every limit) or 'on', got '" + *text + "'");
    }
  }
  if (!name) return;
  route.name = *name;
  auto first = std::find_if(st.policy.routes.begin(), st.policy.routes.end(),
                            [&](const route_def& r) { return r.name == route.name; });
  if (first != st.policy.routes.end()) {
    sink.add(*name_node, m.path("name"), twice("route", route.name, first->where));
    return;
  }
  st.policy.routes.push_back(std::move(route));
  st.routes.push_back(std::move(info));
}

// "ip", "header:X-Tenant", ...; the error message otherwise.
std::optional<key_part> parse_key_part(std::string_view text, std::string& error) {
  if (text.starts_with("header:")) {
    std::string name(text.substr(7));
    if (name.empty()) {
      error = "'header:' needs a header name, e.g. header:X-Tenant";
      return std::nullopt;
    }
    if (!is_http_token(name)) {
      error = "invalid header name '" + name + "' in key part '" + std::string(text) + "'";
      return std::nullopt;
    }
    name = lower_ascii(std::move(name));
    return key_part{key_part_kind::header, name};
  }
  if (text.starts_with("jwt:")) {
    // A top-level claim of the verified token (identity.jwt, checked in pass 2).
    const std::string claim(text.substr(4));
    if (!is_claim_name(claim)) {
      error = "'jwt:' needs a claim name (" + std::string(claim_name_rule) + "), e.g. jwt:org_id";
      return std::nullopt;
    }
    return key_part{key_part_kind::jwt, claim};
  }
  for (std::size_t i = 0; i < key_part_names.size(); ++i) {
    const auto kind = static_cast<key_part_kind>(i);
    if (kind != key_part_kind::header && kind != key_part_kind::jwt && text == key_part_names[i]) {
      return key_part{kind, ""};
    }
  }
  error = "unknown key part '" + std::string(text) +
          "' (expected one of: global, ip, api_key, user, client, route, method, path, "
          "client_cert, header:<Name>, jwt:<claim>)";
  return std::nullopt;
}

bool read_key(const yaml_node& node, const std::string& path, error_sink& sink,
              std::vector<key_part>& out) {
  auto items = read_list(node, path, sink, true);
  if (!items) return false;
  if (items->empty()) {
    sink.add(node, path, "must name at least one key part");
    return false;
  }
  bool ok = true;
  for (const auto& item : *items) {
    auto text = read_string(*item.node, item.path, sink);
    if (!text) {
      ok = false;
      continue;
    }
    std::string error;
    auto part = parse_key_part(*text, error);
    if (!part) {
      sink.add(*item.node, item.path, error);
      ok = false;
    } else if (std::find(out.begin(), out.end(), *part) != out.end()) {
      sink.add(*item.node, item.path, "key part '" + *text + "' listed twice");
      ok = false;
    } else {
      out.push_back(*part);
    }
  }
  return ok;
}

bool read_methods(const yaml_node& node, const std::string& path, error_sink& sink,
                  std::vector<std::string>& out) {
  auto items = read_list(node, path, sink, true);
  if (!items) return false;
  bool ok = true;
  for (const auto& item : *items) {
    auto text = read_string(*item.node, item.path, sink);
    if (!text) {
      ok = false;
      continue;
    }
    std::string upper = *text;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (!is_http_token(upper)) {
      sink.add(*item.node, item.path,
               "invalid method '" + *text + "' (expected an HTTP method such as GET or POST)");
      ok = false;
    } else if (std::find(out.begin(), out.end(), upper) != out.end()) {
      sink.add(*item.node, item.path, "method '" + upper + "' listed twice");
      ok = false;
    } else {
      out.push_back(upper);
    }
  }
  return ok;
}

// `soft: 80%` or `soft: 800` (issue 15); pass 2 checks a count against the capacity.
void read_soft(const yaml_node& node, const std::string& path, error_sink& sink, limit_def& limit,
               limit_info& info) {
  if (node.type != yaml_node::kind::scalar) {
    sink.add(node, path,
             "expected a share such as 80% or a count such as 800, got " + describe(node));
    return;
  }
  auto text = read_string(node, path, sink);
  if (!text) return;
  auto parsed = units::parse_soft(*text);
  if (!parsed.value) {
    sink.add(node, path, parsed.error);
    return;
  }
  limit.soft = parsed.value;
  info.soft_at = sink.where(node);
}

// algorithm: concurrency's `lease: 60s` (absent: the default): how long a slot is held
// when its request never ends. `max` per lease becomes the limit's rate, so its
// limit_params are count = max, period = lease.
void read_in_flight(const yaml_node* lease, const std::string& path, error_sink& sink,
                    limit_def& limit, limit_info& info) {
  limit.in_flight_lease =
      std::chrono::duration_cast<std::chrono::microseconds>(defaults::in_flight_lease).count();
  if (lease) {
    auto d = read_bounded_duration(*lease, path, sink, defaults::max_in_flight_lease);
    info.numbers_ok = info.numbers_ok && d.has_value();
    if (d) limit.in_flight_lease = *d;
  }
  if (limit.max_in_flight >= 1) {
    limit.rate = rate{limit.max_in_flight, limit.in_flight_lease, limit::calendar_unit::none};
  }
}

void read_limit(const yaml_node& node, const std::string& path, error_sink& sink,
                policy_state& st) {
  map_reader m(node, path, sink,
               {"name",    "key",      "algorithm", "rate",     "burst",       "count",  "tier",
                "routes",  "methods",  "shadow",    "fallback", "delay",       "shards", "soft",
                "penalty", "adaptive", "lease",     "calendar", "tenant_rate", "max",    "cost"});
  if (!m.ok()) return;
  limit_def limit;
  limit_info info;
  info.path = path;
  info.at = sink.where(node);
  limit.where = info.at;
  limit.algo = enum_named(algorithm_names, defaults::limit_algorithm);
  limit.count = enum_named(count_modes, defaults::limit_count);

  const yaml_node* name_node = m.get("name");
  std::optional<std::string> name;
  if (!name_node) {
    report_missing(m, sink, "name");
  } else {
    name = read_name(*name_node, m.path("name"), sink);
  }
  if (auto* v = m.get("key")) {
    info.key_ok = read_key(*v, m.path("key"), sink, limit.key);
  } else {
    report_missing(m, sink, "key", " (e.g. key: ip, or key: [api_key, route])");
  }
  if (auto* v = m.get("algorithm")) {
    auto algo = read_enum(*v, m.path("algorithm"), sink, limit_algorithm_names, "algorithm");
    info.algorithm_ok = algo.has_value();
    if (algo) limit.algo = *algo;
  }
  if (auto* v = m.get("rate")) {
    info.rate_at = sink.where(*v);
    auto r = read_rate(*v, m.path("rate"), sink);
    info.numbers_ok = info.numbers_ok && r.has_value();
    if (r) limit.rate = *r;
  }
  if (auto* v = m.get("burst")) {
    info.burst_at = sink.where(*v);
    auto b = read_int(*v, m.path("burst"), sink, 1, limit::max_exact_integer);
    info.numbers_ok = info.numbers_ok && b.has_value();
    if (b) limit.burst = *b;
  }
  if (auto* v = m.get("delay")) {
    info.delay_at = sink.where(*v);
    auto d = read_duration(*v, m.path("delay"), sink);
    info.numbers_ok = info.numbers_ok && d.has_value();
    if (d) limit.delay = d->count() * 1000;
  }
  limit.shards = defaults::limit_shards;
  if (auto* v = m.get("shards")) {
    info.shards_at = sink.where(*v);
    auto n = read_int(*v, m.path("shards"), sink, 1, defaults::max_limit_shards);
    info.numbers_ok = info.numbers_ok && n.has_value();
    if (n) limit.shards = static_cast<int>(*n);
  }
  if (auto* v = m.get("max")) {
    info.max_at = sink.where(*v);
    auto n = read_int(*v, m.path("max"), sink, 1, defaults::max_in_flight);
    info.numbers_ok = info.numbers_ok && n.has_value();
    if (n) limit.max_in_flight = *n;
  }
  if (auto* v = m.get("count")) {
    auto c = read_enum(*v, m.path("count"), sink, count_modes);
    info.count_ok = c.has_value();
    if (c) limit.count = *c;
  }
  if (auto* v = m.get("tier")) {
    info.tier_at = sink.where(*v);
    auto t = read_bool(*v, m.path("tier"), sink);
    info.tier_ok = t.has_value();
    if (t) limit.tier_aware = *t;
  }
  if (auto* v = m.get("routes")) {
    if (auto names = read_strings(*v, m.path("routes"), sink, true, &info.route_entries)) {
      limit.routes = *names;
    } else {
      info.route_entries.clear();
    }
  }
  if (auto* v = m.get("methods"))
    info.methods_ok = read_methods(*v, m.path("methods"), sink, limit.methods);
  if (auto* v = m.get("shadow")) {
    if (auto s = read_bool(*v, m.path("shadow"), sink)) limit.shadow = *s;
  }
  if (auto* v = m.get("fallback")) {
    if (auto text = read_string(*v, m.path("fallback"), sink)) {
      if (*text == "ip") {
        limit.fallback_ip = true;
      } else {
        sink.add(*v, m.path("fallback"),
                 "fallback must be 'ip' (the only fallback for a missing key part), got '" + *text +
                     "'");
      }
    }
  }
  if (auto* v = m.get("soft")) read_soft(*v, m.path("soft"), sink, limit, info);
  if (auto* v = m.get("penalty")) {
    info.penalty_at = sink.where(*v);
    read_penalty(*v, m.path("penalty"), sink, limit);
  }
  if (auto* v = m.get("adaptive")) {
    info.adaptive_at = sink.where(*v);
    read_adaptive(*v, m.path("adaptive"), sink, limit);
  }
  if (limit.algo == limit::algorithm::concurrency) {
    read_in_flight(m.get("lease"), m.path("lease"), sink, limit, info);
  } else if (auto* v = m.get("lease")) {
    if (v->type == yaml_node::kind::scalar) {
      sink.add(*v, m.path("lease"),
               "lease: <duration> is how long an algorithm: concurrency limit holds a slot; a "
               "quota lease is a map such as { max_tokens: 10, max_age: 250ms }");
    } else {
      read_lease(*v, m.path("lease"), sink, limit, info);
    }
  }
  if (auto* v = m.get("calendar")) read_calendar(*v, m.path("calendar"), sink, limit, info);
  if (auto* v = m.get("tenant_rate")) {
    read_tenant_rate(*v, m.path("tenant_rate"), sink, limit, info);
  }
  if (auto* v = m.get("cost")) read_response_cost(*v, m.path("cost"), sink, limit, info);
  if (!name) return;
  limit.name = *name;
  auto first = std::find_if(st.policy.limits.begin(), st.policy.limits.end(),
                            [&](const limit_def& l) { return l.name == limit.name; });
  if (first != st.policy.limits.end()) {
    sink.add(*name_node, m.path("name"), twice("limit", limit.name, first->where));
    return;
  }
  st.policy.limits.push_back(std::move(limit));
  st.limits.push_back(std::move(info));
}

template <class Fn>
void read_items(const yaml_node& node, const std::string& path, error_sink& sink, Fn&& read_one) {
  auto items = read_list(node, path, sink, false);
  if (!items) return;
  for (const auto& item : *items) {
    if (item.node->type != yaml_node::kind::map) {
      sink.add(*item.node, item.path, "expected a map, got " + describe(*item.node));
      continue;
    }
    read_one(*item.node, item.path);
  }
}

}  // namespace

void read_policy_file(const yaml_node& root, error_sink& sink, policy_state& st) {
  st.policy.files.push_back(sink.file());
  map_reader m(root, "", sink, {"tiers", "clients", "access", "routing", "routes", "limits"});
  if (!m.ok()) return;
  if (auto* v = m.get("tiers")) read_tiers(*v, sink, st);
  if (auto* v = m.get("clients")) read_clients(*v, sink, st);
  if (auto* v = m.get("access")) read_access(*v, sink, st);
  if (auto* v = m.get("routing")) read_routing(*v, sink, st);
  if (auto* v = m.get("routes")) {
    read_items(*v, "routes", sink,
               [&](const yaml_node& n, const std::string& p) { read_route(n, p, sink, st); });
  }
  if (auto* v = m.get("limits")) {
    read_items(*v, "limits", sink,
               [&](const yaml_node& n, const std::string& p) { read_limit(n, p, sink, st); });
  }
}

}  // namespace sluice::config::detail
