// Per-snapshot metric handles across reloads: the series of names no live snapshot
// uses are removed (a reload renaming routes must not grow /metrics), the series of
// names still in use keep their values, and an old snapshot still held by a request
// in flight keeps its series alive until it goes.
#include "telemetry/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sluice::admin {
namespace {

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The value of the one sample line starting with `series` (name and labels), or -1.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::vector<std::string> names(const std::string& prefix, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST(RouteMetrics, SeriesOfNamesNoSnapshotUsesAreRemoved) {
  metrics m("test");
  auto first = std::make_unique<route_metrics>(m, std::vector<std::string>{"api", "old"},
                                               std::vector<std::string>{"per-ip", "gone"},
                                               std::vector<std::string>{"free", "legacy"});
  first->request(0, method_class::get);
  first->request(1, method_class::post);
  first->blocked(0, method_class::get, 1);   // api blocked by "gone"
  first->blocked(1, method_class::post, 0);  // old blocked by "per-ip"
  first->blocked(0, method_class::get, -1);  // api, denylist
  first->applied(0);
  first->applied(1);
  first->tier_request(0);
  first->tier_request(1);
  first->upstream_response(1, 200);
  first->upstream_duration(1, 0.01);
  const std::string before = m.serialize();
  ASSERT_NE(before.find("route=\"old\""), std::string::npos);
  ASSERT_NE(before.find("scope=\"gone\""), std::string::npos);
  ASSERT_NE(before.find("tier=\"legacy\""), std::string::npos);

  // A reload: the new snapshot is built while the old one is current.
  auto second = std::make_unique<route_metrics>(m, std::vector<std::string>{"api", "new"},
                                                std::vector<std::string>{"per-ip"},
                                                std::vector<std::string>{"free"});
  second->request(0, method_class::get);
  first.reset();
  const std::string after = m.serialize();
  for (std::string_view gone :
       {"route=\"old\"", "scope=\"gone\"", "reason=\"gone\"", "tier=\"legacy\""}) {
    EXPECT_EQ(after.find(gone), std::string::npos) << gone << "\n" << after;
  }
  // Kept names keep their values: 1 request before the reload, 1 after.
  EXPECT_EQ(sample(after, R"(rate_limit_requests_total{method="GET",route="api"})"), 2);
  EXPECT_EQ(sample(after, R"(rate_limit_requests_by_scope_total{scope="per-ip"})"), 1);
  EXPECT_EQ(sample(after, R"(rate_limit_requests_by_tier_total{tier="free"})"), 1);
  EXPECT_EQ(
      sample(after,
             R"(rate_limit_requests_blocked_total{method="GET",reason="denylist",route="api"})"),
      1);
  EXPECT_NE(after.find("route=\"new\""), std::string::npos);
  EXPECT_NE(after.find("tier=\"none\""), std::string::npos);
}

TEST(RouteMetrics, ASnapshotHeldByARequestInFlightKeepsItsSeries) {
  metrics m("test");
  auto current = std::make_shared<const route_metrics>(m, std::vector<std::string>{"old"},
                                                       std::vector<std::string>{"l"},
                                                       std::vector<std::string>{});
  std::shared_ptr<const route_metrics> in_flight = current;  // a request's copy
  current = std::make_shared<const route_metrics>(m, std::vector<std::string>{"new"},
                                                  std::vector<std::string>{"l"},
                                                  std::vector<std::string>{});
  // The request finishes on its old snapshot: its handles are still registered.
  in_flight->request(0, method_class::get);
  in_flight->blocked(0, method_class::get, 0);
  in_flight->upstream_response(0, 503);
  std::string text = m.serialize();
  EXPECT_EQ(sample(text, R"(rate_limit_requests_total{method="GET",route="old"})"), 1);
  EXPECT_EQ(
      sample(text, R"(rate_limit_requests_blocked_total{method="GET",reason="l",route="old"})"), 1);
  in_flight.reset();  // the request ends: nothing can increment "old" any more
  text = m.serialize();
  EXPECT_EQ(text.find("route=\"old\""), std::string::npos) << text;
  EXPECT_NE(text.find("scope=\"l\""), std::string::npos);
}

TEST(RouteMetrics, RenamingAThousandRoutesFiveTimesKeepsTheExpositionBounded) {
  metrics m("test");
  auto current =
      std::make_unique<route_metrics>(m, names("r0-", 1000), names("l0-", 10), names("t0-", 3));
  for (int i = 0; i < 1000; ++i) current->blocked(i, method_class::get, i % 10);
  const std::size_t lines = line_count(m.serialize());
  for (int reload = 1; reload <= 5; ++reload) {
    const std::string tag = std::to_string(reload) + "-";
    auto next = std::make_unique<route_metrics>(m, names("r" + tag, 1000), names("l" + tag, 10),
                                                names("t" + tag, 3));
    for (int i = 0; i < 1000; ++i) next->blocked(i, method_class::get, i % 10);
    current = std::move(next);
    const std::string text = m.serialize();
    EXPECT_EQ(line_count(text), lines) << "reload " << reload;
    EXPECT_EQ(text.find("route=\"r" + std::to_string(reload - 1) + "-"), std::string::npos);
  }
}

TEST(RouteMetrics, DroppingAThousandRoutesIsQuickAndLeavesNoSeries) {
  // prometheus::Family::Remove scans every series: this took seconds with it.
  metrics m("test");
  const std::size_t empty = line_count(m.serialize());
  auto old = std::make_unique<route_metrics>(m, names("old-", 1000), names("l-", 10),
                                             std::vector<std::string>{});
  for (int i = 0; i < 1000; ++i) old->blocked(i, method_class::get, i % 10);
  const route_metrics current(m, names("new-", 1000), names("l-", 10), {});
  const auto start = std::chrono::steady_clock::now();
  old.reset();
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("dropping 1000 routes (23000 series) took %.1f ms\n",
              std::chrono::duration<double, std::milli>(took).count());
  EXPECT_LT(took, std::chrono::seconds(1));
  const std::string text = m.serialize();
  EXPECT_EQ(text.find("route=\"old-"), std::string::npos);
  EXPECT_GT(line_count(text), empty + 1000 * 38 - 1);
}

TEST(RouteMetrics, NamesThatMeanSomethingToEverySnapshotAreNeverRemoved) {
  // A limit named "denylist" and a tier named "none" share those series with every
  // snapshot's deny list and tierless clients: dropping them must not remove those.
  metrics m("test");
  const route_metrics current(m, {"api"}, {"per-ip"}, {"free"});
  current.blocked(0, method_class::get, -1);
  current.tier_request(-1);
  {
    const route_metrics odd(m, {"api"}, {"denylist"}, {"none"});
    odd.blocked(0, method_class::get, 0);
    odd.tier_request(0);
  }
  current.blocked(0, method_class::get, -1);  // ASan: a removed series would be freed here
  current.tier_request(-1);
  const std::string text = m.serialize();
  EXPECT_EQ(
      sample(text,
             R"(rate_limit_requests_blocked_total{method="GET",reason="denylist",route="api"})"),
      3);
  EXPECT_EQ(sample(text, R"(rate_limit_requests_by_tier_total{tier="none"})"), 3);
}

TEST(RouteMetrics, SnapshotsBuiltAndDroppedOnManyThreads) {
  // Snapshots die on whichever thread drops them last; the counts stay exact.
  metrics m("test");
  const route_metrics keeper(m, {"shared"}, {"l"}, {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 200; ++i) {
        auto a = std::make_shared<const route_metrics>(
            m, std::vector<std::string>{"shared", "own" + std::to_string(t)},
            std::vector<std::string>{"l", "own" + std::to_string(t)},
            std::vector<std::string>{"t"});
        a->request(0, method_class::get);
        a->blocked(1, method_class::post, 1);
        a->blocked(0, method_class::get, 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.serialize();
  // No series of the dropped snapshots' own route or limit names is left ("own0".."own3").
  EXPECT_EQ(text.find("\"own"), std::string::npos) << text;
  EXPECT_EQ(sample(text, R"(rate_limit_requests_total{method="GET",route="shared"})"), 800);
  // The request path's counters (event_counter) are exposed as Prometheus counters.
  EXPECT_NE(text.find("# TYPE rate_limit_requests_total counter\n"), std::string::npos) << text;
  EXPECT_EQ(
      sample(text, R"(rate_limit_requests_blocked_total{method="GET",reason="l",route="shared"})"),
      800);
}

}  // namespace
}  // namespace sluice::admin
