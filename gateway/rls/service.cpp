#include "rls/service.hpp"

#include <envoy/service/ratelimit/v3/rls.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <iostream>
#include <span>
#include <string>

#include "rls/messages.hpp"

namespace sluice::rls {
namespace {

using clock_type = std::chrono::steady_clock;

// Envoy sends a few descriptors of a few short entries; a megabyte is far beyond any
// request the decision accepts (64 descriptors of 16 entries), and far below gRPC's 4 MiB.
constexpr int max_request_bytes = 1 << 20;

const prometheus::Histogram::BucketBoundaries duration_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1};

// One ShouldRateLimit call, from its arrival to its answer.
struct call {
  grpc::ServerUnaryReactor* reactor = nullptr;
  pb::RateLimitResponse* response = nullptr;
  std::shared_ptr<const app::snapshot> snap;
  limit::rls_request request;  // views into gRPC's request message (alive until Finish)
  limit::rls_evaluation ev;
  clock_type::time_point started;
  limit::micros now = 0;  // the clock the decision used
  storage_answer storage = storage_answer::decided;
  bool admitted = true;  // all-or-nothing: what the store answered
};

// A call's store decisions: one for all of its checks (all_or_nothing), or one per check.
std::vector<app::keyed_decision> keyed_decisions(call& c) {
  auto& ev = c.ev;
  const std::size_t n = ev.checks.size();
  const std::span<const limit::check> checks(ev.checks);
  const std::span<const std::string> names(ev.state_names.data(), n);
  const std::span<const std::string> keys(ev.state_keys.data(), n);
  const std::span<limit::decision> out(ev.decisions);
  std::vector<app::keyed_decision> units;
  if (n == 0) return units;
  if (c.snap->config.server.rls->charging == config::rls_charging::all_or_nothing) {
    units.push_back({checks, names, keys, out, c.now});
    return units;
  }
  for (std::size_t i = 0; i < n; ++i) {
    units.push_back(
        {checks.subspan(i, 1), names.subspan(i, 1), keys.subspan(i, 1), out.subspan(i, 1), c.now});
  }
  return units;
}

// Folds one store answer into the call.
void fold(call& c, const app::keyed_decision& d, app::store_verdict verdict) {
  if (verdict == app::store_verdict::unavailable) {
    c.storage = storage_answer::unavailable;
  } else if (d.unchecked && c.storage == storage_answer::decided) {
    c.storage = storage_answer::unchecked;
  }
  c.admitted = c.admitted && verdict == app::store_verdict::admitted;
  c.now = d.now;
}

}  // namespace

class rate_limit_service::handler final : public pb::RateLimitService::CallbackService {
 public:
  handler(app::snapshot_holder& snapshots, app::decision_backend& backend, admin::metrics& metrics,
          std::vector<net::asio::io_context*> workers)
      : snapshots_(snapshots), backend_(backend), workers_(std::move(workers)) {
    auto& r = metrics.registry();
    requests_ = &prometheus::BuildCounter()
                     .Name("rate_limit_rls_requests_total")
                     .Help(
                         "ShouldRateLimit calls answered, by domain (configured ones; "
                         "'unknown' for others) and code (ok, over_limit, invalid, "
                         "unavailable).")
                     .Register(r);
    over_limit_ = &prometheus::BuildCounter()
                       .Name("rate_limit_rls_over_limit_total")
                       .Help(
                           "Descriptors answered OVER_LIMIT, by domain and descriptor "
                           "(its configured full key, or 'limit_override').")
                       .Register(r);
    duration_ = &prometheus::BuildHistogram()
                     .Name("rate_limit_rls_duration_seconds")
                     .Help("Time from a ShouldRateLimit call's arrival to its answer.")
                     .Register(r)
                     .Add({{"backend", backend.is_redis() ? "redis" : "memory"}}, duration_buckets);
  }

  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context,
                                            const pb::RateLimitRequest* request,
                                            pb::RateLimitResponse* response) override {
    auto* reactor = context->DefaultReactor();
    try {
      auto c = std::make_unique<call>();
      c->reactor = reactor;
      c->response = response;
      c->started = clock_type::now();
      c->snap = snapshots_.get();
      if (!c->snap->rls) {
        // A reload removed `rls`; the listener goes at the next restart.
        reactor->Finish({grpc::StatusCode::UNAVAILABLE,
                         "the rate limit service is not configured (rls was removed)"});
        return reactor;
      }
      read_request(*request, c->request);
      limit::prepare_rls(*c->snap->rls, c->request, c->ev);
      if (!c->ev.problem.empty()) {
        count(*c, "invalid");
        reactor->Finish({grpc::StatusCode::INVALID_ARGUMENT, std::string(c->ev.problem)});
        return reactor;
      }
      c->ev.decisions.resize(c->ev.checks.size());
      c->now = app::system_now_us();
      if (!backend_.is_redis()) {
        // The memory store decides at once, on this thread.
        for (auto& d : keyed_decisions(*c)) {
          app::store_verdict verdict = app::store_verdict::unavailable;
          backend_.decide_keyed_now(d, verdict);
          fold(*c, d, verdict);
        }
        answer(std::move(c));
        return reactor;
      }
      auto& io = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
      net::asio::co_spawn(io, decide_on_redis(std::move(c)), net::asio::detached);
    } catch (const std::exception& e) {
      reactor->Finish({grpc::StatusCode::INTERNAL, e.what()});
    }
    return reactor;
  }

 private:
  net::awaitable<void> decide_on_redis(std::unique_ptr<call> c) {
    try {
      for (auto& d : keyed_decisions(*c)) {
        app::store_verdict verdict = app::store_verdict::unavailable;
        if (!backend_.decide_keyed_now(d, verdict)) verdict = co_await backend_.decide_keyed(d);
        fold(*c, d, verdict);
      }
      answer(std::move(c));
    } catch (const std::exception& e) {
      c->reactor->Finish({grpc::StatusCode::INTERNAL, e.what()});
    }
  }

  void answer(std::unique_ptr<call> c) {
    const auto charging = c->snap->config.server.rls->charging;
    if (c->storage == storage_answer::decided) limit::conclude_rls(c->ev, charging, c->admitted);
    write_response(c->ev, c->storage, c->now, c->snap->config.server.headers, *c->response);
    const bool over = c->response->overall_code() == pb::RateLimitResponse::OVER_LIMIT;
    count(*c, c->storage == storage_answer::unavailable ? "unavailable"
              : over                                    ? "over_limit"
                                                        : "ok");
    if (c->storage == storage_answer::decided) {
      for (std::size_t i = 0; i < c->ev.statuses.size(); ++i) {
        if (c->ev.statuses[i].code != limit::rls_code::over_limit) continue;
        const auto* found = c->ev.found[i];
        over_limit_
            ->Add({{"domain", std::string(c->request.domain)},
                   {"descriptor", found != nullptr ? found->full_key : "limit_override"}})
            .Increment();
      }
    }
    c->reactor->Finish(grpc::Status::OK);
  }

  void count(const call& c, const char* code) {
    const bool known = c.snap->rls->matcher().has_domain(c.request.domain);
    requests_->Add({{"domain", known ? std::string(c.request.domain) : "unknown"}, {"code", code}})
        .Increment();
    duration_->Observe(std::chrono::duration<double>(clock_type::now() - c.started).count());
  }

  app::snapshot_holder& snapshots_;
  app::decision_backend& backend_;
  std::vector<net::asio::io_context*> workers_;
  std::atomic<std::size_t> next_worker_{0};
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Counter>* over_limit_ = nullptr;
  prometheus::Histogram* duration_ = nullptr;
};

rate_limit_service::rate_limit_service(app::snapshot_holder& snapshots,
                                       app::decision_backend& backend, admin::metrics& metrics,
                                       std::vector<net::asio::io_context*> workers)
    : handler_(std::make_unique<handler>(snapshots, backend, metrics, std::move(workers))) {}

rate_limit_service::~rate_limit_service() {
  stop();
}

void rate_limit_service::start(const config::host_port& listen) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen.to_string(), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_request_bytes);
  // gRPC binds with SO_REUSEPORT by default: a second gateway on the same address
  // would silently take half the calls instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(handler_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    throw std::runtime_error("rls.listen " + listen.to_string() + ": cannot listen there");
  }
}

void rate_limit_service::stop() {
  if (!server_) return;
  // Calls in flight finish (a Redis round trip is bounded by storage.redis.timeout);
  // any still running after the deadline are cancelled.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  server_.reset();
}

}  // namespace sluice::rls
