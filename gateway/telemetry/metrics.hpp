// Every Prometheus metric of SPEC 10, declared in one place.
//
// `metrics` owns the registry and the families (one per process, thread-safe:
// prometheus-cpp metrics are atomic). `route_metrics` resolves the handles one
// configuration snapshot needs (per route, method class, limit and tier) when the
// snapshot is built, so the request path only increments. Label values come from
// the configuration and fixed lists, never from clients. The series of a route,
// limit or tier name are removed when the last route_metrics naming it goes (then
// no snapshot, so no request in flight, can increment them any more): a reload that
// renames routes does not grow /metrics, and names it keeps keep their values.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/event_counter.hpp"
#include "telemetry/event_histogram.hpp"

namespace sluice::admin {

// Methods folded to a fixed list so that the method label stays bounded.
enum class method_class : std::uint8_t { get, head, post, put, del, patch, options, other };
inline constexpr std::size_t method_class_count = 8;
method_class classify_method(std::string_view method);
std::string_view to_string(method_class m);

enum class upstream_error_kind : std::uint8_t { connect, timeout, reset, invalid, circuit_open };
inline constexpr std::size_t upstream_error_kind_count = 5;

// The statuses gateway_http_errors_total counts (SPEC 10).
inline constexpr std::array<int, 8> counted_error_statuses = {400, 401, 403, 413,
                                                              431, 502, 503, 504};

// Why a request's JSON Web Token was refused (identity.jwt; gateway_jwt_rejected_total):
// "missing" (identity.jwt.required), then util/jwt.hpp's errors by their names.
inline constexpr std::array<std::string_view, 9> jwt_rejection_reasons = {
    "missing", "malformed",     "unsupported_algorithm", "unknown_key",   "bad_signature",
    "expired", "not_yet_valid", "wrong_issuer",          "wrong_audience"};

// How a cost from the response (a limit's `cost:`) was settled (gateway_response_costs_total):
// read from the response, missing from a complete response (the reserve stands), or
// failed (no complete response: on_failure).
inline constexpr std::array<std::string_view, 3> response_cost_outcomes = {"read", "missing",
                                                                           "failed"};

// A metric family like prometheus::Family whose series are removed by their labels
// in O(log n): Family::Remove scans every series (prometheus-cpp 1.0.1: 8,000
// removals from 16,000 series took 2.1 s, each under the family's lock, which the
// request path and /metrics also take). Owned by `metrics`; thread-safe. A series
// stays valid until its labels are removed.
template <class T>
class labelled_family {
 public:
  labelled_family(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}
  labelled_family(const labelled_family&) = delete;
  labelled_family& operator=(const labelled_family&) = delete;

  // The series with these labels, created from `args` when there is none.
  template <class... Args>
  T& add(const prometheus::Labels& labels, const Args&... args) {
    std::lock_guard lock(mutex_);
    auto it = series_.find(labels);
    if (it == series_.end()) it = series_.emplace(labels, std::make_unique<T>(args...)).first;
    return *it->second;
  }
  void remove(const prometheus::Labels& labels) {
    std::lock_guard lock(mutex_);
    series_.erase(labels);
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return series_.size();
  }
  // Appends this family, when it has series, for the text serializer.
  void collect(std::vector<prometheus::MetricFamily>& out) const;

 private:
  const std::string name_;
  const std::string help_;
  mutable std::mutex mutex_;
  std::map<prometheus::Labels, std::unique_ptr<T>> series_;
};

class route_metrics;

// Histogram buckets for the time of one decision, 10 µs to 100 ms: the proxy's check
// (rate_limit_check_duration_seconds) and the rate limit service's call.
extern const prometheus::Histogram::BucketBoundaries decision_buckets;

class metrics {
 public:
  explicit metrics(std::string_view version);

  // The per-process metrics (the per-configuration ones are in labelled families).
  prometheus::Registry& registry() { return *registry_; }
  std::string serialize() const;  // Prometheus text format

  // Per-process handles.
  event_histogram& check_duration(bool redis) { return redis ? *check_redis_ : *check_memory_; }
  prometheus::Gauge& active_limiters() { return *active_limiters_; }
  // Load-aware limits: the factor applied to `limit` now (control thread, every tick).
  void adaptive_factor(const std::string& limit, double factor) {
    adaptive_factor_.add({{"limit", limit}}).Set(factor);
  }
  prometheus::Counter& storage_errors(bool redis) {
    return redis ? *storage_errors_redis_ : *storage_errors_memory_;
  }
  prometheus::Gauge& storage_degraded() { return *storage_degraded_; }
  // The Redis backend loaded its code: the Functions library, or a script with EVAL.
  prometheus::Counter& redis_code_loads(bool function) {
    return function ? *redis_code_loads_function_ : *redis_code_loads_script_;
  }
  prometheus::Counter& upstream_error(upstream_error_kind k) {
    return *upstream_errors_[static_cast<int>(k)];
  }
  // Counts `status` when it is one of counted_error_statuses; ignores others.
  void count_http_error(int status);
  // Counts a 401 for a token refused for `reason` (one of jwt_rejection_reasons).
  void count_jwt_rejection(std::string_view reason);
  // Counts one settle of a cost from the response (one of response_cost_outcomes).
  void count_response_cost(std::string_view outcome);
  prometheus::Gauge& active_connections() { return *active_connections_; }
  prometheus::Gauge& max_connections() { return *max_connections_; }
  prometheus::Counter& connections_evicted() { return *connections_evicted_; }
  // WebSocket tunnels (http/tunnel.hpp): open now, and opened in all.
  prometheus::Gauge& open_tunnels() { return *open_tunnels_; }
  prometheus::Counter& tunnels_opened() { return *tunnels_opened_; }
  // Client messages held by server.websocket_messages (counted when their tunnel ends).
  prometheus::Counter& websocket_messages_delayed() { return *websocket_messages_delayed_; }
  // TLS handshakes on TLS listeners, by result: ok, failed (a client that does not
  // speak TLS 1.2+, offers no common cipher or ALPN, or has no acceptable certificate),
  // timeout (not done within server.header_timeout of the accept).
  enum class handshake_result { ok, failed, timeout };
  prometheus::Counter& tls_handshakes(handshake_result r) {
    return *tls_handshakes_[static_cast<int>(r)];
  }
  prometheus::Counter& reloads(bool ok) { return ok ? *reloads_ok_ : *reloads_error_; }
  prometheus::Gauge& last_reload_success() { return *last_reload_success_; }

 private:
  friend class route_metrics;

  // Counts the names a new route_metrics uses, before it resolves their series.
  void acquire(const route_metrics& r);
  // Counts them down and removes the series of names no live route_metrics uses.
  void release(const route_metrics& r);
  // A blocked series route_metrics::blocked resolved (any snapshot may have).
  void track_blocked(const std::string& route, const std::string& method,
                     const std::string& reason);

  std::shared_ptr<prometheus::Registry> registry_;

  // Labelled with route, limit (scope, reason) or tier names.
  labelled_family<event_counter> requests_;
  labelled_family<event_counter> allowed_;
  labelled_family<event_counter> blocked_;
  labelled_family<event_counter> by_scope_;
  labelled_family<event_counter> blocked_by_scope_;
  labelled_family<event_counter> by_tier_;
  labelled_family<event_counter> blocked_by_tier_;
  labelled_family<event_counter> shadow_blocked_;
  labelled_family<event_counter> delayed_;
  labelled_family<event_counter> degraded_;
  labelled_family<event_counter> local_denials_;
  labelled_family<event_counter> penalties_;            // penalty box: keys boxed, by limit
  labelled_family<prometheus::Gauge> penalized_keys_;   // penalty box: keys boxed now, by limit
  labelled_family<prometheus::Gauge> adaptive_factor_;  // load-aware limits, by limit
  labelled_family<event_counter> upstream_requests_;
  labelled_family<event_histogram> upstream_duration_;
  labelled_family<event_histogram> check_duration_;  // by backend: memory, redis

  // Live route_metrics per name; guarded by names_mutex_ (snapshots are built and
  // destroyed on any thread). Blocked series as {route, method, reason}.
  std::mutex names_mutex_;
  std::map<std::string, std::size_t, std::less<>> route_uses_;
  std::map<std::string, std::size_t, std::less<>> limit_uses_;
  std::map<std::string, std::size_t, std::less<>> tier_uses_;
  std::set<std::array<std::string, 3>> blocked_series_;

  event_histogram* check_memory_;
  event_histogram* check_redis_;
  prometheus::Gauge* active_limiters_;
  prometheus::Counter* storage_errors_memory_;
  prometheus::Counter* storage_errors_redis_;
  prometheus::Gauge* storage_degraded_;
  prometheus::Counter* redis_code_loads_function_;
  prometheus::Counter* redis_code_loads_script_;
  std::array<prometheus::Counter*, upstream_error_kind_count> upstream_errors_{};
  std::array<prometheus::Counter*, counted_error_statuses.size()> http_errors_{};
  std::array<prometheus::Counter*, jwt_rejection_reasons.size()> jwt_rejected_{};
  std::array<prometheus::Counter*, response_cost_outcomes.size()> response_costs_{};
  prometheus::Gauge* active_connections_;
  prometheus::Gauge* max_connections_;
  prometheus::Counter* connections_evicted_;
  prometheus::Gauge* open_tunnels_;
  prometheus::Counter* tunnels_opened_;
  prometheus::Counter* websocket_messages_delayed_;
  std::array<prometheus::Counter*, 3> tls_handshakes_{};
  prometheus::Counter* reloads_ok_;
  prometheus::Counter* reloads_error_;
  prometheus::Gauge* last_reload_success_;
};

// The handles of one snapshot. Built off the request path; immutable afterwards
// except for the lazily resolved blocked-by-reason counters (atomic pointers).
// Destroyed with its snapshot, on whichever thread drops the last reference (a
// request in flight keeps the old one, and its handles, to its end). The `metrics`
// must outlive it.
class route_metrics {
 public:
  route_metrics(metrics& m, const std::vector<std::string>& routes,
                const std::vector<std::string>& limits, const std::vector<std::string>& tiers);
  ~route_metrics();
  route_metrics(const route_metrics&) = delete;
  route_metrics& operator=(const route_metrics&) = delete;

  void request(int route, method_class m) const { requests_[index(route, m)]->Increment(); }
  void allowed(int route, method_class m) const { allowed_[index(route, m)]->Increment(); }
  // reason: a limit index, or -1 for the deny list.
  void blocked(int route, method_class m, int limit) const;
  void applied(int limit) const { by_scope_[limit]->Increment(); }
  void blocked_by(int limit) const { blocked_by_scope_[limit]->Increment(); }
  void shadow_blocked(int limit) const { shadow_blocked_[limit]->Increment(); }
  void delayed(int limit) const { delayed_[limit]->Increment(); }
  // An admitted request forwarded degraded: it went past this limit's `soft:` threshold.
  void degraded(int limit) const { degraded_[limit]->Increment(); }
  // A request the Redis backend denied from its local-denial cache (limit: the denying one).
  void local_denied(int limit) const { local_denials_[limit]->Increment(); }
  // The penalty box boxed a key of this limit here / holds this many boxed keys of it.
  void penalized(int limit) const { penalties_[limit]->Increment(); }
  void penalized_keys(int limit, double n) const { penalized_keys_[limit]->Set(n); }
  // tier: a tier index, or -1 for clients without a tier ("none").
  void tier_request(int tier) const { by_tier_[tier + 1]->Increment(); }
  void tier_blocked(int tier) const { blocked_by_tier_[tier + 1]->Increment(); }
  void upstream_response(int route, int status) const;
  void upstream_duration(int route, double seconds) const {
    upstream_duration_[route]->Observe(seconds);
  }

 private:
  std::size_t index(int route, method_class m) const {
    return static_cast<std::size_t>(route) * method_class_count + static_cast<std::size_t>(m);
  }

  friend class metrics;
  metrics& metrics_;
  std::vector<std::string> routes_;
  std::vector<std::string> limits_;
  std::vector<std::string> tiers_;
  std::vector<event_counter*> requests_;
  std::vector<event_counter*> allowed_;
  std::unique_ptr<std::atomic<event_counter*>[]> blocked_;  // [route][method][limit+1]
  std::vector<event_counter*> by_scope_;
  std::vector<event_counter*> blocked_by_scope_;
  std::vector<event_counter*> shadow_blocked_;
  std::vector<event_counter*> delayed_;
  std::vector<event_counter*> degraded_;
  std::vector<event_counter*> local_denials_;
  std::vector<event_counter*> penalties_;
  std::vector<prometheus::Gauge*> penalized_keys_;
  std::vector<event_counter*> by_tier_;
  std::vector<event_counter*> blocked_by_tier_;
  std::vector<std::array<event_counter*, 5>> upstream_requests_;  // 1xx..5xx
  std::vector<event_histogram*> upstream_duration_;
};

}  // namespace sluice::admin
