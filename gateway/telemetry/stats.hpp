// Live numbers behind the dashboard and GET /admin/stats: requests per second allowed
// vs limited over the last minute, denials per limit, and the most limited clients.
//
// Owned by the gateway (one per process, kept across reloads); thread-safe. The
// per-second counters are relaxed atomics (the allow path only increments); the
// denial tables take a short lock, on the 429 path only. The client table is a
// bounded Space-Saving top-K, so a flood of distinct clients cannot grow it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::admin {

class stats {
 public:
  static constexpr std::size_t window_seconds = 60;
  static constexpr std::size_t top_clients_capacity = 64;

  enum class result { allowed, limited, forbidden };

  // `now_s`: Unix time in seconds.
  void record(result r, std::int64_t now_s);
  // A 429: which limit denied it, and who was denied (already masked by the caller
  // where it is a secret).
  void record_denial(std::string_view limit, std::string_view client);

  struct second {
    std::int64_t time = 0;
    std::uint64_t allowed = 0;
    std::uint64_t limited = 0;
    std::uint64_t forbidden = 0;
  };
  struct ranked {
    std::string name;
    std::uint64_t count = 0;
  };
  struct totals {
    std::uint64_t allowed = 0;
    std::uint64_t limited = 0;
    std::uint64_t forbidden = 0;
  };

  // The last `window_seconds` complete and current seconds, oldest first; seconds
  // without traffic are present with zero counts.
  std::vector<second> series(std::int64_t now_s) const;
  std::vector<ranked> top_limits(std::size_t n) const;
  std::vector<ranked> top_clients(std::size_t n) const;
  totals total() const;

 private:
  struct slot {
    std::atomic<std::int64_t> time{0};
    std::atomic<std::uint64_t> allowed{0};
    std::atomic<std::uint64_t> limited{0};
    std::atomic<std::uint64_t> forbidden{0};
  };
  std::array<slot, window_seconds + 1> ring_;
  std::atomic<std::uint64_t> total_allowed_{0};
  std::atomic<std::uint64_t> total_limited_{0};
  std::atomic<std::uint64_t> total_forbidden_{0};

  mutable std::mutex denials_mutex_;
  std::map<std::string, std::uint64_t, std::less<>> limit_denials_;
  std::map<std::string, std::uint64_t, std::less<>> client_denials_;  // Space-Saving counters
};

}  // namespace sluice::admin
