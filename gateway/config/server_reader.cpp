// Pass 1 for config.yaml (SPEC 2): every key, its type, its range.
#include <algorithm>
#include <cctype>

#include "config/defaults.hpp"
#include "config/loader_internal.hpp"

namespace sluice::config::detail {

namespace {

using std::chrono::milliseconds;

constexpr std::int64_t max_threads = 256;
constexpr std::uint64_t min_header_bytes = 1024;
constexpr std::uint64_t max_header_bytes = 1024 * 1024;
constexpr std::uint64_t max_body_bytes = std::uint64_t{1} << 50;
constexpr std::int64_t max_connections_per_pool = 65536;
constexpr std::int64_t max_client_connections = 10'000'000;
constexpr std::int64_t min_max_keys = 1000;
constexpr std::int64_t max_local_denials = 16'777'216;  // ~1.3 GiB of entries

const std::initializer_list<std::pair<std::string_view, client_ip_source>> client_ip_sources = {
    {"x-forwarded-for", client_ip_source::x_forwarded_for},
    {"forwarded", client_ip_source::forwarded},
    {"x-real-ip", client_ip_source::x_real_ip},
};
const std::initializer_list<std::pair<std::string_view, legacy_reset_format>> reset_formats = {
    {"epoch", legacy_reset_format::epoch},
    {"delta", legacy_reset_format::delta},
};
const std::initializer_list<std::pair<std::string_view, standard_headers>> standards = {
    {"draft-6", standard_headers::draft6},
    {"draft-7", standard_headers::draft7},
    {"draft-10", standard_headers::draft10},
    {"off", standard_headers::off},
};
const std::initializer_list<std::pair<std::string_view, storage_backend>> backends = {
    {"memory", storage_backend::memory},
    {"redis", storage_backend::redis},
};
const std::initializer_list<std::pair<std::string_view, redis_mode>> redis_modes = {
    {"single", redis_mode::single},
    {"cluster", redis_mode::cluster},
    {"sentinel", redis_mode::sentinel},
};
const std::initializer_list<std::pair<std::string_view, rls_charging>> rls_chargings = {
    {"all_or_nothing", rls_charging::all_or_nothing},
    {"each", rls_charging::each},
};
const std::initializer_list<std::pair<std::string_view, storage_error_mode>> error_modes = {
    {"local", storage_error_mode::local},
    {"allow", storage_error_mode::allow},
    {"deny", storage_error_mode::deny},
};

host_port default_address(std::string_view text) {
  return *parse_host_port(text).value;
}

// Copies `value` into `out` when it is set.
template <class T, class U>
void assign(T& out, const std::optional<U>& value) {
  if (value) out = static_cast<T>(*value);
}

struct upstream_url_result {
  std::optional<host_port> address;
  bool https = false;
  std::string error;
};

// http:// or https://host[:port] with no path: Sluice forwards the request target as is.
upstream_url_result parse_upstream_url(std::string_view url) {
  upstream_url_result result;
  const std::string lower = lower_ascii(std::string(url));
  result.https = lower.starts_with("https://");
  if (!result.https && !lower.starts_with("http://")) {
    result.error = "invalid upstream URL '" + std::string(url) +
                   "' (expected http://host:port or https://host:port)";
    return result;
  }
  std::string_view rest = url.substr(result.https ? 8 : 7);
  const std::size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  const std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (tail.find_first_of("?#") != std::string_view::npos) {
    result.error =
        "upstream URL must not have a query or fragment (got '" + std::string(url) + "')";
    return result;
  }
  if (!tail.empty() && tail != "/") {
    result.error = "upstream URL must not have a path (got '" + std::string(tail) +
                   "'); requests are forwarded with their own path, use http://host:port";
    return result;
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    result.error = "invalid upstream URL '" + std::string(url) + "' (expected http://host:port)";
    return result;
  }
  // No port: the scheme's default, as every other proxy does.
  const bool has_port = authority.back() != ']' && authority.find(':') != std::string_view::npos;
  auto parsed = parse_host_port(
      has_port ? std::string(authority) : std::string(authority) + (result.https ? ":443" : ":80"));
  if (!parsed.value) {
    result.error = "invalid upstream URL '" + std::string(url) + "' (expected http://host:port)";
    return result;
  }
  result.address = parsed.value;
  return result;
}

// A string or a list of host:port addresses; an empty list is an error.
void read_addresses(const yaml_node& node, const std::string& path, error_sink& sink,
                    std::vector<host_port>& out) {
  auto items = read_list(node, path, sink, true);
  if (!items) return;
  if (items->empty()) {
    sink.add(node, path, "must name at least one address");
    return;
  }
  std::vector<host_port> addresses;
  bool ok = true;
  for (const auto& item : *items) {
    auto address = read_host_port(*item.node, item.path, sink);
    if (address) addresses.push_back(*address);
    ok = ok && address.has_value();
  }
  if (ok) out = std::move(addresses);
}

void read_cidrs(const yaml_node& node, const std::string& path, error_sink& sink,
                std::vector<cidr>& out) {
  auto items = read_list(node, path, sink, false);
  if (!items) return;
  std::vector<cidr> blocks;
  for (const auto& item : *items) {
    if (auto block = read_cidr(*item.node, item.path, sink)) blocks.push_back(*block);
  }
  out = std::move(blocks);
}

// A header name (empty = feature off).
void read_header_name(const map_reader& m, std::string_view key, error_sink& sink,
                      std::string& out) {
  const yaml_node* node = m.get(key);
  if (!node) return;
  auto text = read_string(*node, m.path(key), sink);
  if (!text) return;
  if (!text->empty() && !is_http_token(*text)) {
    sink.add(*node, m.path(key), "invalid header name '" + *text + "'");
    return;
  }
  out = *text;
}

// upstream.tls: { ca, server_name, cert, key, insecure_skip_verify }.
void read_upstream_tls(const yaml_node& node, const std::string& path, error_sink& sink,
                       upstream_tls& tls) {
  map_reader m(node, path, sink, {"ca", "server_name", "cert", "key", "insecure_skip_verify"});
  if (!m.ok()) return;
  tls.where = sink.where(node);
  for (auto [name, out] :
       {std::pair{"ca", &tls.ca}, std::pair{"cert", &tls.cert}, std::pair{"key", &tls.key}}) {
    if (auto* v = m.get(name)) assign(*out, read_file_path(*v, m.path(name), sink));
  }
  if (auto* v = m.get("server_name")) {
    assign(tls.server_name, read_string(*v, m.path("server_name"), sink));
  }
  if (auto* v = m.get("insecure_skip_verify")) {
    assign(tls.insecure_skip_verify, read_bool(*v, m.path("insecure_skip_verify"), sink));
  }
  if ((m.get("cert") == nullptr) != (m.get("key") == nullptr)) {
    sink.add(node, path, "a client certificate needs both cert and key");
  }
}

void read_upstream(const yaml_node& node, error_sink& sink, upstream_config& up) {
  map_reader m(
      node, "upstream", sink,
      {"url", "connect_timeout", "timeout", "max_idle_connections", "circuit_breaker", "tls"});
  if (!m.ok()) return;
  bool https = false;
  if (const yaml_node* url = m.get("url")) {
    if (auto text = read_string(*url, m.path("url"), sink)) {
      auto parsed = parse_upstream_url(*text);
      if (parsed.address) {
        up.url = *text;
        up.address = *parsed.address;
        https = parsed.https;
        if (https) up.tls = upstream_tls{.where = sink.where(*url)};
      } else {
        sink.add(*url, m.path("url"), parsed.error);
      }
    }
  }
  if (auto* v = m.get("tls")) {
    if (!https) {
      sink.add(*v, m.path("tls"), "needs an https:// upstream url");
    } else {
      read_upstream_tls(*v, m.path("tls"), sink, *up.tls);
    }
  }
  if (auto* v = m.get("connect_timeout"))
    assign(up.connect_timeout, read_duration(*v, m.path("connect_timeout"), sink));
  if (auto* v = m.get("timeout")) assign(up.timeout, read_duration(*v, m.path("timeout"), sink));
  if (auto* v = m.get("max_idle_connections")) {
    assign(up.max_idle_connections,
           read_int(*v, m.path("max_idle_connections"), sink, 0, max_connections_per_pool));
  }
  if (auto* v = m.get("circuit_breaker")) {
    map_reader cb(*v, m.path("circuit_breaker"), sink, {"failures", "cooldown"});
    if (auto* f = cb.get("failures")) {
      assign(up.breaker_failures, read_int(*f, cb.path("failures"), sink, 1, 1'000'000));
    }
    if (auto* c = cb.get("cooldown"))
      assign(up.breaker_cooldown, read_duration(*c, cb.path("cooldown"), sink));
  }
}

// `{ rate: 50/s, burst: 100 }`; burst defaults to the rate's count.
void read_websocket_messages(const yaml_node& node, const std::string& path, error_sink& sink,
                             std::optional<websocket_message_limit>& out) {
  map_reader m(node, path, sink, {"rate", "burst"});
  if (!m.ok()) return;
  const yaml_node* rate_node = m.get("rate");
  if (rate_node == nullptr) {
    sink.add(node, path, "needs a rate, e.g. { rate: 50/s, burst: 100 }");
    return;
  }
  const auto r = read_rate(*rate_node, m.path("rate"), sink);
  if (!r) return;
  websocket_message_limit limit;
  limit.per_second = static_cast<double>(r->count) * 1e6 / static_cast<double>(r->period);
  limit.burst = r->count;
  if (const auto* b = m.get("burst")) {
    const auto burst = read_int(*b, m.path("burst"), sink, 1, 1'000'000'000);
    if (!burst) return;
    limit.burst = *burst;
  }
  out = limit;
}

void read_server(const yaml_node& node, error_sink& sink, server_settings& s) {
  map_reader m(node, "server", sink,
               {"threads", "header_timeout", "idle_timeout", "max_header_bytes", "max_body_bytes",
                "drain_timeout", "access_log", "max_connections", "websocket_messages"});
  if (!m.ok()) return;
  if (auto* v = m.get("threads"))
    assign(s.threads, read_int(*v, m.path("threads"), sink, 0, max_threads));
  if (auto* v = m.get("header_timeout"))
    assign(s.header_timeout, read_duration(*v, m.path("header_timeout"), sink));
  if (auto* v = m.get("idle_timeout"))
    assign(s.idle_timeout, read_duration(*v, m.path("idle_timeout"), sink));
  if (auto* v = m.get("max_header_bytes")) {
    assign(s.max_header_bytes,
           read_size(*v, m.path("max_header_bytes"), sink, min_header_bytes, max_header_bytes));
  }
  if (auto* v = m.get("max_body_bytes")) {
    assign(s.max_body_bytes, read_size(*v, m.path("max_body_bytes"), sink, 0, max_body_bytes));
  }
  if (auto* v = m.get("drain_timeout"))
    assign(s.drain_timeout, read_duration(*v, m.path("drain_timeout"), sink));
  if (auto* v = m.get("max_connections")) {
    assign(s.max_connections,
           read_int(*v, m.path("max_connections"), sink, 0, max_client_connections));
  }
  if (auto* v = m.get("websocket_messages")) {
    read_websocket_messages(*v, m.path("websocket_messages"), sink, s.websocket_messages);
  }
  if (auto* v = m.get("access_log")) {
    if (auto text = read_string(*v, m.path("access_log"), sink)) {
      if (text->empty()) {
        sink.add(*v, m.path("access_log"), "must be stdout, off or a file path");
      } else {
        s.access_log = *text;
      }
    }
  }
}

void read_admin(const yaml_node& node, error_sink& sink, admin_config& a,
                server_positions& positions) {
  map_reader m(node, "admin", sink, {"listen", "token", "allow", "check_limit"});
  if (!m.ok()) return;
  if (auto* v = m.get("listen")) read_addresses(*v, m.path("listen"), sink, a.listen);
  if (auto* v = m.get("token")) assign(a.token, read_string(*v, m.path("token"), sink));
  if (auto* v = m.get("allow")) read_cidrs(*v, m.path("allow"), sink, a.allow);
  if (auto* v = m.get("check_limit")) {
    if (auto text = read_string(*v, m.path("check_limit"), sink)) {
      a.check_limit = *text;
      positions.check_limit = sink.where(*v);
    }
  }
}

// `issuers` / `audiences`: a list (or one string) of non-empty strings, at most 32.
std::optional<std::vector<std::string>> read_names(const yaml_node& node, const std::string& path,
                                                   error_sink& sink) {
  auto names = read_strings(node, path, sink, true);
  if (names && names->size() > 32) {
    sink.add(node, path, "at most 32 entries (got " + std::to_string(names->size()) + ")");
    return std::nullopt;
  }
  return names;
}

// `claim:` of identity.user / identity.tier: a top-level claim of the verified JWT.
void read_claim(const map_reader& m, error_sink& sink, std::string& out,
                std::optional<source_location>& at) {
  const yaml_node* node = m.get("claim");
  if (!node) return;
  if (auto name = read_claim_name(*node, m.path("claim"), sink)) {
    out = *name;
    at = sink.where(*node);
  }
}

// identity.jwt (issue 14, JWT identity): { header, jwks_file, issuers, audiences,
// required, leeway }. jwks_file is required (resolved against config.yaml's directory;
// load_config reads and parses it with the rest of the config, so a reload with a broken
// JWKS keeps the old one); leeway is at most 5 minutes.
void read_jwt(const yaml_node& node, const std::string& path, error_sink& sink,
              std::optional<jwt_config>& out, server_positions& positions) {
  map_reader m(node, path, sink,
               {"header", "jwks_file", "issuers", "audiences", "required", "leeway"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  jwt_config jwt;
  std::string header = "Authorization";
  read_header_name(m, "header", sink, header);
  if (header.empty()) sink.add(node, m.path("header"), "must name a header");
  jwt.header = lower_ascii(std::move(header));
  if (auto* v = m.get("jwks_file")) {
    positions.jwks_file = sink.where(*v);
    if (auto file = read_file_path(*v, m.path("jwks_file"), sink)) jwt.jwks_file = *file;
  } else {
    sink.add(node, path, "missing required key 'jwks_file' (the JSON Web Key Set to verify with)");
  }
  if (auto* v = m.get("issuers")) {
    if (auto names = read_names(*v, m.path("issuers"), sink)) jwt.issuers = std::move(*names);
  }
  if (auto* v = m.get("audiences")) {
    if (auto names = read_names(*v, m.path("audiences"), sink)) jwt.audiences = std::move(*names);
  }
  if (auto* v = m.get("required")) assign(jwt.required, read_bool(*v, m.path("required"), sink));
  if (auto* v = m.get("leeway")) {
    if (auto d = read_bounded_duration(*v, m.path("leeway"), sink, std::chrono::minutes(5))) {
      jwt.leeway_seconds = *d / limit::micros_per_second;
    }
  }
  if (sink.count() == errors_before) out = std::move(jwt);
}

void read_identity(const yaml_node& node, error_sink& sink, identity_config& id,
                   server_positions& positions) {
  map_reader m(
      node, "identity", sink,
      {"trusted_proxies", "client_ip_header", "ipv6_prefix", "api_key", "user", "tier", "jwt"});
  if (!m.ok()) return;
  if (auto* v = m.get("trusted_proxies"))
    read_cidrs(*v, m.path("trusted_proxies"), sink, id.trusted_proxies);
  if (auto* v = m.get("client_ip_header")) {
    assign(id.client_ip_header, read_enum(*v, m.path("client_ip_header"), sink, client_ip_sources));
  }
  if (auto* v = m.get("ipv6_prefix"))
    assign(id.ipv6_prefix, read_int(*v, m.path("ipv6_prefix"), sink, 1, 128));
  if (auto* v = m.get("api_key")) {
    map_reader k(*v, m.path("api_key"), sink, {"header", "query"});
    read_header_name(k, "header", sink, id.api_key_header);
    if (auto* q = k.get("query")) assign(id.api_key_query, read_string(*q, k.path("query"), sink));
  }
  if (auto* v = m.get("user")) {
    map_reader u(*v, m.path("user"), sink, {"header", "trusted_only", "claim"});
    read_header_name(u, "header", sink, id.user_header);
    if (auto* t = u.get("trusted_only"))
      assign(id.user_trusted_only, read_bool(*t, u.path("trusted_only"), sink));
    read_claim(u, sink, id.user_claim, positions.user_claim);
  }
  if (auto* v = m.get("tier")) {
    map_reader t(*v, m.path("tier"), sink, {"header", "claim"});
    read_header_name(t, "header", sink, id.tier_header);
    read_claim(t, sink, id.tier_claim, positions.tier_claim);
  }
  if (auto* v = m.get("jwt")) read_jwt(*v, m.path("jwt"), sink, id.jwt, positions);
}

void read_headers(const yaml_node& node, error_sink& sink, headers_config& h) {
  map_reader m(node, "headers", sink, {"legacy", "legacy_reset", "standard", "retry_after"});
  if (!m.ok()) return;
  if (auto* v = m.get("legacy")) assign(h.legacy, read_bool(*v, m.path("legacy"), sink));
  if (auto* v = m.get("legacy_reset"))
    assign(h.legacy_reset, read_enum(*v, m.path("legacy_reset"), sink, reset_formats));
  if (auto* v = m.get("standard"))
    assign(h.standard, read_enum(*v, m.path("standard"), sink, standards));
  if (auto* v = m.get("retry_after"))
    assign(h.retry_after, read_bool(*v, m.path("retry_after"), sink));
}

// storage.redis.sentinel: { master, password }.
void read_sentinel(const yaml_node& node, const std::string& path, error_sink& sink,
                   redis_sentinel_config& out) {
  map_reader s(node, path, sink, {"master", "password"});
  if (!s.ok()) return;
  if (auto* p = s.get("password")) assign(out.password, read_string(*p, s.path("password"), sink));
  const yaml_node* master = s.get("master");
  if (!master) {
    sink.add(node, path, "missing 'master' (the name the sentinels monitor)");
    return;
  }
  auto name = read_string(*master, s.path("master"), sink);
  if (name && name->empty()) {
    sink.add(*master, s.path("master"), "must not be empty");
  } else if (name) {
    out.master = *name;
  }
}

// The combinations SPEC 15 forbids, each reported at the field that makes it bad.
void check_redis_mode(const map_reader& r, error_sink& sink, const redis_config& redis) {
  const yaml_node* mode = r.get("mode");
  const yaml_node* sentinel = r.get("sentinel");
  const yaml_node* database = r.get("database");
  const yaml_node* address = r.get("address");
  if (redis.mode == redis_mode::cluster && database && redis.database != 0) {
    sink.add(*database, r.path("database"),
             "must be 0 in cluster mode (Redis Cluster has only database 0)");
  }
  // Cluster keys carry a hash tag on the identity ({<key>}); a brace in the prefix
  // would make Redis hash the prefix instead and put every key in one slot.
  const yaml_node* prefix = r.get("key_prefix");
  if (redis.mode == redis_mode::cluster && prefix &&
      redis.key_prefix.find_first_of("{}") != std::string::npos) {
    sink.add(*prefix, r.path("key_prefix"),
             "must not contain '{' or '}' in cluster mode (the hash tag goes on each key's "
             "identity; a brace here would put every key in one slot)");
  }
  if (redis.mode != redis_mode::sentinel && sentinel) {
    sink.add(*sentinel, r.path("sentinel"),
             "only with mode: sentinel (mode is " +
                 (mode ? mode->value : std::string(defaults::redis_mode) + ", the default") + ")");
  }
  if (redis.mode == redis_mode::sentinel && !sentinel) {
    sink.add(*mode, r.path("mode"),
             "sentinel mode needs sentinel: { master: <name> }, the name the sentinels monitor");
  }
  // In single mode a second address would be ignored: a cluster or a set of sentinels
  // addressed as one server over-admits, or fails over to nothing.
  if (redis.mode == redis_mode::single && address && address->type == yaml_node::kind::sequence &&
      address->items.size() > 1) {
    sink.add(*address->items[1], index_path(r.path("address"), 1),
             "single mode takes one address (set mode: cluster for cluster seeds, "
             "mode: sentinel for sentinels)");
  }
}

void read_redis(const yaml_node& node, const std::string& path, error_sink& sink,
                redis_config& redis) {
  map_reader r(node, path, sink,
               {"mode", "address", "sentinel", "password", "database", "timeout", "connections",
                "key_prefix", "local_denials"});
  if (!r.ok()) return;
  bool mode_ok = true;
  if (auto* m = r.get("mode")) {
    auto mode = read_enum(*m, r.path("mode"), sink, redis_modes);
    assign(redis.mode, mode);
    mode_ok = mode.has_value();
  }
  if (auto* s = r.get("sentinel")) read_sentinel(*s, r.path("sentinel"), sink, redis.sentinel);
  if (auto* a = r.get("address")) {
    read_addresses(*a, r.path("address"), sink, redis.addresses);
  } else if (redis.mode == redis_mode::sentinel) {
    redis.addresses = {default_address(defaults::redis_sentinel_address)};
  }
  if (auto* p = r.get("password"))
    assign(redis.password, read_string(*p, r.path("password"), sink));
  if (auto* d = r.get("database"))
    assign(redis.database, read_int(*d, r.path("database"), sink, 0, 15));
  if (auto* t = r.get("timeout")) assign(redis.timeout, read_duration(*t, r.path("timeout"), sink));
  if (auto* c = r.get("connections"))
    assign(redis.connections, read_int(*c, r.path("connections"), sink, 1, 64));
  if (auto* k = r.get("key_prefix"))
    assign(redis.key_prefix, read_string(*k, r.path("key_prefix"), sink));
  if (auto* l = r.get("local_denials")) {
    assign(redis.local_denials, read_int(*l, r.path("local_denials"), sink, 0, max_local_denials));
  }
  // A mode that did not read would make every combination look wrong.
  if (mode_ok) check_redis_mode(r, sink, redis);
}

void read_storage(const yaml_node& node, error_sink& sink, storage_config& st) {
  map_reader m(node, "storage", sink, {"backend", "max_keys", "redis", "on_error"});
  if (!m.ok()) return;
  if (auto* v = m.get("backend"))
    assign(st.backend, read_enum(*v, m.path("backend"), sink, backends));
  if (auto* v = m.get("max_keys")) {
    assign(st.max_keys,
           read_int(*v, m.path("max_keys"), sink, min_max_keys, limit::max_exact_integer));
  }
  if (auto* v = m.get("on_error"))
    assign(st.on_error, read_enum(*v, m.path("on_error"), sink, error_modes));
  if (auto* v = m.get("redis")) read_redis(*v, m.path("redis"), sink, st.redis);
}

// `rls: { listen, config, charging }`: listen and config are required.
void read_rls(const yaml_node& node, error_sink& sink, std::optional<rls_service_config>& out,
              server_positions& positions) {
  map_reader m(node, "rls", sink, {"listen", "config", "charging"});
  if (!m.ok()) return;
  rls_service_config rls;
  bool ok = true;
  if (auto* v = m.get("listen")) {
    auto address = read_host_port(*v, m.path("listen"), sink);
    ok = ok && address.has_value();
    if (address) rls.listen = *address;
  } else {
    sink.add(node, "rls", "needs 'listen' (the gRPC address, host:port)");
    ok = false;
  }
  if (auto* v = m.get("config")) {
    positions.rls_config = sink.where(*v);
    auto dir = read_file_path(*v, m.path("config"), sink);
    ok = ok && dir.has_value();
    if (dir) rls.config = *dir;
  } else {
    sink.add(node, "rls", "needs 'config' (a directory of envoyproxy/ratelimit YAML files)");
    ok = false;
  }
  if (auto* v = m.get("charging")) {
    auto charging = read_enum(*v, m.path("charging"), sink, rls_chargings);
    ok = ok && charging.has_value();
    if (charging) rls.charging = *charging;
  }
  if (ok) out = std::move(rls);
}

}  // namespace

server_config default_server_config() {
  server_config c;
  c.listen = {listen_address{default_address(defaults::listen), std::nullopt}};
  c.upstream.url = std::string(defaults::upstream_url);
  c.upstream.address = *parse_upstream_url(defaults::upstream_url).address;
  c.upstream.connect_timeout = defaults::upstream_connect_timeout;
  c.upstream.timeout = defaults::upstream_timeout;
  c.upstream.max_idle_connections = defaults::upstream_max_idle_connections;
  c.upstream.breaker_failures = defaults::circuit_breaker_failures;
  c.upstream.breaker_cooldown = defaults::circuit_breaker_cooldown;
  c.server.threads = defaults::server_threads;
  c.server.header_timeout = defaults::header_timeout;
  c.server.idle_timeout = defaults::idle_timeout;
  c.server.max_header_bytes = defaults::max_header_bytes;
  c.server.max_body_bytes = defaults::max_body_bytes;
  c.server.drain_timeout = defaults::drain_timeout;
  c.server.access_log = std::string(defaults::access_log);
  c.server.max_connections = defaults::max_connections;
  c.admin.listen = {default_address(defaults::admin_listen)};
  for (auto block : defaults::admin_allow) c.admin.allow.push_back(*cidr::parse(block));
  c.identity.client_ip_header = enum_named(client_ip_sources, defaults::client_ip_header);
  c.identity.ipv6_prefix = defaults::ipv6_prefix;
  c.identity.api_key_header = std::string(defaults::api_key_header);
  c.identity.api_key_query = std::string(defaults::api_key_query);
  c.identity.user_header = std::string(defaults::user_header);
  c.identity.user_trusted_only = defaults::user_trusted_only;
  c.identity.tier_header = std::string(defaults::tier_header);
  c.headers.legacy = defaults::legacy_headers;
  c.headers.legacy_reset = enum_named(reset_formats, defaults::legacy_reset);
  c.headers.standard = enum_named(standards, defaults::standard_headers);
  c.headers.retry_after = defaults::retry_after;
  c.storage.backend = enum_named(backends, defaults::storage_backend);
  c.storage.max_keys = defaults::max_keys;
  c.storage.redis.mode = enum_named(redis_modes, defaults::redis_mode);
  c.storage.redis.addresses = {default_address(defaults::redis_address)};
  c.storage.redis.database = defaults::redis_database;
  c.storage.redis.timeout = defaults::redis_timeout;
  c.storage.redis.connections = defaults::redis_connections;
  c.storage.redis.key_prefix = std::string(defaults::redis_key_prefix);
  c.storage.redis.local_denials = defaults::redis_local_denials;
  c.storage.on_error = enum_named(error_modes, defaults::storage_on_error);
  c.policies = std::string(defaults::policies);
  c.reload_watch = defaults::reload_watch;
  return c;
}

void read_server_config(const yaml_node& root, error_sink& sink, server_config& config,
                        server_positions& positions) {
  positions.policies = {sink.file(), 0, 0};
  map_reader m(root, "", sink,
               {"listen", "upstream", "server", "admin", "identity", "headers", "storage",
                "policies", "reload", "rls"});
  if (!m.ok()) return;
  if (auto* v = m.get("listen")) read_listen(*v, sink, config.listen);
  if (auto* v = m.get("upstream")) read_upstream(*v, sink, config.upstream);
  if (auto* v = m.get("server")) read_server(*v, sink, config.server);
  if (auto* v = m.get("admin")) read_admin(*v, sink, config.admin, positions);
  if (auto* v = m.get("identity")) read_identity(*v, sink, config.identity, positions);
  if (auto* v = m.get("headers")) read_headers(*v, sink, config.headers);
  if (auto* v = m.get("storage")) read_storage(*v, sink, config.storage);
  if (auto* v = m.get("policies")) {
    positions.policies = sink.where(*v);
    positions.policies_ok = false;
    if (auto text = read_string(*v, "policies", sink)) {
      if (text->empty()) {
        sink.add(*v, "policies", "must name a directory or a file");
      } else {
        config.policies = *text;
        positions.policies_ok = true;
      }
    }
  }
  if (auto* v = m.get("rls")) read_rls(*v, sink, config.rls, positions);
  if (auto* v = m.get("reload")) {
    map_reader r(*v, "reload", sink, {"watch"});
    if (auto* w = r.get("watch")) assign(config.reload_watch, read_bool(*w, r.path("watch"), sink));
  }
  // Listeners bind with SO_REUSEPORT, which lets two of them share an address, each
  // taking part of its connections (admin requests answered by the proxy): refused.
  std::vector<std::string> seen;
  auto check = [&](const host_port& address, std::string_view key) {
    const std::string text = address.to_string();
    if (std::find(seen.begin(), seen.end(), text) != seen.end()) {
      const yaml_node* at = m.get(key);
      sink.add(at != nullptr ? *at : root, std::string(key),
               "address " + text +
                   " is used twice (an address takes one listener, in listen or admin.listen)");
    }
    seen.push_back(text);
  };
  for (const auto& l : config.listen) check(l.address, "listen");
  for (const auto& a : config.admin.listen) check(a, "admin");
  if (config.rls) check(config.rls->listen, "rls");
}

}  // namespace sluice::config::detail
