#include "admin/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace sluice::admin {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries check_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1};
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

metrics::metrics(std::string_view version) : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  requests_ = &BuildCounter()
                   .Name("rate_limit_requests_total")
                   .Help("Requests that reached the rate-limit decision, by route and method.")
                   .Register(r);
  allowed_ = &BuildCounter()
                  .Name("rate_limit_requests_allowed_total")
                  .Help("Requests forwarded upstream (allowed or bypassing limits).")
                  .Register(r);
  blocked_ = &BuildCounter()
                  .Name("rate_limit_requests_blocked_total")
                  .Help("Requests rejected; reason is the denying limit or 'denylist'.")
                  .Register(r);
  by_scope_ = &BuildCounter()
                   .Name("rate_limit_requests_by_scope_total")
                   .Help("Requests each enforced limit applied to (scope = limit name).")
                   .Register(r);
  blocked_by_scope_ = &BuildCounter()
                           .Name("rate_limit_blocked_by_scope_total")
                           .Help("Requests rejected by each limit.")
                           .Register(r);
  by_tier_ = &BuildCounter()
                  .Name("rate_limit_requests_by_tier_total")
                  .Help("Rate-limited requests by client tier ('none' without a tier).")
                  .Register(r);
  blocked_by_tier_ = &BuildCounter()
                          .Name("rate_limit_blocked_by_tier_total")
                          .Help("Rejected requests by client tier.")
                          .Register(r);
  shadow_blocked_ = &BuildCounter()
                         .Name("rate_limit_shadow_blocked_total")
                         .Help("Requests a shadow limit would have rejected.")
                         .Register(r);
  delayed_ = &BuildCounter()
                  .Name("rate_limit_delayed_total")
                  .Help("Requests held by leaky_bucket shaping before forwarding.")
                  .Register(r);
  upstream_requests_ = &BuildCounter()
                            .Name("gateway_upstream_requests_total")
                            .Help("Upstream responses by route and status class.")
                            .Register(r);
  upstream_duration_ = &BuildHistogram()
                            .Name("gateway_upstream_duration_seconds")
                            .Help("Time from sending a request upstream to its response head.")
                            .Register(r);

  auto& check = BuildHistogram()
                    .Name("rate_limit_check_duration_seconds")
                    .Help("Time to decide every applicable limit of one request.")
                    .Register(r);
  check_memory_ = &check.Add({{"backend", "memory"}}, check_buckets);
  check_redis_ = &check.Add({{"backend", "redis"}}, check_buckets);
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
  active_connections_ = &BuildGauge()
                             .Name("gateway_active_connections")
                             .Help("Open client connections.")
                             .Register(r)
                             .Add({});
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

std::string metrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, registry_->Collect());
  return out.str();
}

void metrics::count_http_error(int status) {
  for (std::size_t i = 0; i < counted_error_statuses.size(); ++i) {
    if (counted_error_statuses[i] == status) http_errors_[i]->Increment();
  }
}

route_metrics::route_metrics(metrics& m, const std::vector<std::string>& routes,
                             const std::vector<std::string>& limits,
                             const std::vector<std::string>& tiers)
    : metrics_(m), routes_(routes), limits_(limits) {
  for (const auto& route : routes) {
    for (auto method : method_names) {
      prometheus::Labels labels{{"route", route}, {"method", std::string(method)}};
      requests_.push_back(&m.requests_->Add(labels));
      allowed_.push_back(&m.allowed_->Add(labels));
    }
    std::array<prometheus::Counter*, 5> classes{};
    for (std::size_t c = 0; c < code_classes.size(); ++c) {
      classes[c] = &m.upstream_requests_->Add(
          {{"route", route}, {"code_class", std::string(code_classes[c])}});
    }
    upstream_requests_.push_back(classes);
    upstream_duration_.push_back(&m.upstream_duration_->Add({{"route", route}}, upstream_buckets));
  }
  const std::size_t blocked_slots = routes.size() * method_class_count * (limits.size() + 1);
  blocked_ = std::make_unique<std::atomic<prometheus::Counter*>[]>(blocked_slots);
  for (const auto& limit : limits) {
    prometheus::Labels labels{{"scope", limit}};
    by_scope_.push_back(&m.by_scope_->Add(labels));
    blocked_by_scope_.push_back(&m.blocked_by_scope_->Add(labels));
    shadow_blocked_.push_back(&m.shadow_blocked_->Add(labels));
    delayed_.push_back(&m.delayed_->Add(labels));
  }
  by_tier_.push_back(&m.by_tier_->Add({{"tier", "none"}}));
  blocked_by_tier_.push_back(&m.blocked_by_tier_->Add({{"tier", "none"}}));
  for (const auto& tier : tiers) {
    by_tier_.push_back(&m.by_tier_->Add({{"tier", tier}}));
    blocked_by_tier_.push_back(&m.blocked_by_tier_->Add({{"tier", tier}}));
  }
}

void route_metrics::blocked(int route, method_class m, int limit) const {
  // Resolved on first use: routes x methods x reasons is bounded but large, and
  // most combinations never occur, so they are not exported as zero series.
  const std::size_t slot =
      index(route, m) * (limits_.size() + 1) + static_cast<std::size_t>(limit + 1);
  prometheus::Counter* counter = blocked_[slot].load(std::memory_order_acquire);
  if (counter == nullptr) {
    const std::string reason = limit < 0 ? "denylist" : limits_[limit];
    counter = &metrics_.blocked_->Add(
        {{"route", routes_[route]}, {"method", std::string(to_string(m))}, {"reason", reason}});
    blocked_[slot].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

void route_metrics::upstream_response(int route, int status) const {
  const int cls = status / 100 - 1;
  if (cls >= 0 && cls < 5) upstream_requests_[route][cls]->Increment();
}

}  // namespace sluice::admin
