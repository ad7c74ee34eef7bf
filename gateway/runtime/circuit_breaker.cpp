#include "runtime/circuit_breaker.hpp"

namespace sluice::net {

circuit_breaker::circuit_breaker(int failures, std::int64_t cooldown_us)
    : threshold_(failures), cooldown_us_(cooldown_us) {}

void circuit_breaker::configure(int failures, std::int64_t cooldown_us) {
  threshold_.store(failures, std::memory_order_relaxed);
  cooldown_us_.store(cooldown_us, std::memory_order_relaxed);
}

bool circuit_breaker::allow(std::int64_t now, std::int64_t& retry_after_us) {
  const std::int64_t open_until = open_until_.load(std::memory_order_acquire);
  if (open_until == 0 || threshold_.load(std::memory_order_relaxed) <= 0) return true;
  if (now < open_until) {
    retry_after_us = open_until - now;
    return false;
  }
  // Half-open: exactly one probe at a time. A probe that never reports (its
  // client vanished) is given up after one cooldown so the breaker cannot stick.
  std::int64_t started = probe_started_.load(std::memory_order_acquire);
  const std::int64_t cooldown = cooldown_us_.load(std::memory_order_relaxed);
  if (started != 0 && now - started < cooldown) {
    retry_after_us = started + cooldown - now;
    return false;
  }
  if (probe_started_.compare_exchange_strong(started, now, std::memory_order_acq_rel)) return true;
  retry_after_us = cooldown;
  return false;
}

void circuit_breaker::record_success() {
  consecutive_failures_.store(0, std::memory_order_relaxed);
  open_until_.store(0, std::memory_order_release);
  probe_started_.store(0, std::memory_order_release);
}

void circuit_breaker::record_failure(std::int64_t now) {
  const int threshold = threshold_.load(std::memory_order_relaxed);
  if (threshold <= 0) return;
  const int failures = consecutive_failures_.fetch_add(1, std::memory_order_acq_rel) + 1;
  const bool probing = open_until_.load(std::memory_order_acquire) != 0;
  if (probing || failures >= threshold) {
    open_until_.store(now + cooldown_us_.load(std::memory_order_relaxed),
                      std::memory_order_release);
    probe_started_.store(0, std::memory_order_release);
  }
}

bool circuit_breaker::is_open(std::int64_t now) const {
  const std::int64_t open_until = open_until_.load(std::memory_order_acquire);
  return open_until != 0 && now < open_until;
}

}  // namespace sluice::net
