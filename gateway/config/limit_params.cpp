#include "config/limit_params.hpp"

#include <numeric>

namespace sluice::limit {

std::string_view to_string(algorithm a) {
  switch (a) {
    case algorithm::token_bucket:
      return "token_bucket";
    case algorithm::leaky_bucket:
      return "leaky_bucket";
    case algorithm::fixed_window:
      return "fixed_window";
    case algorithm::sliding_window:
      return "sliding_window";
    case algorithm::sliding_log:
      return "sliding_log";
    case algorithm::concurrency:
      return "concurrency";
  }
  return "unknown";
}

std::string_view to_string(calendar_unit u) {
  switch (u) {
    case calendar_unit::none:
      return "";
    case calendar_unit::day:
      return "day";
    case calendar_unit::week:
      return "week";
    case calendar_unit::month:
      return "month";
  }
  return "";
}

std::int64_t limit_params::capacity() const {
  return is_bucket(algo) ? burst : count;
}

std::int64_t limit_params::policy_window_seconds() const {
  if (holds_in_flight(algo)) return 1;  // a slot may free any moment: retry after a second
  if (!is_bucket(algo)) return ceil_seconds(period);
  // burst * T = burst * interval_num / interval_den microseconds, rounded up.
  __int128 refill = (static_cast<__int128>(burst) * interval_num + interval_den - 1) / interval_den;
  return ceil_seconds(static_cast<micros>(refill));
}

limit_params limit_params::make(algorithm algo, std::int64_t count, micros period,
                                std::int64_t burst, micros max_delay) {
  limit_params p;
  p.algo = algo;
  p.count = count;
  p.period = period;
  p.burst = is_bucket(algo) ? (burst > 0 ? burst : count) : 0;
  p.max_delay = algo == algorithm::leaky_bucket ? max_delay : 0;
  std::int64_t g = std::gcd(count, period);
  if (g == 0) g = 1;
  p.interval_num = period / g;
  p.interval_den = count / g;
  if (p.interval_den == 0) p.interval_den = 1;
  return p;
}

bool limit_params::exact() const {
  if (count < 1 || period < 1) return false;
  switch (algo) {
    case algorithm::token_bucket:
    case algorithm::leaky_bucket: {
      // Debt is kept in units of 1/interval_den microseconds and may reach
      // 2 * horizon (a full bucket charged while queued) plus the delay allowance.
      __int128 horizon = static_cast<__int128>(burst) * interval_num;
      __int128 delay = static_cast<__int128>(max_delay) * interval_den;
      return burst >= 1 && 2 * horizon + delay <= max_exact_integer;
    }
    case algorithm::fixed_window:
      return count <= max_exact_integer;
    case algorithm::sliding_window: {
      // Weighted sums use the window in milliseconds and reach previous + current +
      // cost = 3 * count units of window_ms each.
      if (period % 1000 != 0 || count > INT32_MAX) return false;
      __int128 weighted = static_cast<__int128>(count) * (period / 1000) * 3;
      return weighted <= max_exact_integer;
    }
    case algorithm::sliding_log:
      return count <= max_sliding_log_entries;
    case algorithm::concurrency:
      return count <= max_exact_integer && period <= max_exact_integer / 2;
  }
  return false;
}

}  // namespace sluice::limit
