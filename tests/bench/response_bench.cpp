// The per-request work of the decision engine as scripts/bench/compare.py drives it:
// one limit keyed by client IP (the sluice-allow / sluice-reject policies), the
// default header configuration (legacy X-RateLimit-* + draft-6 RateLimit-*, Retry-After).
//
//   BM_request/allow       prepare + store + conclude + the rate-limit headers
//   BM_request/reject      the same for an exhausted limit, plus the 429 body
//   BM_headers/allow       append_rate_limit_headers alone (a concluded evaluation)
//   BM_headers/reject      append_rate_limit_headers + append_rejection_body alone
//
// Together with `scripts/bench/compare.py --callgrind` (instructions per request of
// the whole gateway) this separates the engine's share from the HTTP layer's.
#include <benchmark/benchmark.h>

#include "limit/engine.hpp"
#include "limit/rate_limit_headers.hpp"

namespace {

using namespace sluice;
using namespace sluice::limit;

constexpr micros t0 = micros{1'700'000'000} * micros_per_second;

config::loaded_config one_limit(bool reject) {
  config::loaded_config c;
  config::limit_def l;
  l.name = reject ? "bench-reject" : "bench-allow";
  l.key = {{config::key_part_kind::ip, ""}};
  if (reject) {
    l.rate = {1, 86'400 * micros_per_second};
    l.burst = 1;
  } else {
    l.rate = {1'000'000'000, micros_per_second};
    l.burst = 1'000'000'000;
  }
  c.policy.limits = {l};
  return c;
}

struct fixture {
  explicit fixture(bool reject) : cfg(one_limit(reject)), pol(cfg, 42) {
    request_facts f = facts();
    decide(pol, f, nullptr, store, t0, ev);  // exhausts the reject limit
  }
  static request_facts facts() {
    return request_facts{"GET", "/", ip_address::from_v4(0x7f000001), false, nullptr};
  }
  config::loaded_config cfg;
  policy pol;
  memory_store store{1'000'000};
  evaluation ev;
  header_list headers;
  text_buffer body;
};

void BM_request(benchmark::State& state) {
  const bool reject = state.range(0) != 0;
  fixture fx(reject);
  micros now = t0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    request_facts f = fixture::facts();
    decide(fx.pol, f, nullptr, fx.store, now += 1, fx.ev);
    fx.headers.clear();
    append_rate_limit_headers(fx.ev, fx.pol.headers(), fx.headers);
    if (fx.ev.result == outcome::limited) {
      fx.body.clear();
      append_rejection_body(fx.ev, fx.body);
      bytes += fx.body.size();
    }
    benchmark::DoNotOptimize(fx.headers);
  }
  if ((fx.ev.result == outcome::limited) != reject) state.SkipWithError("unexpected outcome");
  benchmark::DoNotOptimize(bytes);
}

void BM_headers(benchmark::State& state) {
  const bool reject = state.range(0) != 0;
  fixture fx(reject);
  request_facts f = fixture::facts();
  decide(fx.pol, f, nullptr, fx.store, t0 + 1, fx.ev);
  std::size_t bytes = 0;
  for (auto _ : state) {
    fx.headers.clear();
    append_rate_limit_headers(fx.ev, fx.pol.headers(), fx.headers);
    if (reject) {
      fx.body.clear();
      append_rejection_body(fx.ev, fx.body);
      bytes += fx.body.size();
    }
    benchmark::DoNotOptimize(fx.headers);
  }
  benchmark::DoNotOptimize(bytes);
}

BENCHMARK(BM_request)->ArgName("reject")->Arg(0)->Arg(1);
BENCHMARK(BM_headers)->ArgName("reject")->Arg(0)->Arg(1);

}  // namespace
