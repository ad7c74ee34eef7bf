#include "limit/load_factors.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace sluice::limit {
namespace {

std::uint64_t name_hash(std::string_view name) {
  const std::uint64_t h = std::hash<std::string_view>{}(name);
  return h == 0 ? 1 : h;  // 0 marks a free slot
}

// Bucket i holds latencies up to bound(i) = 1 ms * 1.25^i, worked out once.
const std::array<micros, load_factors::latency_buckets>& bucket_bounds() {
  static const auto bounds = [] {
    std::array<micros, load_factors::latency_buckets> b{};
    for (std::size_t i = 0; i < b.size(); ++i) {
      b[i] = static_cast<micros>(std::ceil(1000.0 * std::pow(1.25, static_cast<double>(i))));
    }
    return b;
  }();
  return bounds;
}

micros bucket_bound(std::size_t i) {
  return bucket_bounds()[i];
}

void raise_to(std::atomic<std::int64_t>& peak, std::int64_t value) {
  std::int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::size_t load_factors::bucket_of(micros latency) {
  const auto& b = bucket_bounds();
  return static_cast<std::size_t>(std::lower_bound(b.begin(), b.end() - 1, latency) - b.begin());
}

micros load_factors::quantile(const std::array<std::int64_t, latency_buckets>& counts, double q) {
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0;
  // The smallest bucket below which at least q of the answers fall.
  const auto rank = static_cast<std::int64_t>(std::ceil(q * static_cast<double>(total)));
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < latency_buckets; ++i) {
    seen += counts[i];
    if (seen >= rank) return bucket_bound(i);
  }
  return bucket_bound(latency_buckets - 1);
}

load_factors::slot* load_factors::find(std::string_view name) const {
  const std::uint64_t h = name_hash(name);
  for (const slot& s : slots_) {
    const std::uint64_t seen = s.name_hash.load(std::memory_order_acquire);
    if (seen == 0) return nullptr;  // slots fill in order and are never freed
    if (seen == h && s.name == name) return const_cast<slot*>(&s);
  }
  return nullptr;
}

load_factors::slot* load_factors::find_or_add(std::string_view name) {
  if (slot* s = find(name)) return s;
  for (slot& s : slots_) {
    if (s.name_hash.load(std::memory_order_relaxed) != 0) continue;
    s.name = std::string(name);
    s.name_hash.store(name_hash(name), std::memory_order_release);
    return &s;
  }
  return nullptr;  // more adaptive limits than the table holds: those stay at 1.0
}

double load_factors::factor(const scaling_query& q) const {
  if (q.limit == nullptr || !q.limit->adaptive) return 1.0;
  const slot* s = find(q.limit->name);
  return s == nullptr ? 1.0 : s->effective.load(std::memory_order_relaxed);
}

std::uint64_t load_factors::started(const evaluation& ev) {
  std::uint64_t counted = 0;
  for (std::size_t i = 0; i < ev.applied.size() && i < 64; ++i) {
    const compiled_limit& l = ev.limit_of(ev.applied[i]);
    if (!l.adaptive) continue;
    if (slot* s = find(l.name)) {
      raise_to(s->peak_inflight, s->inflight.fetch_add(1, std::memory_order_relaxed) + 1);
      counted |= std::uint64_t{1} << i;
    }
  }
  return counted;
}

void load_factors::finished(const evaluation& ev, std::uint64_t counted, micros upstream_time,
                            bool failed) {
  for (std::size_t i = 0; counted != 0 && i < 64; ++i) {
    if ((counted & (std::uint64_t{1} << i)) == 0) continue;
    counted &= ~(std::uint64_t{1} << i);
    slot* s = find(ev.limit_of(ev.applied[i]).name);
    s->inflight.fetch_sub(1, std::memory_order_relaxed);
    s->answers.fetch_add(1, std::memory_order_relaxed);
    if (failed) s->failures.fetch_add(1, std::memory_order_relaxed);
    s->latency[bucket_of(upstream_time)].fetch_add(1, std::memory_order_relaxed);
  }
}

void load_factors::abandoned(const evaluation& ev, std::uint64_t counted) {
  for (std::size_t i = 0; counted != 0 && i < 64; ++i) {
    if ((counted & (std::uint64_t{1} << i)) == 0) continue;
    counted &= ~(std::uint64_t{1} << i);
    find(ev.limit_of(ev.applied[i]).name)->inflight.fetch_sub(1, std::memory_order_relaxed);
  }
}

void load_factors::set_fleet_factor(std::string_view limit, double factor) {
  if (slot* s = find(limit)) {
    s->fleet.store(factor, std::memory_order_relaxed);
    s->effective.store(std::max(s->min_factor.load(std::memory_order_relaxed),
                                std::min(s->own.load(std::memory_order_relaxed), factor)),
                       std::memory_order_relaxed);
  }
}

double load_factors::effective(std::string_view limit) const {
  const slot* s = find(limit);
  return s == nullptr ? 1.0 : s->effective.load(std::memory_order_relaxed);
}

std::vector<load_factors::reading> load_factors::tick(std::span<const compiled_limit> limits) {
  std::vector<reading> out;
  for (const compiled_limit& l : limits) {
    if (!l.adaptive) continue;
    slot* s = find_or_add(l.name);
    if (s == nullptr) continue;
    const config::adaptive_def& a = *l.adaptive;
    s->min_factor.store(a.min_factor, std::memory_order_relaxed);

    // The window: this tick's counts plus the previous tick's.
    const std::int64_t answers = s->answers.exchange(0, std::memory_order_relaxed);
    const std::int64_t failures = s->failures.exchange(0, std::memory_order_relaxed);
    std::array<std::int64_t, latency_buckets> latency{};
    for (std::size_t i = 0; i < latency_buckets; ++i) {
      latency[i] = s->latency[i].exchange(0, std::memory_order_relaxed);
    }
    const std::int64_t peak = s->peak_inflight.exchange(s->inflight.load(std::memory_order_relaxed),
                                                        std::memory_order_relaxed);
    std::array<std::int64_t, latency_buckets> window = latency;
    for (std::size_t i = 0; i < latency_buckets; ++i) window[i] += s->prev_latency[i];
    const std::int64_t window_answers = answers + s->prev_answers;
    const std::int64_t window_failures = failures + s->prev_failures;
    s->prev_answers = answers;
    s->prev_failures = failures;
    s->prev_latency = latency;

    double signal = -1;  // no evidence
    switch (a.signal) {
      case config::adaptive_signal::upstream_latency:
        if (window_answers >= min_evidence) signal = static_cast<double>(quantile(window, 0.9));
        break;
      case config::adaptive_signal::upstream_errors:
        if (window_answers >= min_evidence) {
          signal = static_cast<double>(window_failures) / static_cast<double>(window_answers);
        }
        break;
      case config::adaptive_signal::upstream_inflight:
        signal = static_cast<double>(peak);
        break;
    }
    double own = s->own.load(std::memory_order_relaxed);
    own = signal > a.target ? std::max(a.min_factor, own * decrease)
                            : std::min(a.max_factor, own + increase);
    own = std::clamp(own, a.min_factor, a.max_factor);  // a reload may have moved the range
    s->own.store(own, std::memory_order_relaxed);
    const double effective =
        std::max(a.min_factor, std::min(own, s->fleet.load(std::memory_order_relaxed)));
    s->effective.store(effective, std::memory_order_relaxed);

    reading r;
    r.limit = l.name;
    r.factor = own;
    r.effective = effective;
    r.signal = a.signal == config::adaptive_signal::upstream_latency && signal >= 0 ? signal / 1e6
                                                                                    : signal;
    if (std::abs(effective - s->logged) > 0.1 * s->logged) {
      r.logged_change = true;
      s->logged = effective;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sluice::limit
