// The whole decision as the gateway makes it for one request: path normalization,
// route match (6 routes), identity and tier, key building and hashing for three
// limits (global fixed_window, per-ip token_bucket, tier-aware per-client
// token_bucket), the all-or-nothing store decision and the conclusion.
//
//   BM_engine_decide/uniform/1000000   1M distinct client IPs, uniformly random
//   BM_engine_decide/zipf/1000000      1M client IPs, Zipf(s=1) popularity (real
//                                      traffic: a few clients send most requests)
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "limit/engine.hpp"

namespace {

using namespace sluice;
using namespace sluice::limit;

constexpr std::size_t client_count = 1'000'000;
constexpr micros t0 = micros{1'700'000'000} * micros_per_second;

config::loaded_config bench_config() {
  config::loaded_config c;
  c.server.identity.api_key_header = "x-api-key";
  c.server.identity.user_header = "x-user-id";
  c.server.identity.ipv6_prefix = 64;
  c.policy.tiers = {{"free", false, {60, 60 * micros_per_second}, 100, {}},
                    {"pro", false, {3000, 60 * micros_per_second}, 2000, {}}};
  c.policy.default_tier = "free";
  auto route = [](std::string name, std::vector<std::string> methods, std::string pattern,
                  std::int64_t cost, bool off) {
    return config::route_def{
        std::move(name), std::move(methods), std::move(pattern), cost, off, {}};
  };
  c.policy.routes = {route("health", {"GET"}, "/healthz", 1, true),
                     route("login", {"POST"}, "/auth/login", 1, false),
                     route("ocr-batch", {"POST"}, "/ocr/batch", 50, false),
                     route("ocr", {"POST"}, "/ocr/*", 10, false),
                     route("user", {"GET", "HEAD"}, "/users/{id}", 1, false),
                     route("static", {}, "/static/**", 1, true)};
  auto limit = [](std::string name, config::key_part_kind part, algorithm algo, config::rate r,
                  std::int64_t burst, bool tier) {
    config::limit_def l;
    l.name = std::move(name);
    l.key = {{part, ""}};
    l.algo = algo;
    l.rate = r;
    l.burst = burst;
    l.tier_aware = tier;
    l.count = config::count_mode::requests;
    return l;
  };
  // Generous numbers: the benchmark measures the decision, mostly allowed.
  c.policy.limits = {
      limit("global", config::key_part_kind::global, algorithm::fixed_window,
            {1'000'000'000, 60 * micros_per_second}, 0, false),
      limit("per-ip", config::key_part_kind::ip, algorithm::token_bucket, {100, micros_per_second},
            300, false),
      limit("per-client", config::key_part_kind::client, algorithm::token_bucket, {}, 0, true)};
  return c;
}

std::vector<ip_address> client_ips(bool zipf, std::size_t requests) {
  std::mt19937_64 rng(7);
  std::vector<ip_address> out;
  out.reserve(requests);
  if (!zipf) {
    std::uniform_int_distribution<std::uint32_t> pick(0, client_count - 1);
    for (std::size_t i = 0; i < requests; ++i)
      out.push_back(ip_address::from_v4(0x0a000000u + pick(rng)));
    return out;
  }
  // Zipf(s=1) by inverse transform over the harmonic weights.
  std::vector<double> cdf(client_count);
  double total = 0;
  for (std::size_t k = 0; k < client_count; ++k) cdf[k] = total += 1.0 / static_cast<double>(k + 1);
  std::uniform_real_distribution<double> u(0, total);
  for (std::size_t i = 0; i < requests; ++i) {
    auto k =
        static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    out.push_back(ip_address::from_v4(0x0a000000u + k));
  }
  return out;
}

void run(benchmark::State& state, bool zipf) {
  const auto cfg = bench_config();
  const policy pol(cfg, 42);
  memory_store store(2 * client_count + 16);
  identity::memory_overrides overrides;
  const auto ips = client_ips(zipf, 1 << 20);
  static constexpr const char* targets[] = {"/users/12345", "/v1/orders?page=2", "/ocr/scan",
                                            "/users/998877"};
  static constexpr const char* methods[] = {"GET", "GET", "POST", "GET"};
  evaluation ev;
  micros now = t0;
  // Warm up: every client decided once, so the run measures steady state.
  for (std::size_t i = 0; i < ips.size(); ++i) {
    request_facts f{"GET", "/warm", ips[i], false, nullptr};
    decide(pol, f, &overrides, store, now, ev);
  }
  std::size_t i = 0, allowed = 0;
  for (auto _ : state) {
    const std::size_t r = i & 3;
    request_facts f{methods[r], targets[r], ips[i & (ips.size() - 1)], false, nullptr};
    decide(pol, f, &overrides, store, now += 1, ev);
    allowed += ev.result == outcome::allowed;
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["allowed_share"] =
      benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(state.iterations()));
}

void BM_engine_decide_uniform(benchmark::State& state) {
  run(state, false);
}
void BM_engine_decide_zipf(benchmark::State& state) {
  run(state, true);
}

BENCHMARK(BM_engine_decide_uniform)
    ->Name("BM_engine_decide/uniform/1000000")
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_engine_decide_zipf)
    ->Name("BM_engine_decide/zipf/1000000")
    ->Unit(benchmark::kNanosecond);

}  // namespace
