// The admin listener's endpoints (SPEC 9): /metrics, /healthz, /readyz, /dashboard,
// /admin/stats, /admin/config, /admin/reload, /admin/limits, /admin/access,
// /admin/clients, POST /api/ratelimit/check and, with `rls`, POST /json (Envoy's rate
// limit service in envoyproxy/ratelimit's JSON form).
//
// Who may call: peers outside admin.allow get 403 on every path (at accept, before
// their request is read: admin::start_admin_session); when admin.token
// is set, every write (POST/PUT/DELETE) and /api/ratelimit/check need it as
// "Authorization: Bearer <token>" (the check API also accepts "apiKey" in its body).
// Reads need no token. Owned by the gateway; runs on the control thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "admin/admin_server.hpp"
#include "limit/scaling.hpp"
#include "rls/decider.hpp"
#include "rls/json.hpp"
#include "runtime/snapshot.hpp"
#include "store/decision_backend.hpp"
#include "store/runtime_entries.hpp"
#include "store/shared_load_factors.hpp"
#include "store/shared_penalties.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/stats.hpp"

namespace sluice::admin {

// The outcome of the last reloads, for the dashboard and /admin/stats.
class reload_history {
 public:
  void record(bool ok, limit::micros at, std::string error);
  void record_start(limit::micros at);  // the initial load: a success, not a reload
  struct view {
    bool last_ok = true;
    limit::micros last_at = 0;
    std::string last_error;
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
  };
  view get() const;

 private:
  mutable std::mutex mutex_;
  view v_;
};

// What POST /admin/reload answers (the gateway's reload()).
struct reload_result {
  bool ok = false;
  std::vector<std::string> errors;  // "file:line:col: field: message" lines
};

struct admin_context {
  app::snapshot_holder& snapshots;
  admin::metrics& metrics;
  admin::stats& stats;
  app::decision_backend& backend;
  app::runtime_entries& entries;
  limit::memory_store& store;
  reload_history& reloads;
  std::function<reload_result()> reload;
  std::atomic<bool>& draining;
  // Sentinel mode: the master's address now ("" while unknown), in /admin/stats'
  // storage.master. Empty in the other modes.
  std::function<std::string()> redis_master = {};
  // The penalty box (issue 15): /admin/stats' penalties, DELETE /admin/penalties/...
  app::shared_penalties* penalties = nullptr;
  // Load-aware limits (issue 15): /admin/stats' adaptive list.
  const app::shared_load_factors* load = nullptr;
  // Load-aware and penalty factors: the check API decides on the effective limit too.
  const limit::scaling_sources* scaling = nullptr;
  // Envoy's rate limit service (issue 13), for POST /json; null without `rls` at start.
  rls::decider* rls = nullptr;
};

class admin_api {
 public:
  explicit admin_api(admin_context ctx) : ctx_(std::move(ctx)) {}

  net::awaitable<admin::admin_response> handle(admin::admin_request req);

  // admin.allow of the current configuration (empty = every peer). The listener asks
  // at accept; handle() asks again, as a reload may have changed it since.
  bool allows(const ip_address& peer) const;

 private:
  net::awaitable<admin::admin_response> limits(const admin::admin_request& req,
                                               std::string_view rest,
                                               std::shared_ptr<const app::snapshot> snap);
  net::awaitable<admin::admin_response> access(const admin::admin_request& req,
                                               std::string_view rest);
  net::awaitable<admin::admin_response> tenants(const admin::admin_request& req,
                                                std::string_view rest,
                                                std::shared_ptr<const app::snapshot> snap);
  net::awaitable<admin::admin_response> clients(const admin::admin_request& req,
                                                std::string_view rest,
                                                std::shared_ptr<const app::snapshot> snap);
  net::awaitable<admin::admin_response> rls_json(const admin::admin_request& req);
  net::awaitable<admin::admin_response> check(const admin::admin_request& req,
                                              std::shared_ptr<const app::snapshot> snap);
  // DELETE /admin/penalties/<limit>/<key>.
  net::awaitable<admin::admin_response> penalties(const admin::admin_request& req,
                                                  std::string_view rest,
                                                  std::shared_ptr<const app::snapshot> snap);
  admin::admin_response stats_json() const;
  admin::admin_response readiness() const;

  admin_context ctx_;
};

}  // namespace sluice::admin
