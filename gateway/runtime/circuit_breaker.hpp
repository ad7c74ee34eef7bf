// The upstream circuit breaker (upstream.circuit_breaker): after `failures`
// consecutive failures (connect errors, timeouts, invalid responses, 5xx) the
// upstream is skipped for `cooldown` and requests get 503 with Retry-After. Then
// one probe request is let through (half-open): success closes the breaker,
// failure opens it for another cooldown.
//
// Owned by the gateway (one per upstream, kept across reloads); thread-safe
// (atomics only). Time is passed in (microseconds), never read here.
#pragma once

#include <atomic>
#include <cstdint>

namespace sluice::net {

class circuit_breaker {
 public:
  // failures == 0 disables the breaker.
  circuit_breaker(int failures, std::int64_t cooldown_us);

  void configure(int failures, std::int64_t cooldown_us);

  // Whether a request may go upstream at `now`. When not, `retry_after_us` is how
  // long until the next probe may be tried.
  bool allow(std::int64_t now, std::int64_t& retry_after_us);

  void record_success();
  void record_failure(std::int64_t now);

  bool is_open(std::int64_t now) const;

 private:
  std::atomic<int> threshold_;
  std::atomic<std::int64_t> cooldown_us_;
  std::atomic<int> consecutive_failures_{0};
  std::atomic<std::int64_t> open_until_{0};     // 0 = closed
  std::atomic<std::int64_t> probe_started_{0};  // 0 = no probe in flight
};

}  // namespace sluice::net
