#include "admin/admin_api.hpp"

#include <boost/json.hpp>

#include <cctype>
#include <charconv>

#include "admin/config_json.hpp"
#include "admin/web_assets.hpp"
#include "config/units.hpp"
#include "http/error_response.hpp"
#include "limit/shards.hpp"
#include "util/mask.hpp"
#include "util/percent.hpp"

namespace sluice::admin {
namespace {

namespace json = boost::json;
using net::gateway_error;

admin::admin_response respond(int status, const json::value& body) {
  admin::admin_response r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

admin::admin_response fail(gateway_error e, std::string_view message) {
  admin::admin_response r;
  r.status = net::status_of(e);
  r.body = net::error_body(e, message);
  return r;
}

// 405 with the Allow header RFC 9110 requires.
admin::admin_response not_allowed(std::string_view allow) {
  admin::admin_response r = fail(gateway_error::method_not_allowed, "Use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// The endpoints that only answer GET and HEAD.
constexpr std::string_view read_only_paths[] = {"/metrics",     "/healthz",     "/readyz",
                                                "/dashboard",   "/admin/stats", "/admin/config",
                                                "/admin/access"};

std::optional<std::string_view> query_value(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
  }
  return std::nullopt;
}

bool is_write(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "DELETE" || method == "PATCH";
}

// "Bearer <token>"; the scheme is case-insensitive (RFC 7235), the token is not.
bool bearer_ok(const admin::admin_request& req, const std::string& token) {
  if (token.empty()) return true;
  constexpr std::string_view scheme = "bearer ";
  const std::string_view auth = req.authorization;
  if (auth.size() != scheme.size() + token.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(auth[i]))) != scheme[i]) {
      return false;
    }
  }
  return auth.substr(scheme.size()) == token;
}

json::object decision_json(const limit::decision& d) {
  json::object o;
  o["allowed"] = d.allowed;
  o["limit"] = d.limit;
  o["remaining"] = d.remaining;
  o["reset_seconds"] = limit::ceil_seconds(d.reset);
  if (!d.allowed) o["retry_after_seconds"] = limit::ceil_seconds_min1(d.retry_after);
  return o;
}

// The parameters a tier-aware limit has for `tier_name` (default: the default tier);
// for a limit with `shards: N`, those of sub-key `shard` (in [0, N)).
const limit::limit_params* params_for(const limit::policy& pol, const limit::compiled_limit& l,
                                      std::optional<std::string_view> tier_name, int shard,
                                      std::string& error) {
  int tier = -1;
  if (l.tier_aware) {
    tier = tier_name ? pol.find_tier(*tier_name) : pol.default_tier();
    if (tier_name && tier < 0) {
      error = "unknown tier '" + std::string(*tier_name) + "'";
      return nullptr;
    }
    if (tier < 0) {
      error = "limit '" + l.name + "' is tier-aware and there is no default tier; pass a tier";
      return nullptr;
    }
  }
  const auto* p = l.shard_params_for(tier, shard);
  if (p == nullptr) error = "tier '" + pol.tier_names()[tier] + "' is unlimited";
  return p;
}

// /admin/stats' `penalties`: the boxed keys ending last first, at most 100; API keys masked.
json::array penalties_json(const limit::policy& pol, app::shared_penalties& shared,
                           limit::micros now) {
  constexpr std::size_t max_listed = 100;
  json::array out;
  for (const auto& b : shared.box().list(now, max_listed)) {
    const int index = pol.find_limit(b.limit);
    bool secret = false;
    if (index >= 0) {
      for (const auto& part : pol.limits()[index].key) {
        secret = secret || part.kind == config::key_part_kind::api_key;
      }
    }
    out.push_back(json::object{{"limit", b.limit},
                               {"key", secret ? mask_secret_distinct(b.key) : b.key},
                               {"factor", b.factor},
                               {"expires_at", static_cast<double>(b.expires_at) / 1e6},
                               {"remaining_seconds", static_cast<double>(b.expires_at - now) / 1e6},
                               {"shared", b.shared}});
  }
  return out;
}

// Sub-key `shard` of `key` for a limit with `shards: N` ("<key>#<j>", as the engine
// charges it); the key itself otherwise.
std::string sub_key(const limit::compiled_limit& l, std::string_view key, int shard) {
  std::string out(key);
  if (l.shards > 1) limit::append_shard_suffix(out, 0, shard, l.shards);
  return out;
}

// The `shard` query parameter of a sharded limit's peek or reset: nullopt when absent
// (every sub-key), -1 when malformed or out of range.
std::optional<int> shard_query(std::string_view target, const limit::compiled_limit& l) {
  auto text = query_value(target, "shard");
  if (!text) return std::nullopt;
  int shard = -1;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), shard);
  if (ec != std::errc{} || end != text->data() + text->size() || shard < 0 || shard >= l.shards) {
    return -1;
  }
  return shard;
}

// The `<limit>/<key>` tail of /admin/limits/... and /admin/penalties/...: the limit and
// the percent-decoded key, or the error to answer (`usage` names the endpoint's form).
struct limit_and_key {
  const limit::compiled_limit* limit = nullptr;
  std::string key;
  std::optional<admin::admin_response> error;
};

// The member `name` of a request's JSON object body (parsed into `body`), or null for
// a body that is not a JSON object holding it.
const json::value* body_member(const admin::admin_request& req, json::value& body,
                               std::string_view name) {
  boost::system::error_code ec;
  body = json::parse(req.body, ec);
  const json::object* obj = ec ? nullptr : body.if_object();
  return obj ? obj->if_contains(name) : nullptr;
}

limit_and_key find_limit_and_key(std::string_view rest, std::string_view usage,
                                 const limit::policy& pol) {
  limit_and_key found;
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    found.error = fail(gateway_error::bad_request, "Use " + std::string(usage));
    return found;
  }
  const auto name = percent_decode_strict(rest.substr(0, slash));
  auto key = percent_decode_strict(rest.substr(slash + 1));
  if (!name || !key) {
    found.error = fail(gateway_error::bad_request, "Malformed percent-encoding");
    return found;
  }
  const int index = pol.find_limit(*name);
  if (index < 0) {
    found.error = fail(gateway_error::not_found, "No limit named '" + *name + "'");
    return found;
  }
  found.limit = &pol.limits()[index];
  found.key = std::move(*key);
  return found;
}

}  // namespace

void reload_history::record(bool ok, limit::micros at, std::string error) {
  std::lock_guard lock(mutex_);
  v_.last_ok = ok;
  v_.last_at = at;
  v_.last_error = std::move(error);
  ++(ok ? v_.succeeded : v_.failed);
}

void reload_history::record_start(limit::micros at) {
  std::lock_guard lock(mutex_);
  v_.last_ok = true;
  v_.last_at = at;
}

reload_history::view reload_history::get() const {
  std::lock_guard lock(mutex_);
  return v_;
}

bool admin_api::allows(const ip_address& peer) const {
  const auto& allow = ctx_.snapshots.get()->config.server.admin.allow;
  return allow.empty() || contains_any(allow, peer);
}

net::awaitable<admin::admin_response> admin_api::handle(admin::admin_request req) {
  auto snap = ctx_.snapshots.get();
  const auto& admin_cfg = snap->config.server.admin;
  if (!allows(req.peer)) {
    co_return fail(gateway_error::forbidden, "Peer not allowed on the admin listener");
  }

  const std::string_view path = req.target.substr(0, req.target.find('?'));
  const bool read = req.method == "GET" || req.method == "HEAD";
  if (is_write(req.method) && path != "/api/ratelimit/check" && !bearer_ok(req, admin_cfg.token)) {
    co_return fail(gateway_error::unauthorized, "Missing or wrong admin token");
  }

  if (path == "/metrics" && read) {
    admin::admin_response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx_.metrics.serialize();
    co_return r;
  }
  if (path == "/healthz" && read) co_return respond(200, {{"status", "ok"}});
  if (path == "/readyz" && read) co_return readiness();
  if (path == "/dashboard" && read) {
    admin::admin_response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(admin::web_asset("dashboard.html"));
    co_return r;
  }
  if (path == "/admin/stats" && read) co_return stats_json();
  if (path == "/admin/config" && read) {
    admin::admin_response r;
    r.body = config_json(snap->config);
    co_return r;
  }
  if (path == "/admin/reload") {
    if (req.method != "POST") co_return not_allowed("POST");
    auto result = ctx_.reload();
    if (result.ok) co_return respond(200, {{"status", "reloaded"}});
    json::array details;
    for (const auto& e : result.errors) details.emplace_back(e);
    co_return respond(400, {{"error",
                             {{"code", "invalid_config"},
                              {"message", "Reload failed; the running configuration is kept."},
                              {"details", std::move(details)}}}});
  }
  if (path.starts_with("/admin/limits/")) {
    co_return co_await limits(req, path.substr(std::string_view("/admin/limits/").size()), snap);
  }
  if (path == "/admin/access" && read) {
    json::array entries;
    for (const auto& e : ctx_.entries.list_access(app::system_now_us())) {
      json::object o{
          {"list", identity::to_string(e.list)},
          {"subject", identity::to_string(e.subject)},
          {"value", e.subject == identity::subject_kind::api_key ? mask_secret(e.value) : e.value}};
      if (e.expires_at != 0) o["expires_at"] = static_cast<double>(e.expires_at) / 1e6;
      entries.push_back(std::move(o));
    }
    // A list: masked keys look alike, an object keyed by them would keep one.
    json::array tiers;
    for (const auto& [key, tier] : ctx_.entries.list_tiers()) {
      tiers.push_back(json::object{{"api_key", mask_secret(key)}, {"tier", tier}});
    }
    co_return respond(200, {{"entries", std::move(entries)}, {"tiers", std::move(tiers)}});
  }
  if (path.starts_with("/admin/access/")) {
    co_return co_await access(req, path.substr(std::string_view("/admin/access/").size()));
  }
  if (path.starts_with("/admin/penalties/")) {
    co_return co_await penalties(req, path.substr(std::string_view("/admin/penalties/").size()),
                                 snap);
  }
  if (path == "/admin/tenants" && read) {
    json::array tenants;
    for (const auto& [field, n] : ctx_.entries.list_tenant_numbers()) {
      const std::size_t bar = field.find('|');
      tenants.push_back(json::object{
          {"limit", field.substr(0, bar)}, {"key", field.substr(bar + 1)}, {"rate", n}});
    }
    co_return respond(200, {{"tenants", std::move(tenants)}});
  }
  if (path.starts_with("/admin/tenants/")) {
    co_return co_await tenants(req, path.substr(std::string_view("/admin/tenants/").size()), snap);
  }
  if (path.starts_with("/admin/clients/")) {
    co_return co_await clients(req, path.substr(std::string_view("/admin/clients/").size()), snap);
  }
  if (path == "/api/ratelimit/check") {
    if (req.method != "POST") co_return not_allowed("POST");
    co_return co_await check(req, snap);
  }
  if (path == "/json" && ctx_.rls != nullptr) {
    if (req.method != "POST") co_return not_allowed("POST");
    co_return co_await rls_json(req);
  }
  for (const auto p : read_only_paths) {
    if (path == p) co_return not_allowed("GET, HEAD");
  }
  co_return fail(gateway_error::not_found, "No such admin endpoint");
}

// envoyproxy/ratelimit's POST /json: the RateLimitRequest in JSON, decided as a gRPC
// call is; 200 or 429 with the RateLimitResponse, 400 with Sluice's error shape for a
// body that is not a valid request.
net::awaitable<admin::admin_response> admin_api::rls_json(const admin::admin_request& req) {
  rls::pb::RateLimitRequest request;
  if (auto problem = rls::read_json_request(req.body, request)) {
    co_return fail(gateway_error::bad_request, "Invalid rate limit request: " + *problem);
  }
  rls::call c;
  switch (ctx_.rls->start(c, request)) {
    case rls::decider::start_result::ready:
      break;
    case rls::decider::start_result::invalid:
      co_return fail(gateway_error::bad_request,
                     "Invalid rate limit request: " + std::string(c.ev.problem));
    case rls::decider::start_result::not_configured:
      co_return fail(gateway_error::not_found, "The rate limit service is not configured");
  }
  if (!ctx_.rls->decide_now(c)) co_await ctx_.rls->decide(c);
  rls::pb::RateLimitResponse response;
  ctx_.rls->answer(c, response);
  admin::admin_response r;
  r.status = rls::json_status(response);
  r.body = rls::json_response(response);
  co_return r;
}

admin::admin_response admin_api::readiness() const {
  if (ctx_.draining.load()) return respond(503, {{"status", "draining"}});
  const auto storage = ctx_.backend.status();
  const auto on_error = ctx_.snapshots.get()->config.server.storage.on_error;
  // With on_error: deny a gateway without Redis can only answer 503: not ready.
  if (!storage.reachable && on_error == config::storage_error_mode::deny) {
    return respond(503, {{"status", "storage_unavailable"}});
  }
  return respond(200, {{"status", "ready"}});
}

admin::admin_response admin_api::stats_json() const {
  const limit::micros now = app::system_now_us();
  const std::int64_t now_s = now / limit::micros_per_second;
  const auto series = ctx_.stats.series(now_s);
  json::array points;
  // Rates over the last 10 complete seconds.
  constexpr std::size_t rate_window = 10;
  double allowed = 0, limited = 0, forbidden = 0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    points.push_back(json::object{
        {"t", s.time}, {"allowed", s.allowed}, {"limited", s.limited}, {"forbidden", s.forbidden}});
    if (i + 1 < series.size() && i + 1 + rate_window >= series.size()) {
      allowed += static_cast<double>(s.allowed);
      limited += static_cast<double>(s.limited);
      forbidden += static_cast<double>(s.forbidden);
    }
  }
  auto ranked = [](const std::vector<admin::stats::ranked>& rows) {
    json::array out;
    for (const auto& r : rows) out.push_back(json::object{{"name", r.name}, {"count", r.count}});
    return out;
  };
  const auto totals = ctx_.stats.total();
  const auto storage = ctx_.backend.status();
  const auto snap = ctx_.snapshots.get();
  const auto reloads = ctx_.reloads.get();
  static constexpr std::string_view on_error_names[] = {"local", "allow", "deny"};
  json::object body{
      {"version", SLUICE_VERSION},
      {"time", static_cast<double>(now) / 1e6},
      {"totals",
       {{"allowed", totals.allowed}, {"limited", totals.limited}, {"forbidden", totals.forbidden}}},
      {"rates",
       {{"allowed_per_second", allowed / rate_window},
        {"limited_per_second", limited / rate_window},
        {"forbidden_per_second", forbidden / rate_window}}},
      {"series", std::move(points)},
      {"top_limits", ranked(ctx_.stats.top_limits(10))},
      {"top_clients", ranked(ctx_.stats.top_clients(10))},
      {"storage",
       {{"backend", storage.backend},
        {"degraded", storage.degraded},
        {"reachable", storage.reachable},
        {"on_error", on_error_names[static_cast<int>(snap->config.server.storage.on_error)]},
        {"tracked_keys", ctx_.store.size()},
        {"errors", storage.errors}}},
      {"reload",
       {{"last_result", reloads.last_ok ? "success" : "error"},
        {"last_time", static_cast<double>(reloads.last_at) / 1e6},
        {"last_error", reloads.last_error},
        {"succeeded", reloads.succeeded},
        {"failed", reloads.failed}}}};
  if (ctx_.redis_master) body["storage"].as_object()["master"] = ctx_.redis_master();
  if (ctx_.load != nullptr) {
    json::array adaptive;
    for (const auto& r : ctx_.load->readings()) {
      json::object o{{"limit", r.limit}, {"factor", r.effective}, {"own_factor", r.factor}};
      if (r.signal >= 0) o["signal"] = r.signal;
      adaptive.push_back(std::move(o));
    }
    body["adaptive"] = std::move(adaptive);
  }
  if (ctx_.penalties != nullptr)
    body["penalties"] = penalties_json(snap->policy, *ctx_.penalties, now);
  return respond(200, body);
}

// DELETE /admin/penalties/<limit>/<key>: unbox the key (every sub-key of a sharded
// limit), here and in Redis.
net::awaitable<admin::admin_response> admin_api::penalties(
    const admin::admin_request& req, std::string_view rest,
    std::shared_ptr<const app::snapshot> snap) {
  if (req.method != "DELETE") co_return not_allowed("DELETE");
  auto found = find_limit_and_key(rest, "/admin/penalties/<limit>/<key>", snap->policy);
  if (found.error) co_return std::move(*found.error);
  const auto& l = *found.limit;
  const std::string& key = found.key;
  if (!l.penalty || ctx_.penalties == nullptr) {
    co_return fail(gateway_error::not_found, "Limit '" + l.name + "' has no penalty");
  }
  bool removed = false;
  for (int i = 0; i < l.shards; ++i) {
    switch (co_await ctx_.penalties->remove(l, sub_key(l, key, i), app::system_now_us())) {
      case app::shared_penalties::removal::removed:
        removed = true;
        break;
      case app::shared_penalties::removal::not_boxed:
        break;
      case app::shared_penalties::removal::unavailable:
        co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
    }
  }
  if (!removed) co_return fail(gateway_error::not_found, "Key not in the penalty box");
  co_return respond(200, {{"limit", l.name}, {"key", key}, {"removed", true}});
}

// GET /admin/limits/<limit>/<key>[?tier=<tier>]: peek (charges nothing).
// DELETE /admin/limits/<limit>/<key>: forget the key.
net::awaitable<admin::admin_response> admin_api::limits(const admin::admin_request& req,
                                                        std::string_view rest,
                                                        std::shared_ptr<const app::snapshot> snap) {
  auto found = find_limit_and_key(rest, "/admin/limits/<limit>/<key>", snap->policy);
  if (found.error) co_return std::move(*found.error);
  const auto& l = *found.limit;
  const std::string& key = found.key;

  // A limit with `shards: N` keeps N sub-keys: ?shard=<i> picks one, otherwise a reset
  // forgets all of them and a peek shows each.
  const auto shard = shard_query(req.target, l);
  if (shard && *shard < 0) {
    co_return fail(gateway_error::bad_request, "shard must be a number from 0 to " +
                                                   std::to_string(l.shards - 1) + " for limit '" +
                                                   l.name + "'");
  }
  const int first = shard.value_or(0);
  const int last = shard ? *shard : l.shards - 1;

  if (req.method == "DELETE") {
    for (int i = first; i <= last; ++i) {
      if (!co_await ctx_.backend.reset(l, sub_key(l, key, i))) {
        co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
      }
    }
    co_return respond(200, {{"limit", l.name}, {"key", key}, {"reset", true}});
  }
  if (req.method != "GET" && req.method != "HEAD") {
    co_return not_allowed("GET, HEAD, DELETE");
  }
  std::string error;
  auto tier = query_value(req.target, "tier");
  json::array shards;
  json::object body;
  for (int i = first; i <= last; ++i) {
    const auto* params = params_for(snap->policy, l, tier, i, error);
    if (params == nullptr) co_return fail(gateway_error::bad_request, error);
    const std::string charged = sub_key(l, key, i);
    auto d = co_await ctx_.backend.peek(l, *params, charged);
    if (!d) co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
    body = decision_json(*d);
    body.erase("allowed");
    if (l.shards > 1) {
      body["shard"] = i;
      body["sub_key"] = charged;
      shards.push_back(body);
    }
  }
  if (l.shards > 1 && !shard) {
    // Every sub-key; the first one's fields stay at the top level.
    body = shards.front().as_object();
    body["shards"] = std::move(shards);
  }
  body["name"] = l.name;
  body["key"] = key;
  body["algorithm"] = limit::to_string(l.algo);
  co_return respond(200, body);
}

// PUT|DELETE /admin/access/{allow|deny}/{ip|api_key|user}/<value>[?ttl=<duration>]
net::awaitable<admin::admin_response> admin_api::access(const admin::admin_request& req,
                                                        std::string_view rest) {
  const auto first = rest.find('/');
  const auto second = first == std::string_view::npos ? first : rest.find('/', first + 1);
  if (second == std::string_view::npos || second + 1 >= rest.size()) {
    co_return fail(gateway_error::bad_request,
                   "Use /admin/access/{allow|deny}/{ip|api_key|user}/<value>");
  }
  auto entry =
      app::parse_access_field(std::string(rest.substr(0, first)) + "|" +
                                  std::string(rest.substr(first + 1, second - first - 1)) + "|",
                              0);
  auto value = percent_decode_strict(rest.substr(second + 1));
  if (!entry || !value || value->empty()) {
    co_return fail(gateway_error::bad_request,
                   "Use /admin/access/{allow|deny}/{ip|api_key|user}/<value>");
  }
  entry->value = *value;
  if (entry->subject == identity::subject_kind::ip) {
    // Requests are matched by their canonical address text.
    auto ip = ip_address::parse(*value);
    if (!ip) co_return fail(gateway_error::bad_request, "Not an IP address: '" + *value + "'");
    entry->value = ip->to_string();
  }
  if (req.method == "DELETE") {
    if (!co_await ctx_.entries.remove_access(entry->list, entry->subject, entry->value)) {
      co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
    }
    co_return respond(200, {{"removed", true}});
  }
  if (req.method != "PUT") co_return not_allowed("PUT, DELETE");
  std::int64_t ttl_s = 0;
  if (auto ttl = query_value(req.target, "ttl")) {
    auto parsed = config::units::parse_duration(*ttl);
    if (!parsed.value || parsed.value->count() <= 0) {
      co_return fail(gateway_error::bad_request,
                     "ttl: " + (parsed.error.empty() ? std::string("must be > 0") : parsed.error));
    }
    entry->expires_at = app::system_now_us() + parsed.value->count() * 1000;
    ttl_s = (parsed.value->count() + 999) / 1000;
  }
  if (!co_await ctx_.entries.put_access(*entry)) {
    co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
  }
  json::object body{
      {"list", identity::to_string(entry->list)},
      {"subject", identity::to_string(entry->subject)},
      {"value", entry->subject == identity::subject_kind::api_key ? mask_secret(entry->value)
                                                                  : entry->value}};
  if (ttl_s > 0) body["ttl_seconds"] = ttl_s;
  co_return respond(200, body);
}

// PUT /admin/tenants/<limit>/<key> {"rate":500}; DELETE /admin/tenants/<limit>/<key>: the N
// of a limit with `tenant_rate:` for one key text (issue 14), ahead of claims and headers.
net::awaitable<admin::admin_response> admin_api::tenants(
    const admin::admin_request& req, std::string_view rest,
    std::shared_ptr<const app::snapshot> snap) {
  auto found = find_limit_and_key(rest, "/admin/tenants/<limit>/<key>", snap->policy);
  if (found.error) co_return std::move(*found.error);
  const auto& l = *found.limit;
  if (!l.tenant_rate) {
    co_return fail(gateway_error::bad_request,
                   "Limit '" + l.name + "' takes no tenant numbers (it has no tenant_rate)");
  }
  if (req.method == "DELETE") {
    if (!co_await ctx_.entries.remove_tenant_number(l.name, found.key)) {
      co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
    }
    co_return respond(200, {{"removed", true}});
  }
  if (req.method != "PUT") co_return not_allowed("PUT, DELETE");
  json::value body;
  const json::value* rate = body_member(req, body, "rate");
  if (rate == nullptr || !rate->is_int64() || rate->as_int64() < 1 ||
      rate->as_int64() > limit::max_exact_integer) {
    co_return fail(gateway_error::bad_request,
                   R"(Body must be {"rate":<N>}, N a positive integer (at most the limit's max))");
  }
  const std::int64_t n = rate->as_int64();
  if (!co_await ctx_.entries.put_tenant_number(l.name, found.key, n)) {
    co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
  }
  co_return respond(200, {{"limit", l.name},
                          {"key", found.key},
                          {"rate", n},
                          {"applied", std::min(n, l.tenant_rate->max)}});
}

// PUT /admin/clients/<api_key> {"tier":"pro"}; DELETE /admin/clients/<api_key>
net::awaitable<admin::admin_response> admin_api::clients(
    const admin::admin_request& req, std::string_view rest,
    std::shared_ptr<const app::snapshot> snap) {
  auto api_key = percent_decode_strict(rest);
  if (!api_key || api_key->empty()) {
    co_return fail(gateway_error::bad_request, "Use /admin/clients/<api_key>");
  }
  if (req.method == "DELETE") {
    if (!co_await ctx_.entries.remove_tier(*api_key)) {
      co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
    }
    co_return respond(200, {{"removed", true}});
  }
  if (req.method != "PUT") co_return not_allowed("PUT, DELETE");
  json::value body;
  const json::value* tier = body_member(req, body, "tier");
  if (tier == nullptr || !tier->is_string()) {
    co_return fail(gateway_error::bad_request, R"(Body must be {"tier":"<name>"})");
  }
  const std::string name(tier->as_string());
  if (snap->policy.find_tier(name) < 0) {
    co_return fail(gateway_error::bad_request, "Unknown tier '" + name + "'");
  }
  if (!co_await ctx_.entries.put_tier(*api_key, name)) {
    co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
  }
  co_return respond(200, {{"api_key", mask_secret(*api_key)}, {"tier", name}});
}

// POST /api/ratelimit/check {"key":"user:123","tokens":1,"limit":"per-client"}
net::awaitable<admin::admin_response> admin_api::check(const admin::admin_request& req,
                                                       std::shared_ptr<const app::snapshot> snap) {
  const auto& admin_cfg = snap->config.server.admin;
  boost::system::error_code ec;
  json::value parsed = json::parse(req.body, ec);
  const json::object* body = ec ? nullptr : parsed.if_object();
  // The token may come as a Bearer header or as "apiKey" in the body.
  if (!admin_cfg.token.empty() && !bearer_ok(req, admin_cfg.token)) {
    const json::value* api_key = body ? body->if_contains("apiKey") : nullptr;
    if (api_key == nullptr || !api_key->is_string() || api_key->as_string() != admin_cfg.token) {
      co_return fail(gateway_error::unauthorized, "Missing or wrong token");
    }
  }
  if (body == nullptr) co_return fail(gateway_error::bad_request, "Body must be a JSON object");

  const json::value* key = body->if_contains("key");
  if (key == nullptr || !key->is_string() || key->as_string().empty()) {
    co_return fail(gateway_error::bad_request, "\"key\" must be a non-empty string");
  }
  std::int64_t tokens = 1;
  if (const json::value* t = body->if_contains("tokens")) {
    if (!t->is_int64() && !t->is_uint64()) {
      co_return fail(gateway_error::bad_request, "\"tokens\" must be an integer");
    }
    tokens = t->is_int64() ? t->as_int64() : static_cast<std::int64_t>(t->as_uint64());
    if (tokens < 1 || tokens > 1'000'000'000) {
      co_return fail(gateway_error::bad_request, "\"tokens\" must be between 1 and 1000000000");
    }
  }
  std::string limit_name = admin_cfg.check_limit;
  if (const json::value* l = body->if_contains("limit")) {
    if (!l->is_string()) co_return fail(gateway_error::bad_request, "\"limit\" must be a string");
    limit_name = std::string(l->as_string());
  }
  const auto& pol = snap->policy;
  if (pol.limits().empty()) co_return fail(gateway_error::bad_request, "No limits are configured");
  const int index = limit_name.empty() ? 0 : pol.find_limit(limit_name);
  if (index < 0) co_return fail(gateway_error::bad_request, "Unknown limit '" + limit_name + "'");
  const auto& l = pol.limits()[index];
  if (limit::holds_in_flight(l.algo)) {
    // A check takes no response whose end would give the slot back.
    co_return fail(gateway_error::bad_request,
                   "Limit '" + limit_name +
                       "' counts requests in flight (algorithm: concurrency); the check API "
                       "cannot hold a slot");
  }
  std::optional<std::string_view> tier;
  if (const json::value* t = body->if_contains("tier")) {
    if (!t->is_string()) co_return fail(gateway_error::bad_request, "\"tier\" must be a string");
    tier = std::string_view(t->as_string());
  }
  // A limit with `shards: N`: the key charges the sub-key it hashes to, with that
  // sub-key's share of the budget, as a proxied request of that client would.
  const std::string key_text(key->as_string());
  const int shard = l.shards > 1 ? limit::shard_of_client(key_text, l.shards) : 0;
  std::string error;
  const auto* params = params_for(pol, l, tier, shard, error);
  if (params == nullptr) co_return fail(gateway_error::bad_request, error);

  limit::evaluation ev;
  limit::prepare_single(pol, index, *params, sub_key(l, key_text, shard), tokens,
                        app::system_now_us(), ev, ctx_.scaling);
  app::store_verdict verdict;
  if (!ctx_.backend.decide_now(ev, verdict)) verdict = co_await ctx_.backend.decide_async(ev);
  if (verdict == app::store_verdict::unavailable) {
    co_return fail(gateway_error::storage_unavailable, "Rate-limit storage unavailable");
  }
  json::object out{{"allowed", verdict == app::store_verdict::admitted},
                   {"key", key_text},
                   {"tokensRequested", tokens}};
  if (!ev.decisions.empty()) {
    const auto& d = ev.decisions[0];
    out["remaining"] = d.remaining;
    out["limit"] = d.limit;
    out["resetSeconds"] = limit::ceil_seconds(d.reset);
    if (!d.allowed) out["retryAfterSeconds"] = limit::ceil_seconds_min1(d.retry_after);
  }
  co_return respond(verdict == app::store_verdict::admitted ? 200 : 429, out);
}

}  // namespace sluice::admin
