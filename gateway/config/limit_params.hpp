// The numbers of a rate limit as the policies declare them and the algorithms read
// them: time in integer microseconds (`micros`), the algorithm names, limit_params (the
// parameters derived from a rate, and whether both backends compute them exactly), the
// split of a budget over shards. Plain values, no I/O, no clocks. They sit in config
// because the config loader validates with them; the namespace is sluice::limit, the
// engine's, which uses them on every request (README "Development", folder map).
//
// Units: time is integer microseconds (`micros`) since the Unix epoch, because the
// Redis backend mirrors these algorithms in Lua on Redis `TIME` (microseconds), and
// Lua numbers are doubles that are exact only below 2^53. Every intermediate value
// is kept below 2^53 by validation at config load (see limit_params::exact()).
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::limit {

using micros = std::int64_t;

inline constexpr micros micros_per_second = 1'000'000;

// Largest integer that both int64 and a Lua double represent exactly.
inline constexpr std::int64_t max_exact_integer = (std::int64_t{1} << 53) - 1;

// sliding_log keeps one timestamp per admitted unit, so N bounds its memory per key.
inline constexpr std::int64_t max_sliding_log_entries = 10'000;

enum class algorithm : std::uint8_t {
  token_bucket,
  leaky_bucket,
  fixed_window,
  sliding_window,
  sliding_log,
  // In-flight requests (issue 14, limit/algorithms/concurrency.hpp): count = `max`,
  // period = the `lease` after which a held slot is given up even if never released.
  concurrency,
};

std::string_view to_string(algorithm a);

// A rate per calendar period (`N/day`, `N/week`, `N/month`; config/calendar.hpp): its
// windows follow a calendar, so their length and start are worked out per request.
// none: a period of fixed length, windows aligned to the Unix epoch.
enum class calendar_unit : std::uint8_t { none, day, week, month };

std::string_view to_string(calendar_unit u);  // "", "day", "week", "month"

// Buckets have a burst (a capacity apart from N); windows count N per window.
constexpr bool is_bucket(algorithm a) {
  return a == algorithm::token_bucket || a == algorithm::leaky_bucket;
}

// A concurrency limit holds a slot while its request is in flight: the slot goes back
// when the response ends, never with time.
constexpr bool holds_in_flight(algorithm a) {
  return a == algorithm::concurrency;
}

// The numbers one limit applies to one key. Built once per snapshot (per tier for
// tier-aware limits); the request path only reads it.
struct limit_params {
  algorithm algo = algorithm::token_bucket;
  std::int64_t count = 0;  // N: tokens per period (buckets) or requests per window
  micros period = 0;       // the rate's period, which is the window length for windows
  std::int64_t burst = 0;  // bucket capacity in tokens (buckets only; defaults to N)
  micros max_delay = 0;    // leaky_bucket shaping: hold up to this long (0 = never hold)
  // fixed_window only: windows are [origin + k * period, origin + (k + 1) * period).
  // 0 (the epoch) for a fixed-length rate; for a calendar rate the engine sets origin
  // and period to the calendar period that holds the request (config/calendar.hpp).
  micros origin = 0;
  calendar_unit calendar = calendar_unit::none;  // the rate's unit, when a calendar one

  // Derived for the bucket algorithms: the emission interval T = period / count
  // reduced to interval_num / interval_den microseconds per token.
  std::int64_t interval_num = 0;
  std::int64_t interval_den = 1;

  // What the limit reports as "limit": capacity for buckets, N for windows.
  std::int64_t capacity() const;

  // Seconds-equivalent window for RateLimit-Policy `w=`: the window length, or for
  // buckets the time to refill from empty (burst * T), rounded up to whole seconds.
  std::int64_t policy_window_seconds() const;

  // Builds params with the derived fields filled in. Preconditions (checked by the
  // config loader, which reports them with a position): count >= 1, period >= 1,
  // burst >= 1 for buckets, and exact() holds.
  static limit_params make(algorithm algo, std::int64_t count, micros period, std::int64_t burst,
                           micros max_delay = 0);

  // True when every intermediate value of the algorithm stays below 2^53, so the
  // memory and Redis backends compute identical results.
  bool exact() const;
};

// Shard `index` (0-based) of `total` split over `shards`: total / shards, plus one for
// the first total % shards shards. The shares add up to exactly `total` (`shards: N`,
// limit/shards.hpp).
constexpr std::int64_t shard_share(std::int64_t total, int shards, int index) {
  return total / shards + (index < total % shards ? 1 : 0);
}

// The burst of a tenant given `tenant_count` in place of the limit's `count`
// (`tenant_rate:`): the configured burst scaled alike, at least 1; 0 (the default, N)
// stays 0.
constexpr std::int64_t tenant_burst(std::int64_t burst, std::int64_t count,
                                    std::int64_t tenant_count) {
  if (burst <= 0 || count <= 0) return 0;
  const __int128 scaled = static_cast<__int128>(burst) * tenant_count / count;
  return scaled < 1                   ? 1
         : scaled > max_exact_integer ? max_exact_integer
                                      : static_cast<std::int64_t>(scaled);
}

// Rounds a positive duration up to whole seconds, at least 1 (what Retry-After and
// the 429 body report).
inline std::int64_t ceil_seconds_min1(micros d) {
  std::int64_t s = (d + micros_per_second - 1) / micros_per_second;
  return s < 1 ? 1 : s;
}

// Rounds a duration up to whole seconds, possibly 0 (what reset headers report).
inline std::int64_t ceil_seconds(micros d) {
  return d <= 0 ? 0 : (d + micros_per_second - 1) / micros_per_second;
}

}  // namespace sluice::limit
