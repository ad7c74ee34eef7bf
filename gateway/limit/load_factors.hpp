// Load-aware limits (issue 15, `adaptive:` on a limit): each adaptive limit has a factor
// in [min_factor, max_factor] that scales its rate and burst (limit/scaling.hpp), moved
// by the health of the upstream traffic of the requests that limit admitted.
//
// Measured per limit, per tick (the gateway ticks every 250 ms from its control thread):
//   upstream_latency   p90 of the upstream's time to answer (the response head), from a
//                      histogram of 25%-wide buckets, over the last two ticks;
//   upstream_errors    the share of 5xx answers, timeouts and connect failures, likewise;
//   upstream_inflight  the most requests waiting for the upstream's answer at once.
// The controller is AIMD, as TCP's congestion control and Netflix's AIMDLimit:
// past target, factor *= 0.7 (down to min_factor); at or under target, or without
// evidence (fewer than 10 answers in the window), factor += 0.05 (up to max_factor).
// Multiplicative decrease halves overload within two ticks; additive increase probes
// back slowly, so a recovering upstream is not flooded at once
// (tests/limit/load_factors_test.cpp, Simulation.*, shows the numbers).
//
// The factor of a limit is found by its name, so it survives a reload that keeps the
// name. With several gateways each also learns the others' factors (store/shared_load_factors)
// and applies the lowest fresh one.
//
// Thread-safe: the request path only touches atomics of a fixed table (no lock, no
// allocation); tick() and the fleet's updates run on the control thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/defaults.hpp"
#include "limit/engine.hpp"
#include "limit/scaling.hpp"

namespace sluice::limit {

class load_factors final : public scaling_source {
 public:
  static constexpr std::size_t latency_buckets = 48;  // 1 ms .. ~45 s, 25% apart
  static constexpr std::int64_t min_evidence = 10;    // answers a window needs to judge
  static constexpr double decrease = 0.7;
  static constexpr double increase = 0.05;

  // What one tick concluded for one limit (for the log, the gauge and /admin/stats).
  struct reading {
    std::string limit;
    double factor = 1.0;     // this gateway's own
    double effective = 1.0;  // applied: the lowest of its own and the fleet's fresh ones
    double signal = 0;       // latency: seconds; errors: share; inflight: count; -1 = no evidence
    bool logged_change = false;  // moved more than 10% since the last logged value
  };

  // The factor of a limit with `adaptive:` (1.0 for other limits, or past the table).
  double factor(const scaling_query& q) const override;

  // The request path. started() when a request goes to the upstream: counts it in
  // flight for its adaptive limits that have their slot (a limit gets one at the first
  // tick after it appears) and returns which of ev.applied it counted (bit i = applied
  // limit i); finished() when the upstream answered or failed, abandoned() when the
  // request ended without an answer to judge (the client left first): both take that
  // mask, so a request counts out exactly where it counted in. No-ops without
  // adaptive limits.
  std::uint64_t started(const evaluation& ev);
  void finished(const evaluation& ev, std::uint64_t counted, micros upstream_time, bool failed);
  void abandoned(const evaluation& ev, std::uint64_t counted);

  // The control thread, every tick: judge the window that just ended and move each
  // factor of the current policy's adaptive limits. Returns a reading per adaptive limit.
  std::vector<reading> tick(std::span<const compiled_limit> limits);

  // The lowest fresh factor other gateways published for `limit` (1.0 = none): the
  // effective factor is the lower of this and the gateway's own.
  void set_fleet_factor(std::string_view limit, double factor);
  // The factor applied to `limit` now (1.0 when it has none).
  double effective(std::string_view limit) const;

  // Latency quantile of a histogram (exposed for tests): the upper bound, in
  // microseconds, of the bucket holding the q-quantile; 0 when empty.
  static micros quantile(const std::array<std::int64_t, latency_buckets>& counts, double q);
  static std::size_t bucket_of(micros latency);

 private:
  struct slot {
    std::atomic<std::uint64_t> name_hash{0};  // 0 = free
    std::string name;                         // written once, before name_hash is published
    std::atomic<double> own{1.0};
    std::atomic<double> fleet{1.0};
    std::atomic<double> effective{1.0};
    std::atomic<std::int64_t> inflight{0};
    std::atomic<std::int64_t> peak_inflight{0};  // since the last tick
    std::atomic<std::int64_t> answers{0};
    std::atomic<std::int64_t> failures{0};
    std::array<std::atomic<std::int64_t>, latency_buckets> latency{};
    // The previous tick's window (control thread only).
    std::int64_t prev_answers = 0;
    std::int64_t prev_failures = 0;
    std::array<std::int64_t, latency_buckets> prev_latency{};
    double logged = 1.0;                // the factor last logged
    std::atomic<double> min_factor{0};  // the limit's, as of the last tick
  };

  slot* find(std::string_view name) const;
  slot* find_or_add(std::string_view name);  // control thread only
  std::array<slot, config::defaults::max_adaptive_limits> slots_;
};

// One request to the upstream, for the load-aware limits it applies to: in flight
// from construction until answered(), or until destruction when it never was (the
// client left, the session ended). `factors` may be null (nothing counted).
class upstream_flight {
 public:
  upstream_flight(load_factors* factors, const evaluation& ev) : factors_(factors), ev_(ev) {
    if (factors_ != nullptr) counted_ = factors_->started(ev_);
  }
  ~upstream_flight() {
    if (factors_ != nullptr) factors_->abandoned(ev_, counted_);
  }
  upstream_flight(const upstream_flight&) = delete;
  upstream_flight& operator=(const upstream_flight&) = delete;

  // The upstream answered (or failed: connect error, timeout, 5xx) after `took`.
  void answered(std::chrono::steady_clock::duration took, bool failed) {
    if (factors_ == nullptr) return;
    factors_->finished(ev_, counted_,
                       std::chrono::duration_cast<std::chrono::microseconds>(took).count(), failed);
    factors_ = nullptr;
  }

 private:
  load_factors* factors_;
  const evaluation& ev_;
  std::uint64_t counted_ = 0;
};

}  // namespace sluice::limit
