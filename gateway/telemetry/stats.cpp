#include "telemetry/stats.hpp"

#include <algorithm>

namespace sluice::admin {
namespace {

std::vector<stats::ranked> ranked_from(const std::map<std::string, std::uint64_t, std::less<>>& m,
                                       std::size_t n) {
  std::vector<stats::ranked> out;
  out.reserve(m.size());
  for (const auto& [name, count] : m) out.push_back({name, count});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.count != b.count ? a.count > b.count : a.name < b.name;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

}  // namespace

void stats::record(result r, std::int64_t now_s) {
  slot& s = ring_[static_cast<std::size_t>(now_s) % ring_.size()];
  if (s.time.load(std::memory_order_acquire) != now_s) {
    // The slot still holds a second from a minute ago: zero it once, under the
    // lock, and publish the new second last so no increment lands before the reset.
    std::lock_guard lock(denials_mutex_);
    if (s.time.load(std::memory_order_relaxed) != now_s) {
      s.allowed.store(0, std::memory_order_relaxed);
      s.limited.store(0, std::memory_order_relaxed);
      s.forbidden.store(0, std::memory_order_relaxed);
      s.time.store(now_s, std::memory_order_release);
    }
  }
  switch (r) {
    case result::allowed:
      s.allowed.fetch_add(1, std::memory_order_relaxed);
      total_allowed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case result::limited:
      s.limited.fetch_add(1, std::memory_order_relaxed);
      total_limited_.fetch_add(1, std::memory_order_relaxed);
      break;
    case result::forbidden:
      s.forbidden.fetch_add(1, std::memory_order_relaxed);
      total_forbidden_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

void stats::record_denial(std::string_view limit, std::string_view client) {
  std::lock_guard lock(denials_mutex_);
  if (auto it = limit_denials_.find(limit); it != limit_denials_.end()) {
    ++it->second;
  } else {
    limit_denials_.emplace(std::string(limit), 1);
  }
  if (client.empty()) return;
  if (auto it = client_denials_.find(client); it != client_denials_.end()) {
    ++it->second;
    return;
  }
  if (client_denials_.size() < top_clients_capacity) {
    client_denials_.emplace(std::string(client), 1);
    return;
  }
  // Space-Saving: the newcomer takes the place of the smallest counter and inherits
  // its count, so heavy hitters are never missed and the table stays bounded.
  auto smallest =
      std::min_element(client_denials_.begin(), client_denials_.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::uint64_t inherited = smallest->second;
  client_denials_.erase(smallest);
  client_denials_.emplace(std::string(client), inherited + 1);
}

std::vector<stats::second> stats::series(std::int64_t now_s) const {
  std::vector<second> out;
  out.reserve(window_seconds);
  for (std::int64_t t = now_s - static_cast<std::int64_t>(window_seconds) + 1; t <= now_s; ++t) {
    const slot& s = ring_[static_cast<std::size_t>(t) % ring_.size()];
    second v{t, 0, 0, 0};
    if (s.time.load(std::memory_order_acquire) == t) {
      v.allowed = s.allowed.load(std::memory_order_relaxed);
      v.limited = s.limited.load(std::memory_order_relaxed);
      v.forbidden = s.forbidden.load(std::memory_order_relaxed);
    }
    out.push_back(v);
  }
  return out;
}

std::vector<stats::ranked> stats::top_limits(std::size_t n) const {
  std::lock_guard lock(denials_mutex_);
  return ranked_from(limit_denials_, n);
}

std::vector<stats::ranked> stats::top_clients(std::size_t n) const {
  std::lock_guard lock(denials_mutex_);
  return ranked_from(client_denials_, n);
}

stats::totals stats::total() const {
  return {total_allowed_.load(std::memory_order_relaxed),
          total_limited_.load(std::memory_order_relaxed),
          total_forbidden_.load(std::memory_order_relaxed)};
}

}  // namespace sluice::admin
