#include "rls/decider.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <exception>
#include <span>
#include <string>
#include <unordered_map>

namespace sluice::rls {
namespace {

using clock_type = std::chrono::steady_clock;

enum code_label { ok, over_limit, invalid, unavailable };
constexpr std::array<const char*, 4> code_names = {"ok", "over_limit", "invalid", "unavailable"};

// The call's store decisions: one for all of its checks (all_or_nothing), or one per
// check (each). unit_count() of them; unit(c, i) is the i-th.
std::size_t unit_count(const call& c) {
  const std::size_t n = c.ev.checks.size();
  if (n == 0) return 0;
  return c.snap->config.server.rls->charging == config::rls_charging::all_or_nothing ? 1 : n;
}

app::keyed_decision unit(call& c, std::size_t i) {
  auto& ev = c.ev;
  const std::size_t n = ev.checks.size();
  const std::span<const limit::check> checks(ev.checks);
  const std::span<const std::string_view> names(ev.state_names);
  const std::span<const std::string> keys(ev.state_keys.data(), n);
  const std::span<limit::decision> out(ev.decisions);
  if (c.snap->config.server.rls->charging == config::rls_charging::all_or_nothing) {
    return {checks, names, keys, out, c.now};
  }
  return {checks.subspan(i, 1), names.subspan(i, 1), keys.subspan(i, 1), out.subspan(i, 1), c.now};
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

// The series of one RLS configuration, resolved when a call first sees it.
struct decider::series {
  std::shared_ptr<const limit::rls_policy> policy;  // what they were resolved for
  struct domain_series {
    std::array<prometheus::Counter*, 4> requests{};  // by code_label
    prometheus::Counter* override_over = nullptr;    // a descriptor's own limit, over
  };
  std::unordered_map<std::string_view, domain_series> domains;  // views into policy
  domain_series unknown;
  std::unordered_map<const config::rls_descriptor*, prometheus::Counter*> over;

  const domain_series& of(std::string_view domain) const {
    auto it = domains.find(domain);
    return it == domains.end() ? unknown : it->second;
  }
};

decider::decider(app::snapshot_holder& snapshots, app::decision_backend& backend,
                 admin::metrics& metrics)
    : snapshots_(snapshots),
      backend_(backend),
      requests_(prometheus::BuildCounter()
                    .Name("rate_limit_rls_requests_total")
                    .Help("ShouldRateLimit calls answered, by domain (configured ones; "
                          "'unknown' for others) and code (ok, over_limit, invalid, "
                          "unavailable).")
                    .Register(metrics.registry())),
      over_limit_(prometheus::BuildCounter()
                      .Name("rate_limit_rls_over_limit_total")
                      .Help("Descriptors answered OVER_LIMIT, by domain and descriptor "
                            "(its configured full key, or 'limit_override').")
                      .Register(metrics.registry())),
      duration_(prometheus::BuildHistogram()
                    .Name("rate_limit_rls_duration_seconds")
                    .Help("Time from a ShouldRateLimit call's arrival to its answer.")
                    .Register(metrics.registry())
                    .Add({{"backend", backend.is_redis() ? "redis" : "memory"}},
                         admin::decision_buckets)) {}

decider::~decider() = default;

std::shared_ptr<const decider::series> decider::series_for(const app::snapshot& snap) {
  std::lock_guard lock(series_mutex_);
  if (series_ && series_->policy == snap.rls) return series_;
  // A new configuration: resolve its series once. Those of a configuration that is
  // gone stay (a domain's counters keep counting if it comes back).
  auto s = std::make_shared<series>();
  s->policy = snap.rls;
  auto resolve = [&](std::string_view domain, series::domain_series& out) {
    for (std::size_t i = 0; i < code_names.size(); ++i) {
      out.requests[i] = &requests_.Add({{"domain", std::string(domain)}, {"code", code_names[i]}});
    }
  };
  resolve("unknown", s->unknown);
  for (const auto& domain : snap.rls->config().domains) {
    auto& d = s->domains[domain.domain];
    resolve(domain.domain, d);
    d.override_over =
        &over_limit_.Add({{"domain", domain.domain}, {"descriptor", "limit_override"}});
    auto walk = [&](const auto& self, const std::vector<config::rls_descriptor>& level) -> void {
      for (const auto& desc : level) {
        if (desc.rate_limit && !desc.rate_limit->unlimited) {
          s->over[&desc] =
              &over_limit_.Add({{"domain", domain.domain}, {"descriptor", desc.full_key}});
        }
        self(self, desc.descriptors);
      }
    };
    walk(walk, domain.descriptors);
  }
  series_ = std::move(s);
  return series_;
}

decider::start_result decider::start(call& c, const pb::RateLimitRequest& request) {
  c.started = clock_type::now();
  c.snap = snapshots_.get();
  c.storage = storage_answer::decided;
  c.admitted = true;
  if (!c.snap->rls) return start_result::not_configured;
  read_request(request, c.request);
  c.now = app::system_now_us();
  limit::prepare_rls(*c.snap->rls, c.request, c.ev, c.now);
  if (!c.ev.problem.empty()) {
    count_invalid(c);
    return start_result::invalid;
  }
  c.ev.decisions.resize(c.ev.checks.size());
  return start_result::ready;
}

bool decider::decide_now(call& c) {
  if (backend_.is_redis()) return false;
  for (std::size_t i = 0; i < unit_count(c); ++i) {
    auto d = unit(c, i);
    auto verdict = app::store_verdict::unavailable;
    backend_.decide_keyed_now(d, verdict);
    fold(c, d, verdict);
  }
  return true;
}

net::awaitable<void> decider::decide(call& c) {
  const std::size_t n = unit_count(c);
  if (n == 1) {
    auto d = unit(c, 0);
    auto verdict = app::store_verdict::unavailable;
    if (!backend_.decide_keyed_now(d, verdict)) verdict = co_await backend_.decide_keyed(d);
    fold(c, d, verdict);
    co_return;
  }
  // Charging each: the descriptors' decisions are independent, so their round trips
  // are in flight at once (one call waits for one round trip, not one per descriptor).
  std::vector<app::keyed_decision> units;
  std::vector<app::store_verdict> verdicts(n, app::store_verdict::unavailable);
  units.reserve(n);
  for (std::size_t i = 0; i < n; ++i) units.push_back(unit(c, i));
  auto executor = co_await net::asio::this_coro::executor;
  using round_trip =
      decltype(net::asio::co_spawn(executor, backend_.decide_keyed(units[0]), net::asio::deferred));
  std::vector<round_trip> trips;
  std::vector<std::size_t> tripped;  // which unit each round trip decides
  for (std::size_t i = 0; i < n; ++i) {
    if (backend_.decide_keyed_now(units[i], verdicts[i])) continue;
    trips.push_back(
        net::asio::co_spawn(executor, backend_.decide_keyed(units[i]), net::asio::deferred));
    tripped.push_back(i);
  }
  if (!trips.empty()) {
    auto [order, exceptions, answers] =
        co_await net::asio::experimental::make_parallel_group(std::move(trips))
            .async_wait(net::asio::experimental::wait_for_all(), net::asio::use_awaitable);
    for (std::size_t k = 0; k < tripped.size(); ++k) {
      if (exceptions[k]) std::rethrow_exception(exceptions[k]);
      verdicts[tripped[k]] = answers[k];
    }
  }
  for (std::size_t i = 0; i < n; ++i) fold(c, units[i], verdicts[i]);
}

void decider::answer(call& c, pb::RateLimitResponse& out) {
  const auto& rls = *c.snap->config.server.rls;
  if (c.storage == storage_answer::decided) limit::conclude_rls(c.ev, rls.charging, c.admitted);
  write_response(c.ev, c.storage, c.now, c.snap->config.server.headers, c.fields, out);

  const auto s = series_for(*c.snap);
  const auto& domain = s->of(c.request.domain);
  const bool over = out.overall_code() == pb::RateLimitResponse::OVER_LIMIT;
  domain.requests[c.storage == storage_answer::unavailable ? unavailable
                  : over                                   ? over_limit
                                                           : ok]
      ->Increment();
  if (c.storage == storage_answer::decided) {
    for (std::size_t i = 0; i < c.ev.statuses.size(); ++i) {
      if (c.ev.statuses[i].code != limit::rls_code::over_limit) continue;
      const auto* found = c.ev.found[i];
      (found != nullptr ? s->over.at(found) : domain.override_over)->Increment();
    }
  }
  duration_.Observe(std::chrono::duration<double>(clock_type::now() - c.started).count());
}

void decider::count_invalid(const call& c) {
  series_for(*c.snap)->of(c.request.domain).requests[invalid]->Increment();
  duration_.Observe(std::chrono::duration<double>(clock_type::now() - c.started).count());
}

}  // namespace sluice::rls
