// The dashboard's numbers: per-second series with a sliding minute, exact totals,
// denials per limit, and a bounded top-K of limited clients.
#include "telemetry/stats.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sluice::admin {
namespace {

constexpr std::int64_t t0 = 1'767'225'600;

TEST(AdminStats, SeriesCoversTheLastMinuteWithZeroSecondsIncluded) {
  stats s;
  s.record(stats::result::allowed, t0);
  s.record(stats::result::allowed, t0);
  s.record(stats::result::limited, t0 + 2);
  s.record(stats::result::forbidden, t0 + 2);
  auto series = s.series(t0 + 2);
  ASSERT_EQ(series.size(), stats::window_seconds);
  EXPECT_EQ(series.back().time, t0 + 2);
  EXPECT_EQ(series.back().limited, 1u);
  EXPECT_EQ(series.back().forbidden, 1u);
  EXPECT_EQ(series[series.size() - 2].allowed, 0u);  // t0 + 1: no traffic
  EXPECT_EQ(series[series.size() - 3].allowed, 2u);  // t0
}

TEST(AdminStats, OldSecondsLeaveTheWindowAndSlotsAreReused) {
  stats s;
  s.record(stats::result::allowed, t0);
  // 61 seconds later the same ring slot is reused for a new second.
  s.record(stats::result::limited, t0 + 61);
  auto series = s.series(t0 + 61);
  for (const auto& sec : series) EXPECT_EQ(sec.allowed, 0u) << sec.time;
  EXPECT_EQ(series.back().limited, 1u);
  EXPECT_EQ(s.total().allowed, 1u);
  EXPECT_EQ(s.total().limited, 1u);
}

TEST(AdminStats, TopLimitsAndClientsAreRankedByDenials) {
  stats s;
  for (int i = 0; i < 5; ++i) s.record_denial("per-ip", "ip:192.0.2.1");
  for (int i = 0; i < 2; ++i) s.record_denial("global", "key:key-****");
  s.record_denial("per-ip", "user:bob");
  auto limits = s.top_limits(10);
  ASSERT_EQ(limits.size(), 2u);
  EXPECT_EQ(limits[0].name, "per-ip");
  EXPECT_EQ(limits[0].count, 6u);
  auto clients = s.top_clients(2);
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(clients[0].name, "ip:192.0.2.1");
  EXPECT_EQ(clients[1].name, "key:key-****");
}

TEST(AdminStats, ClientTableStaysBoundedAndKeepsHeavyHitters) {
  stats s;
  // Space-Saving keeps every client above total/K denials: 500 > 10500 / 64.
  for (int i = 0; i < 500; ++i) s.record_denial("per-ip", "heavy");
  for (int i = 0; i < 10'000; ++i) s.record_denial("per-ip", "once-" + std::to_string(i));
  auto clients = s.top_clients(1000);
  EXPECT_LE(clients.size(), stats::top_clients_capacity);
  EXPECT_EQ(clients[0].name, "heavy");
}

TEST(AdminStatsConcurrency, ConcurrentRecordsAreAllCounted) {
  stats s;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s] {
      for (int i = 0; i < 10'000; ++i) {
        s.record(stats::result::allowed, t0 + i / 1000);
        if (i % 100 == 0) s.record_denial("per-ip", "c");
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(s.total().allowed, 40'000u);
  std::uint64_t in_series = 0;
  for (const auto& sec : s.series(t0 + 9)) in_series += sec.allowed;
  EXPECT_EQ(in_series, 40'000u);
  EXPECT_EQ(s.top_limits(1)[0].count, 400u);
}

}  // namespace
}  // namespace sluice::admin
