#include "limit/lease_table.hpp"

#include <algorithm>

namespace sluice::limit {

bool same_params(const limit_params& a, const limit_params& b) {
  return a.algo == b.algo && a.count == b.count && a.period == b.period && a.burst == b.burst &&
         a.max_delay == b.max_delay && a.interval_num == b.interval_num &&
         a.interval_den == b.interval_den;
}

lease_table::lease_table(std::size_t max_entries)
    : per_shard_(std::max<std::size_t>(1, (max_entries + shard_count - 1) / shard_count)) {}

void lease_table::give_back(entry& e, std::vector<returned_lease>& out) {
  if (e.tokens > 0) {
    out.push_back({e.redis_key, e.limit_name, e.slot, e.params, e.tokens, e.charged_at});
  }
  e.tokens = 0;
}

bool lease_table::take(std::span<const lease_probe> probes, micros now, std::span<decision> out,
                       micros& redis_now) {
  if (probes.empty() || probes.size() > 16) return false;
  // The shards of the request, each locked once, in ascending order.
  std::array<std::size_t, 16> order{};
  std::size_t n = 0;
  for (const auto& p : probes) order[n++] = shard_of(p.id);
  std::sort(order.begin(), order.begin() + n);
  n = static_cast<std::size_t>(std::unique(order.begin(), order.begin() + n) - order.begin());
  std::array<std::unique_lock<std::mutex>, 16> locks;
  for (std::size_t i = 0; i < n; ++i) locks[i] = std::unique_lock(shards_[order[i]].mutex);

  std::array<entry*, 16> found{};
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const lease_probe& p = probes[i];
    auto& entries = shards_[shard_of(p.id)].entries;
    auto it = entries.find(p.id);
    if (it == entries.end()) return false;
    entry& e = it->second;
    if (now >= e.expiry || e.tokens <= 0 || p.params == nullptr ||
        !same_params(e.params, *p.params)) {
      return false;
    }
    // A key twice in one request (two limits cannot share an id; be safe) needs both costs.
    std::int64_t need = p.cost;
    for (std::size_t j = 0; j < i; ++j) {
      if (probes[j].id == p.id) need += probes[j].cost;
    }
    if (e.tokens < need) return false;
    found[i] = &e;
  }
  micros estimated = 0;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    entry& e = *found[i];
    e.tokens -= probes[i].cost;
    const micros elapsed = std::max<micros>(0, now - e.sent);
    decision d;
    d.allowed = true;
    d.limit = e.state.limit;
    d.remaining = std::max<std::int64_t>(0, e.state.remaining) + e.tokens;
    d.reset = std::max<micros>(0, e.state.reset - elapsed);
    out[i] = d;
    estimated = std::max(estimated, e.redis_now + elapsed);
  }
  redis_now = estimated;
  return true;
}

bool lease_table::make_room(shard& s, micros now, std::vector<returned_lease>& returned) {
  if (s.entries.size() < per_shard_) return true;
  // Expired and not waiting for a top-up first; else the one expiring first.
  auto victim = s.entries.end();
  for (auto it = s.entries.begin(); it != s.entries.end(); ++it) {
    const entry& e = it->second;
    if (now >= e.expiry && (e.asked_at < 0 || now - e.asked_at >= e.max_age)) {
      victim = it;
      break;
    }
    if (victim == s.entries.end() || e.expiry < victim->second.expiry) victim = it;
  }
  if (victim == s.entries.end()) return false;
  give_back(victim->second, returned);
  s.entries.erase(victim);
  return true;
}

std::int64_t lease_table::want_topup(const lease_probe& probe, std::int64_t max_tokens,
                                     micros max_age, micros now,
                                     std::vector<returned_lease>& returned) {
  if (max_tokens <= 0 || probe.params == nullptr) return 0;
  shard& s = shards_[shard_of(probe.id)];
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(probe.id);
  if (it == s.entries.end()) {
    if (!make_room(s, now, returned)) return 0;
    entry e;
    e.params = *probe.params;
    e.max_age = max_age;
    it = s.entries.emplace(probe.id, std::move(e)).first;
  }
  entry& e = it->second;
  if (e.asked_at >= 0 && now - e.asked_at < e.max_age) return 0;  // one in flight
  std::int64_t held = 0;
  if (now < e.expiry && same_params(e.params, *probe.params)) held = e.tokens;
  const std::int64_t want = max_tokens - held;
  if (want <= 0) return 0;
  e.asked_at = now;
  e.max_age = max_age;
  return want;
}

void lease_table::store(const lease_probe& probe, const lease_grant* grant,
                        std::vector<returned_lease>& returned) {
  shard& s = shards_[shard_of(probe.id)];
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(probe.id);
  if (it == s.entries.end()) {
    if (grant == nullptr) return;
    // Evicted while the top-up was in flight: room again, or the grant goes back.
    if (!make_room(s, grant->sent, returned)) {
      returned.push_back({grant->redis_key, grant->limit_name, grant->slot, *probe.params,
                          grant->tokens, grant->redis_now});
      return;
    }
    it = s.entries.emplace(probe.id, entry{}).first;
  }
  entry& e = it->second;
  e.asked_at = -1;
  if (grant == nullptr || grant->tokens <= 0) return;
  give_back(e, returned);
  e.params = *probe.params;
  e.redis_key = grant->redis_key;
  e.limit_name = grant->limit_name;
  e.slot = grant->slot;
  e.tokens = grant->tokens;
  e.max_age = grant->max_age;
  e.charged_at = grant->redis_now;
  e.state = grant->state;
  e.redis_now = grant->redis_now;
  e.sent = grant->sent;
  micros life = grant->max_age;
  // A window's units are worth nothing past its end, and a refund after it gives back
  // nothing: the lease ends with the window (reset counts from Redis's clock, which
  // read later than `sent`, so this end is never after the real one).
  if (probe.params->algo == algorithm::fixed_window) life = std::min(life, grant->state.reset);
  e.expiry = grant->sent + std::max<micros>(0, life);
}

void lease_table::expire(micros now, std::vector<returned_lease>& out) {
  for (shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto it = s.entries.begin(); it != s.entries.end();) {
      entry& e = it->second;
      if (now < e.expiry) {
        ++it;
        continue;
      }
      give_back(e, out);
      if (e.asked_at >= 0 && now - e.asked_at < e.max_age) {
        ++it;  // a top-up is in flight: store() needs the entry
      } else {
        it = s.entries.erase(it);
      }
    }
  }
}

void lease_table::forget(std::uint64_t id) {
  shard& s = shards_[shard_of(id)];
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(id);
  if (it == s.entries.end()) return;
  // Kept as an empty entry when a top-up is in flight (store() clears its mark).
  it->second.tokens = 0;
  it->second.expiry = 0;
}

void lease_table::drain(std::vector<returned_lease>& out) {
  for (shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto& [id, e] : s.entries) {
      give_back(e, out);
      e.expiry = 0;
    }
  }
}

std::size_t lease_table::size() const {
  std::size_t n = 0;
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.entries.size();
  }
  return n;
}

void lease_table::tokens_by_limit(micros now,
                                  std::unordered_map<std::string, std::int64_t>& out) const {
  for (const shard& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& [id, e] : s.entries) {
      if (now < e.expiry && e.tokens > 0) out[e.limit_name] += e.tokens;
    }
  }
}

}  // namespace sluice::limit
