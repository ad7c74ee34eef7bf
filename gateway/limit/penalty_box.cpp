#include "limit/penalty_box.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <mutex>

#include "limit/engine.hpp"
#include "limit/policy.hpp"

namespace sluice::limit {

// ---- the counter -----------------------------------------------------------------------

void penalty_counter::add(bool was_rejected, micros now, micros window) {
  if (window <= 0) window = 1;
  const micros aligned = now - ((now % window) + window) % window;
  if (aligned > start) {
    const bool adjacent = aligned - start == window;
    prev_requests = adjacent ? requests : 0;
    prev_rejected = adjacent ? rejected : 0;
    requests = 0;
    rejected = 0;
    start = aligned;
  }
  if (requests < std::numeric_limits<std::uint32_t>::max()) ++requests;
  if (was_rejected && rejected < std::numeric_limits<std::uint32_t>::max()) ++rejected;
}

namespace {

// previous * (share of the previous bucket still inside the window ending at now) + current,
// as of `now`: buckets the window has left count nothing.
double estimate(const penalty_counter& c, std::uint32_t current, std::uint32_t previous, micros now,
                micros window) {
  if (window <= 0) window = 1;
  if (now >= c.start + 2 * window) return 0;
  if (now >= c.start + window) {
    // The current bucket is now the previous one.
    const double weight = 1.0 - static_cast<double>(now - c.start - window) / window;
    return current * weight;
  }
  const double elapsed = static_cast<double>(std::max<micros>(now - c.start, 0));
  return previous * (1.0 - elapsed / window) + current;
}

}  // namespace

double penalty_counter::estimated_requests(micros now, micros window) const {
  return estimate(*this, requests, prev_requests, now, window);
}
double penalty_counter::estimated_rejected(micros now, micros window) const {
  return estimate(*this, rejected, prev_rejected, now, window);
}

// ---- the table -------------------------------------------------------------------------

namespace {

constexpr unsigned ways = 8;
constexpr unsigned shard_count = 64;

struct entry {
  std::uint64_t hash = 0;  // 0: free
  micros last_seen = 0;
  penalty_counter counter;
  micros boxed_until = 0;  // a live penalty while > now
  double factor = 1.0;
  bool whole_key = true;
  bool shared = false;
  std::string limit;  // kept while boxed
  std::string key;

  bool boxed_at(micros now) const { return hash != 0 && boxed_until > now; }
};

struct shard {
  mutable std::mutex mutex;
  mutable std::vector<entry> slots;  // sets of `ways` slots (mutable: const readers tidy up)
};

std::uint64_t nonzero(std::uint64_t h) {
  return h == 0 ? 1 : h;
}

}  // namespace

struct penalty_box::impl {
  std::uint64_t capacity = 0;
  std::size_t sets_per_shard = 1;
  std::array<shard, shard_count> shards;
  std::mutex pending_mutex;
  std::vector<boxed> pending;
  std::uint64_t pending_dropped = 0;

  shard& shard_of(std::uint64_t h) { return shards[h % shard_count]; }
  const shard& shard_of(std::uint64_t h) const { return shards[h % shard_count]; }
  std::size_t set_of(std::uint64_t h) const { return (h / shard_count) % sets_per_shard * ways; }

  // The entry of `h` in its (locked) shard, or nullptr.
  entry* find(const shard& s, std::uint64_t h) const {
    const std::size_t base = set_of(h);
    for (unsigned i = 0; i < ways; ++i) {
      if (s.slots[base + i].hash == h) return &s.slots[base + i];
    }
    return nullptr;
  }

  // A slot for new key `h`: free, else the plain counter seen longest ago; for a
  // penalty (`boxing`) else the penalty that ends first. nullptr: not tracked.
  entry* claim(shard& s, std::uint64_t h, micros now, bool boxing) const {
    const std::size_t base = set_of(h);
    entry* plain = nullptr;
    entry* box = nullptr;
    for (unsigned i = 0; i < ways; ++i) {
      entry& e = s.slots[base + i];
      if (e.hash == 0) {
        plain = &e;
        break;
      }
      if (!e.boxed_at(now)) {
        if (plain == nullptr || e.last_seen < plain->last_seen) plain = &e;
      } else if (box == nullptr || e.boxed_until < box->boxed_until) {
        box = &e;
      }
    }
    entry* victim = plain != nullptr ? plain : boxing ? box : nullptr;
    if (victim != nullptr) {
      *victim = entry{};
      victim->hash = h;
      victim->last_seen = now;
    }
    return victim;
  }

  void box(entry& e, const compiled_limit& limit, std::string_view key, micros until) {
    e.boxed_until = until;
    e.factor = limit.penalty ? limit.penalty->factor : 1.0;
    e.limit = limit.name;
    e.whole_key = key.size() <= max_key_bytes;
    e.shared = false;
    e.key.assign(key.substr(0, max_key_bytes));
  }

  static boxed view(const entry& e) {
    return boxed{e.limit, e.key, e.hash, e.factor, e.boxed_until, e.whole_key, e.shared};
  }
};

penalty_box::penalty_box(std::uint64_t capacity) : impl_(std::make_unique<impl>()) {
  const std::uint64_t sets = std::max<std::uint64_t>(1, capacity / (ways * shard_count));
  impl_->sets_per_shard = static_cast<std::size_t>(sets);
  impl_->capacity = sets * ways * shard_count;
  for (auto& s : impl_->shards) s.slots.resize(impl_->sets_per_shard * ways);
}

penalty_box::~penalty_box() = default;

std::uint64_t penalty_box::capacity() const {
  return impl_->capacity;
}

double penalty_box::factor(const scaling_query& q) const {
  if (q.limit == nullptr || !q.limit->penalty) return 1.0;
  const std::uint64_t h = nonzero(q.key_hash);
  const shard& s = impl_->shard_of(h);
  std::lock_guard lock(s.mutex);
  const entry* e = impl_->find(s, h);
  return e != nullptr && e->boxed_at(q.now) ? e->factor : 1.0;
}

bool penalty_box::observe(const compiled_limit& limit, std::uint64_t key_hash, std::string_view key,
                          bool rejected, micros now) {
  if (!limit.penalty) return false;
  const config::penalty_def& p = *limit.penalty;
  const std::uint64_t h = nonzero(key_hash);
  shard& s = impl_->shard_of(h);
  boxed fresh;
  {
    std::lock_guard lock(s.mutex);
    entry* e = impl_->find(s, h);
    if (e == nullptr) e = impl_->claim(s, h, now, false);
    if (e == nullptr) return false;  // a set full of live penalties: not tracked
    e->last_seen = std::max(e->last_seen, now);
    e->counter.add(rejected, now, p.window);
    if (!rejected || e->boxed_at(now)) return false;
    const double requests = e->counter.estimated_requests(now, p.window);
    const double denied = e->counter.estimated_rejected(now, p.window);
    if (requests < static_cast<double>(p.min_requests) || denied < p.rejected_share * requests) {
      return false;
    }
    impl_->box(*e, limit, key, now + p.duration);
    fresh = impl::view(*e);
  }
  std::lock_guard lock(impl_->pending_mutex);
  if (impl_->pending.size() < max_pending) {
    impl_->pending.push_back(std::move(fresh));
  } else {
    ++impl_->pending_dropped;
  }
  return true;
}

void penalty_box::record(const evaluation& ev, const std::function<void(int)>& on_boxed) {
  if (ev.result != outcome::allowed && ev.result != outcome::limited) return;
  const std::size_t n = std::min(ev.applied.size(), ev.checks.size());
  for (std::size_t i = 0; i < n; ++i) {
    const applied_limit& a = ev.applied[i];
    const compiled_limit& limit = ev.limit_of(a);
    if (!limit.penalty) continue;
    if (observe(limit, ev.checks[i].key_hash, ev.key_of(a), !a.result.allowed, ev.now) &&
        on_boxed) {
      on_boxed(a.limit);
    }
  }
}

bool penalty_box::learn(const compiled_limit& limit, std::uint64_t key_hash, std::string_view key,
                        micros expires_at, micros now) {
  if (!limit.penalty || expires_at <= now) return false;
  // Never longer than this gateway's own duration for the limit.
  expires_at = std::min(expires_at, now + limit.penalty->duration);
  const std::uint64_t h = nonzero(key_hash);
  shard& s = impl_->shard_of(h);
  std::lock_guard lock(s.mutex);
  entry* e = impl_->find(s, h);
  if (e == nullptr) e = impl_->claim(s, h, now, true);
  if (e == nullptr) return false;
  if (e->boxed_at(now) && e->boxed_until >= expires_at) {
    e->shared = true;  // the same penalty, in Redis too
    return true;
  }
  impl_->box(*e, limit, key, expires_at);
  e->shared = true;
  return true;
}

void penalty_box::mark_shared(std::uint64_t key_hash) {
  const std::uint64_t h = nonzero(key_hash);
  shard& s = impl_->shard_of(h);
  std::lock_guard lock(s.mutex);
  if (entry* e = impl_->find(s, h)) e->shared = true;
}

bool penalty_box::remove(std::uint64_t key_hash, micros now) {
  const std::uint64_t h = nonzero(key_hash);
  shard& s = impl_->shard_of(h);
  std::lock_guard lock(s.mutex);
  entry* e = impl_->find(s, h);
  if (e == nullptr || !e->boxed_at(now)) return false;
  const micros last_seen = e->last_seen;
  *e = entry{};
  e->hash = h;
  e->last_seen = last_seen;
  return true;
}

std::vector<penalty_box::boxed> penalty_box::list(micros now, std::size_t max) const {
  std::vector<boxed> out;
  for (const auto& s : impl_->shards) {
    std::lock_guard lock(s.mutex);
    for (const auto& e : s.slots) {
      if (e.boxed_at(now)) out.push_back(impl::view(e));
    }
  }
  const std::size_t keep = std::min(max, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                    [](const boxed& a, const boxed& b) {
                      if (a.expires_at != b.expires_at) return a.expires_at > b.expires_at;
                      return a.key_hash < b.key_hash;
                    });
  out.resize(keep);
  return out;
}

std::vector<std::pair<std::string, std::uint64_t>> penalty_box::counts(micros now) const {
  std::map<std::string, std::uint64_t, std::less<>> by_limit;
  for (const auto& s : impl_->shards) {
    std::lock_guard lock(s.mutex);
    for (auto& e : s.slots) {
      if (e.boxed_at(now)) {
        ++by_limit[e.limit];
      } else if (!e.key.empty()) {
        std::string().swap(e.key);  // an ended penalty's text is not needed any more
        std::string().swap(e.limit);
      }
    }
  }
  return {by_limit.begin(), by_limit.end()};
}

std::vector<penalty_box::boxed> penalty_box::take_new(std::uint64_t& dropped) {
  std::lock_guard lock(impl_->pending_mutex);
  std::vector<boxed> out;
  out.swap(impl_->pending);
  dropped = impl_->pending_dropped;
  impl_->pending_dropped = 0;
  return out;
}

}  // namespace sluice::limit
