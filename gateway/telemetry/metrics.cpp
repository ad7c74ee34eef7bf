#include "telemetry/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace sluice::admin {
const prometheus::Histogram::BucketBoundaries decision_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1};

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;

const prometheus::Histogram::BucketBoundaries upstream_buckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

constexpr std::array<std::string_view, method_class_count> method_names = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"};
constexpr std::array<std::string_view, upstream_error_kind_count> upstream_error_names = {
    "connect", "timeout", "reset", "invalid", "circuit_open"};
constexpr std::array<std::string_view, 5> code_classes = {"1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

method_class classify_method(std::string_view method) {
  for (std::size_t i = 0; i + 1 < method_names.size(); ++i) {
    if (method == method_names[i]) return static_cast<method_class>(i);
  }
  return method_class::other;
}

std::string_view to_string(method_class m) {
  return method_names[static_cast<int>(m)];
}

metrics::metrics(std::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_("rate_limit_requests_total",
                "Requests that reached the rate-limit decision, by route and method."),
      allowed_("rate_limit_requests_allowed_total",
               "Requests forwarded upstream (allowed or bypassing limits)."),
      blocked_("rate_limit_requests_blocked_total",
               "Requests rejected; reason is the denying limit or 'denylist'."),
      by_scope_("rate_limit_requests_by_scope_total",
                "Requests each enforced limit applied to (scope = limit name)."),
      blocked_by_scope_("rate_limit_blocked_by_scope_total", "Requests rejected by each limit."),
      by_tier_("rate_limit_requests_by_tier_total",
               "Rate-limited requests by client tier ('none' without a tier)."),
      blocked_by_tier_("rate_limit_blocked_by_tier_total", "Rejected requests by client tier."),
      shadow_blocked_("rate_limit_shadow_blocked_total",
                      "Requests a shadow limit would have rejected."),
      delayed_("rate_limit_delayed_total",
               "Requests held by leaky_bucket shaping before forwarding."),
      degraded_("rate_limit_degraded_total",
                "Admitted requests past a limit's soft threshold, forwarded with "
                "X-RateLimit-Degraded (a shadow limit's are counted, never marked)."),
      local_denials_("rate_limit_local_denials_total",
                     "Requests the Redis backend denied without a round trip, from what Redis "
                     "answered before (scope = the denying limit)."),
      penalties_("rate_limit_penalties_total",
                 "Keys this gateway put in the penalty box, by limit (no client labels)."),
      penalized_keys_(
          "rate_limit_penalized_keys",
          "Keys in the penalty box now (boxed here or learnt through Redis), by limit."),
      adaptive_factor_("rate_limit_adaptive_factor",
                       "The factor a load-aware limit's rate and burst are scaled by now "
                       "(adaptive:), the lowest of this gateway's and the fleet's."),
      upstream_requests_("gateway_upstream_requests_total",
                         "Upstream responses by route and status class."),
      upstream_duration_("gateway_upstream_duration_seconds",
                         "Time from sending a request upstream to its response head."),
      check_duration_("rate_limit_check_duration_seconds",
                      "Time to decide every applicable limit of one request.") {
  auto& r = *registry_;
  check_memory_ = &check_duration_.add({{"backend", "memory"}}, decision_buckets);
  check_redis_ = &check_duration_.add({{"backend", "redis"}}, decision_buckets);
  active_limiters_ = &BuildGauge()
                          .Name("rate_limit_active_limiters")
                          .Help("Keys tracked by the in-memory limiter.")
                          .Register(r)
                          .Add({});
  auto& storage_errors = BuildCounter()
                             .Name("rate_limit_storage_errors_total")
                             .Help("Failed storage round trips (timeouts, refused, error replies).")
                             .Register(r);
  storage_errors_memory_ = &storage_errors.Add({{"backend", "memory"}});
  storage_errors_redis_ = &storage_errors.Add({{"backend", "redis"}});
  storage_degraded_ = &BuildGauge()
                           .Name("rate_limit_storage_degraded")
                           .Help("1 while the shared storage is unreachable and on_error applies.")
                           .Register(r)
                           .Add({});
  auto& code_loads = BuildCounter()
                         .Name("rate_limit_redis_code_loads_total")
                         .Help(
                             "Times Sluice loaded its decision code into a Redis that did not "
                             "have it: FUNCTION LOAD of the library, or EVAL after NOSCRIPT.")
                         .Register(r);
  redis_code_loads_function_ = &code_loads.Add({{"kind", "function"}});
  redis_code_loads_script_ = &code_loads.Add({{"kind", "script"}});
  auto& upstream_errors = BuildCounter()
                              .Name("gateway_upstream_errors_total")
                              .Help("Upstream failures by kind.")
                              .Register(r);
  for (std::size_t i = 0; i < upstream_error_names.size(); ++i) {
    upstream_errors_[i] = &upstream_errors.Add({{"kind", std::string(upstream_error_names[i])}});
  }
  auto& http_errors = BuildCounter()
                          .Name("gateway_http_errors_total")
                          .Help("Error responses produced by Sluice itself, by status.")
                          .Register(r);
  for (std::size_t i = 0; i < counted_error_statuses.size(); ++i) {
    http_errors_[i] = &http_errors.Add({{"code", std::to_string(counted_error_statuses[i])}});
  }
  auto& jwt_rejected = BuildCounter()
                           .Name("gateway_jwt_rejected_total")
                           .Help("Requests answered 401 for their JSON Web Token, by reason.")
                           .Register(r);
  for (std::size_t i = 0; i < jwt_rejection_reasons.size(); ++i) {
    jwt_rejected_[i] = &jwt_rejected.Add({{"reason", std::string(jwt_rejection_reasons[i])}});
  }
  auto& response_costs = BuildCounter()
                             .Name("gateway_response_costs_total")
                             .Help(
                                 "Costs from the response settled (a limit's cost:), by how the "
                                 "cost was found: read, missing (the reserve stands), failed "
                                 "(on_failure).")
                             .Register(r);
  for (std::size_t i = 0; i < response_cost_outcomes.size(); ++i) {
    response_costs_[i] = &response_costs.Add({{"outcome", std::string(response_cost_outcomes[i])}});
  }
  active_connections_ = &BuildGauge()
                             .Name("gateway_active_connections")
                             .Help("Open client connections.")
                             .Register(r)
                             .Add({});
  max_connections_ = &BuildGauge()
                          .Name("gateway_max_connections")
                          .Help("server.max_connections in effect (derived when 0).")
                          .Register(r)
                          .Add({});
  connections_evicted_ = &BuildCounter()
                              .Name("gateway_connections_evicted_total")
                              .Help(
                                  "Idle keep-alive client connections closed to make room "
                                  "at server.max_connections.")
                              .Register(r)
                              .Add({});
  open_tunnels_ = &BuildGauge()
                       .Name("gateway_websocket_tunnels")
                       .Help("Client connections that are WebSocket tunnels now (after a 101).")
                       .Register(r)
                       .Add({});
  tunnels_opened_ = &BuildCounter()
                         .Name("gateway_websocket_tunnels_total")
                         .Help("WebSocket tunnels opened (upstream answered 101 to a handshake).")
                         .Register(r)
                         .Add({});
  websocket_messages_delayed_ =
      &BuildCounter()
           .Name("gateway_websocket_messages_delayed_total")
           .Help(
               "Client WebSocket messages held by server.websocket_messages, counted when "
               "their tunnel ends.")
           .Register(r)
           .Add({});
  auto& handshakes = BuildCounter()
                         .Name("gateway_tls_handshakes_total")
                         .Help("TLS handshakes on TLS listeners by result (ok, failed, timeout).")
                         .Register(r);
  tls_handshakes_ = {&handshakes.Add({{"result", "ok"}}), &handshakes.Add({{"result", "failed"}}),
                     &handshakes.Add({{"result", "timeout"}})};
  auto& reloads = BuildCounter()
                      .Name("gateway_config_reloads_total")
                      .Help("Configuration reloads by result.")
                      .Register(r);
  reloads_ok_ = &reloads.Add({{"result", "success"}});
  reloads_error_ = &reloads.Add({{"result", "error"}});
  last_reload_success_ = &BuildGauge()
                              .Name("gateway_config_last_reload_success_timestamp_seconds")
                              .Help("Unix time of the last successful configuration load.")
                              .Register(r)
                              .Add({});
  BuildGauge()
      .Name("gateway_build_info")
      .Help("Build information.")
      .Register(r)
      .Add({{"version", std::string(version)}})
      .Set(1);
}

template <class T>
void labelled_family<T>::collect(std::vector<prometheus::MetricFamily>& out) const {
  prometheus::MetricFamily family{name_, help_, T::metric_type, {}};
  {
    std::lock_guard lock(mutex_);
    family.metric.reserve(series_.size());
    for (const auto& [labels, series] : series_) {
      prometheus::ClientMetric m = series->Collect();
      for (const auto& [name, value] : labels) m.label.push_back({name, value});
      family.metric.push_back(std::move(m));
    }
  }
  if (!family.metric.empty()) out.push_back(std::move(family));
}

template class labelled_family<event_counter>;
template class labelled_family<event_histogram>;
template class labelled_family<prometheus::Gauge>;

std::string metrics::serialize() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto* f : {&requests_, &allowed_, &blocked_, &by_scope_, &blocked_by_scope_, &by_tier_,
                        &blocked_by_tier_, &shadow_blocked_, &delayed_, &degraded_, &local_denials_,
                        &upstream_requests_}) {
    f->collect(families);
  }
  upstream_duration_.collect(families);
  check_duration_.collect(families);
  penalties_.collect(families);
  penalized_keys_.collect(families);
  adaptive_factor_.collect(families);
  auto rest = registry_->Collect();
  families.insert(families.end(), std::make_move_iterator(rest.begin()),
                  std::make_move_iterator(rest.end()));
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

void metrics::acquire(const route_metrics& rm) {
  std::lock_guard lock(names_mutex_);
  for (const auto& r : rm.routes_) ++route_uses_[r];
  for (const auto& l : rm.limits_) ++limit_uses_[l];
  for (const auto& t : rm.tiers_) ++tier_uses_[t];
}

void metrics::track_blocked(const std::string& route, const std::string& method,
                            const std::string& reason) {
  std::lock_guard lock(names_mutex_);
  blocked_series_.insert({route, method, reason});
}

void metrics::release(const route_metrics& rm) {
  // Counted down and removed under the lock: a route_metrics being built counts its
  // names up under it before resolving their series, so a name it keeps is never
  // removed under it, and its series keep their values.
  std::lock_guard lock(names_mutex_);
  const auto last_use = [](std::map<std::string, std::size_t, std::less<>>& uses,
                           const std::string& name) {
    auto it = uses.find(name);
    if (it == uses.end() || --it->second > 0) return false;
    uses.erase(it);
    return true;
  };
  std::set<std::string_view> gone_routes;
  std::set<std::string_view> gone_limits;
  for (const auto& route : rm.routes_) {
    if (!last_use(route_uses_, route)) continue;
    gone_routes.insert(route);
    for (auto method : method_names) {
      const prometheus::Labels labels{{"route", route}, {"method", std::string(method)}};
      requests_.remove(labels);
      allowed_.remove(labels);
    }
    for (auto code_class : code_classes) {
      upstream_requests_.remove({{"route", route}, {"code_class", std::string(code_class)}});
    }
    upstream_duration_.remove({{"route", route}});
  }
  for (const auto& limit : rm.limits_) {
    if (!last_use(limit_uses_, limit)) continue;
    gone_limits.insert(limit);
    const prometheus::Labels labels{{"scope", limit}};
    by_scope_.remove(labels);
    blocked_by_scope_.remove(labels);
    shadow_blocked_.remove(labels);
    delayed_.remove(labels);
    degraded_.remove(labels);
    local_denials_.remove(labels);
    penalties_.remove({{"limit", limit}});
    penalized_keys_.remove({{"limit", limit}});
  }
  for (const auto& tier : rm.tiers_) {
    // "none" (clients without a tier) is every snapshot's: a tier of that name shares it.
    if (!last_use(tier_uses_, tier) || tier == "none") continue;
    by_tier_.remove({{"tier", tier}});
    blocked_by_tier_.remove({{"tier", tier}});
  }
  if (gone_routes.empty() && gone_limits.empty()) return;
  for (auto it = blocked_series_.begin(); it != blocked_series_.end();) {
    const auto& [route, method, reason] = *it;
    // "denylist" is every snapshot's reason: a limit of that name shares its series.
    if (gone_routes.contains(route) || (gone_limits.contains(reason) && reason != "denylist")) {
      blocked_.remove({{"route", route}, {"method", method}, {"reason", reason}});
      it = blocked_series_.erase(it);
    } else {
      ++it;
    }
  }
}

void metrics::count_response_cost(std::string_view outcome) {
  for (std::size_t i = 0; i < response_cost_outcomes.size(); ++i) {
    if (response_cost_outcomes[i] == outcome) response_costs_[i]->Increment();
  }
}

void metrics::count_jwt_rejection(std::string_view reason) {
  for (std::size_t i = 0; i < jwt_rejection_reasons.size(); ++i) {
    if (jwt_rejection_reasons[i] == reason) jwt_rejected_[i]->Increment();
  }
}

void metrics::count_http_error(int status) {
  for (std::size_t i = 0; i < counted_error_statuses.size(); ++i) {
    if (counted_error_statuses[i] == status) http_errors_[i]->Increment();
  }
}

route_metrics::route_metrics(metrics& m, const std::vector<std::string>& routes,
                             const std::vector<std::string>& limits,
                             const std::vector<std::string>& tiers)
    : metrics_(m), routes_(routes), limits_(limits), tiers_(tiers) {
  m.acquire(*this);
  for (const auto& route : routes) {
    for (auto method : method_names) {
      prometheus::Labels labels{{"route", route}, {"method", std::string(method)}};
      requests_.push_back(&m.requests_.add(labels));
      allowed_.push_back(&m.allowed_.add(labels));
    }
    std::array<event_counter*, 5> classes{};
    for (std::size_t c = 0; c < code_classes.size(); ++c) {
      classes[c] = &m.upstream_requests_.add(
          {{"route", route}, {"code_class", std::string(code_classes[c])}});
    }
    upstream_requests_.push_back(classes);
    upstream_duration_.push_back(&m.upstream_duration_.add({{"route", route}}, upstream_buckets));
  }
  const std::size_t blocked_slots = routes.size() * method_class_count * (limits.size() + 1);
  blocked_ = std::make_unique<std::atomic<event_counter*>[]>(blocked_slots);
  for (const auto& limit : limits) {
    prometheus::Labels labels{{"scope", limit}};
    by_scope_.push_back(&m.by_scope_.add(labels));
    blocked_by_scope_.push_back(&m.blocked_by_scope_.add(labels));
    shadow_blocked_.push_back(&m.shadow_blocked_.add(labels));
    delayed_.push_back(&m.delayed_.add(labels));
    degraded_.push_back(&m.degraded_.add(labels));
    local_denials_.push_back(&m.local_denials_.add(labels));
    penalties_.push_back(&m.penalties_.add({{"limit", limit}}));
    penalized_keys_.push_back(&m.penalized_keys_.add({{"limit", limit}}));
  }
  by_tier_.push_back(&m.by_tier_.add({{"tier", "none"}}));
  blocked_by_tier_.push_back(&m.blocked_by_tier_.add({{"tier", "none"}}));
  for (const auto& tier : tiers) {
    by_tier_.push_back(&m.by_tier_.add({{"tier", tier}}));
    blocked_by_tier_.push_back(&m.blocked_by_tier_.add({{"tier", tier}}));
  }
}

route_metrics::~route_metrics() {
  metrics_.release(*this);
}

void route_metrics::blocked(int route, method_class m, int limit) const {
  // Resolved on first use: routes x methods x reasons is bounded but large, and
  // most combinations never occur, so they are not exported as zero series.
  const std::size_t slot =
      index(route, m) * (limits_.size() + 1) + static_cast<std::size_t>(limit + 1);
  event_counter* counter = blocked_[slot].load(std::memory_order_acquire);
  if (counter == nullptr) {
    const std::string reason = limit < 0 ? "denylist" : limits_[limit];
    const std::string method(to_string(m));
    counter =
        &metrics_.blocked_.add({{"route", routes_[route]}, {"method", method}, {"reason", reason}});
    metrics_.track_blocked(routes_[route], method, reason);
    blocked_[slot].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void route_metrics::upstream_response(int route, int status) const {
  const int cls = status / 100 - 1;
  if (cls >= 0 && cls < 5) upstream_requests_[route][cls]->Increment();
}

}  // namespace sluice::admin
