#include "admin/config_json.hpp"

#include <optional>

#include <boost/json.hpp>

#include "config/units.hpp"
#include "util/mask.hpp"

namespace sluice::admin {
namespace {

namespace json = boost::json;
using config::units::format_duration;
using config::units::format_rate;
using config::units::format_size;

json::array addresses(const std::vector<config::host_port>& list) {
  json::array out;
  for (const auto& a : list) out.emplace_back(a.to_string());
  return out;
}

// Plain entries as "host:port", TLS ones as {address, tls: {certificates, client_ca}}.
json::array listeners(const std::vector<config::listen_address>& list) {
  json::array out;
  for (const auto& l : list) {
    if (!l.tls) {
      out.emplace_back(l.address.to_string());
      continue;
    }
    json::array certificates;
    for (const auto& c : l.tls->certificates) {
      certificates.push_back(json::object{{"cert", c.cert}, {"key", c.key}});
    }
    out.push_back(json::object{
        {"address", l.address.to_string()},
        {"tls", {{"certificates", std::move(certificates)}, {"client_ca", l.tls->client_ca}}}});
  }
  return out;
}

json::array blocks(const std::vector<cidr>& list) {
  json::array out;
  for (const auto& c : list) out.emplace_back(c.to_string());
  return out;
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& s : list) out.emplace_back(s);
  return out;
}

// identity.jwt, or null without it. The key set itself is not shown: its file is named.
json::value jwt(const std::optional<config::jwt_config>& jwt) {
  if (!jwt) return nullptr;
  return json::object{
      {"header", jwt->header},
      {"jwks_file", jwt->jwks_file},
      {"issuers", strings(jwt->issuers)},
      {"audiences", strings(jwt->audiences)},
      {"required", jwt->required},
      {"leeway", config::units::format_duration(std::chrono::seconds(jwt->leeway_seconds))}};
}

// server.websocket_messages, or null when unlimited.
json::value websocket_messages(const std::optional<config::websocket_message_limit>& limit) {
  if (!limit) return nullptr;
  return json::object{{"per_second", limit->per_second}, {"burst", limit->burst}};
}

std::string secret(const std::string& s) {
  return s.empty() ? "" : "****";
}

json::object access(const config::access_list& list) {
  json::array keys;
  for (const auto& k : list.api_keys) keys.emplace_back(mask_secret(k));
  return {{"ips", blocks(list.ips)}, {"api_keys", std::move(keys)}, {"users", strings(list.users)}};
}

}  // namespace

std::string config_json(const config::loaded_config& cfg) {
  const auto& s = cfg.server;
  static constexpr std::string_view ip_sources[] = {"x-forwarded-for", "forwarded", "x-real-ip"};
  static constexpr std::string_view standards[] = {"draft-6", "draft-7", "draft-10", "off"};
  static constexpr std::string_view on_error[] = {"local", "allow", "deny"};
  static constexpr std::string_view redis_modes[] = {"single", "cluster", "sentinel"};

  json::object server{
      {"file", s.file},
      {"listen", listeners(s.listen)},
      {"upstream",
       {{"url", mask_credentials(s.upstream.url)},
        {"connect_timeout", format_duration(s.upstream.connect_timeout)},
        {"timeout", format_duration(s.upstream.timeout)},
        {"max_idle_connections", s.upstream.max_idle_connections},
        {"circuit_breaker",
         {{"failures", s.upstream.breaker_failures},
          {"cooldown", format_duration(s.upstream.breaker_cooldown)}}}}},
      {"server",
       {{"threads", s.server.threads},
        {"header_timeout", format_duration(s.server.header_timeout)},
        {"idle_timeout", format_duration(s.server.idle_timeout)},
        {"max_header_bytes", format_size(s.server.max_header_bytes)},
        {"max_body_bytes", format_size(s.server.max_body_bytes)},
        {"drain_timeout", format_duration(s.server.drain_timeout)},
        {"access_log", s.server.access_log},
        {"max_connections", s.server.max_connections},
        {"websocket_messages", websocket_messages(s.server.websocket_messages)}}},
      {"admin",
       {{"listen", addresses(s.admin.listen)},
        {"token", secret(s.admin.token)},
        {"allow", blocks(s.admin.allow)},
        {"check_limit", s.admin.check_limit}}},
      {"identity",
       {{"trusted_proxies", blocks(s.identity.trusted_proxies)},
        {"client_ip_header", ip_sources[static_cast<int>(s.identity.client_ip_header)]},
        {"ipv6_prefix", s.identity.ipv6_prefix},
        {"api_key", {{"header", s.identity.api_key_header}, {"query", s.identity.api_key_query}}},
        {"user",
         {{"header", s.identity.user_header},
          {"trusted_only", s.identity.user_trusted_only},
          {"claim", s.identity.user_claim}}},
        {"tier", {{"header", s.identity.tier_header}, {"claim", s.identity.tier_claim}}},
        {"jwt", jwt(s.identity.jwt)}}},
      {"headers",
       {{"legacy", s.headers.legacy},
        {"legacy_reset",
         s.headers.legacy_reset == config::legacy_reset_format::epoch ? "epoch" : "delta"},
        {"standard", standards[static_cast<int>(s.headers.standard)]},
        {"retry_after", s.headers.retry_after}}},
      {"storage",
       {{"backend", s.storage.backend == config::storage_backend::memory ? "memory" : "redis"},
        {"max_keys", s.storage.max_keys},
        {"redis",
         {{"mode", redis_modes[static_cast<int>(s.storage.redis.mode)]},
          {"address", addresses(s.storage.redis.addresses)},
          {"sentinel",
           {{"master", s.storage.redis.sentinel.master},
            {"password", secret(s.storage.redis.sentinel.password)}}},
          {"password", secret(s.storage.redis.password)},
          {"database", s.storage.redis.database},
          {"timeout", format_duration(s.storage.redis.timeout)},
          {"connections", s.storage.redis.connections},
          {"key_prefix", s.storage.redis.key_prefix}}},
        {"on_error", on_error[static_cast<int>(s.storage.on_error)]}}},
      {"policies", s.policies},
      {"reload", {{"watch", s.reload_watch}}}};

  const auto& p = cfg.policy;
  json::object tiers;
  for (const auto& t : p.tiers) {
    if (t.unlimited) {
      tiers[t.name] = {{"unlimited", true}};
    } else {
      tiers[t.name] = {{"rate", format_rate(t.rate)},
                       {"burst", t.burst > 0 ? t.burst : t.rate.count}};
    }
  }
  // A list, not an object keyed by the masked key: masked keys look alike ("key-****").
  json::array api_keys;
  for (const auto& k : p.api_keys) {
    api_keys.push_back({{"key", mask_secret(k.key)}, {"tier", k.tier}, {"user", k.user}});
  }
  json::array routes;
  for (const auto& r : p.routes) {
    routes.push_back({{"name", r.name},
                      {"methods", strings(r.methods)},
                      {"pattern", r.pattern},
                      {"cost", r.cost},
                      {"limits", r.limits_off ? "off" : "on"}});
  }
  json::array limits;
  for (const auto& l : p.limits) {
    json::object o{{"name", l.name},
                   {"key", config::key_text(l.key)},
                   {"algorithm", limit::to_string(l.algo)},
                   {"count", l.count == config::count_mode::cost ? "cost" : "requests"},
                   {"routes", strings(l.routes)},
                   {"methods", strings(l.methods)},
                   {"shadow", l.shadow},
                   {"fallback", l.fallback_ip ? "ip" : ""}};
    if (limit::holds_in_flight(l.algo)) {
      o["max"] = l.max_in_flight;
      o["lease_ms"] = l.in_flight_lease / 1000;
    } else if (l.tier_aware) {
      o["tier"] = true;
    } else {
      o["rate"] = format_rate(l.rate);
      if (l.burst > 0) o["burst"] = l.burst;
    }
    if (l.delay > 0) o["delay_ms"] = l.delay / 1000;
    o["shards"] = l.shards;
    if (l.soft) o["soft"] = config::units::format_soft(*l.soft);
    const auto duration = [](limit::micros us) {
      return config::units::format_duration(std::chrono::milliseconds(us / 1000));
    };
    if (l.adaptive) {
      const auto& a = *l.adaptive;
      json::object adaptive{{"min_factor", a.min_factor}, {"max_factor", a.max_factor}};
      switch (a.signal) {
        case config::adaptive_signal::upstream_latency:
          adaptive["signal"] = "upstream_latency";
          adaptive["target"] = duration(static_cast<limit::micros>(a.target));
          break;
        case config::adaptive_signal::upstream_errors:
          adaptive["signal"] = "upstream_errors";
          adaptive["target"] = a.target;
          break;
        case config::adaptive_signal::upstream_inflight:
          adaptive["signal"] = "upstream_inflight";
          adaptive["target"] = static_cast<std::int64_t>(a.target);
          break;
      }
      o["adaptive"] = std::move(adaptive);
    }
    if (l.penalty) {
      const auto& pen = *l.penalty;
      o["penalty"] = {{"when",
                       {{"rejected_share", pen.rejected_share},
                        {"min_requests", pen.min_requests},
                        {"window", duration(pen.window)}}},
                      {"factor", pen.factor},
                      {"duration", duration(pen.duration)}};
    }
    if (l.lease) {
      o["lease"] = {{"max_tokens", l.lease->max_tokens}, {"max_age", duration(l.lease->max_age)}};
    }
    if (l.tenant_rate) {
      const auto& t = *l.tenant_rate;
      json::object tenant{{"max", t.max}};
      if (!t.claim.empty()) tenant["claim"] = t.claim;
      if (!t.header.empty()) tenant["header"] = t.header;
      o["tenant_rate"] = std::move(tenant);
    }
    if (l.calendar) {
      o["calendar"] = {{"time_zone", l.calendar->time_zone},
                       {"anchor_day", l.calendar->anchor_day}};
    }
    limits.push_back(std::move(o));
  }
  json::object policy{{"files", strings(p.files)},
                      {"tiers", std::move(tiers)},
                      {"default_tier", p.default_tier},
                      {"api_keys", std::move(api_keys)},
                      {"access", {{"allow", access(p.allow)}, {"deny", access(p.deny)}}},
                      {"routing",
                       {{"case_insensitive", p.routing.case_insensitive},
                        {"strip_matrix_params", p.routing.strip_matrix_params},
                        {"allow_encoded_slash", p.routing.allow_encoded_slash}}},
                      {"routes", std::move(routes)},
                      {"limits", std::move(limits)}};
  return json::serialize(
      json::object{{"server", std::move(server)}, {"policy", std::move(policy)}});
}

}  // namespace sluice::admin
