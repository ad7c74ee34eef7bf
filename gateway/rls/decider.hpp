// One ShouldRateLimit decision, whatever carried it (the gRPC service, rls/service.hpp,
// and the admin listener's POST /json): the request read from its message, decided on
// the gateway's decision backend with the current snapshot's RLS configuration, the
// answer written into a RateLimitResponse, and the call counted.
//
//   start(c, request)     -> ready | invalid (ev.problem) | not_configured
//   decide_now(c)         -> true: decided (memory backend)
//   co_await decide(c)    -> otherwise (Redis: one round trip per store decision)
//   answer(c, response)   -> the response written, the call counted
//
// Counted: rate_limit_rls_requests_total{domain,code},
// rate_limit_rls_over_limit_total{domain,descriptor}, rate_limit_rls_duration_seconds.
// Label values come from the configuration (domain "unknown" for others); the series
// are resolved once per configuration, not per call.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include "limit/rate_limit_headers.hpp"
#include "limit/rls_decision.hpp"
#include "net/asio.hpp"
#include "rls/messages.hpp"
#include "runtime/snapshot.hpp"
#include "store/decision_backend.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::rls {

// A call's state, from its request to its answer. Reusable: start() resets it, and
// the vectors and strings inside keep their capacity for the next call.
struct call {
  std::shared_ptr<const app::snapshot> snap;
  limit::rls_request request;  // views into the request message (alive until answer())
  limit::rls_evaluation ev;
  limit::header_list fields;  // write_response's scratch
  std::chrono::steady_clock::time_point started;
  limit::micros now = 0;  // the clock the decision used
  storage_answer storage = storage_answer::decided;
  bool admitted = true;  // all-or-nothing: what the store answered
};

class decider {
 public:
  decider(app::snapshot_holder& snapshots, app::decision_backend& backend, admin::metrics& metrics);
  ~decider();
  decider(const decider&) = delete;
  decider& operator=(const decider&) = delete;

  enum class start_result {
    ready,           // decide_now(), then decide() if it returned false
    invalid,         // c.ev.problem says why (counted: INVALID_ARGUMENT, or 400)
    not_configured,  // a reload removed `rls` (UNAVAILABLE, or 404)
  };
  start_result start(call& c, const pb::RateLimitRequest& request);

  // Decides on the memory backend at once; false when the storage needs a round trip.
  bool decide_now(call& c);
  // The round trips decide_now() could not make (bounded by storage.redis.timeout).
  net::awaitable<void> decide(call& c);

  // Writes the answer into `out` and counts the call.
  void answer(call& c, pb::RateLimitResponse& out);

 private:
  struct series;  // the metric series of one configuration
  std::shared_ptr<const series> series_for(const app::snapshot& snap);
  void count_invalid(const call& c);

  app::snapshot_holder& snapshots_;
  app::decision_backend& backend_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& over_limit_;
  prometheus::Histogram& duration_;
  std::mutex series_mutex_;
  std::shared_ptr<const series> series_;  // of the last configuration seen
};

}  // namespace sluice::rls
