#include "limit/denial_cache.hpp"

#include <algorithm>
#include <limits>
#include <mutex>
#include <vector>

#include "limit/algorithms/bucket.hpp"
#include "limit/algorithms/fixed_window.hpp"
#include "limit/algorithms/sliding_log.hpp"
#include "limit/algorithms/sliding_window.hpp"
#include "util/hash.hpp"

namespace sluice::limit {
namespace {

using form = knowledge::form;

constexpr unsigned ways = 8;
constexpr unsigned max_shards = 64;
constexpr std::size_t max_probes = 16;  // limits of one request the cache decides

// ---- buckets: the debt at `at`, in 1/interval_den microseconds ----

bucket::state bucket_state(micros at, std::int64_t debt, const limit_params& p) {
  return bucket::state{at + debt / p.interval_den, debt % p.interval_den};
}

decision bucket_eval(const limit_params& p, micros at, std::int64_t debt, micros now,
                     std::int64_t cost) {
  return bucket::evaluate(p, bucket_state(at, debt, p), now, cost).verdict;
}

// Each field of a bucket decision is monotone in the debt within a branch (allowed,
// possibly held / denied), and the branch is too: these say whether `f` lies at or
// after (before) `d` in that order.
int branch(const decision& d) {
  return d.allowed ? 0 : 1;
}
bool at_or_after(const decision& f, const decision& d) {
  if (branch(f) != branch(d)) return branch(f) > branch(d);
  return f.remaining <= d.remaining && f.reset >= d.reset && f.retry_after >= d.retry_after &&
         f.delay >= d.delay;
}
bool at_or_before(const decision& f, const decision& d) {
  if (branch(f) != branch(d)) return branch(f) < branch(d);
  return f.remaining >= d.remaining && f.reset <= d.reset && f.retry_after <= d.retry_after &&
         f.delay <= d.delay;
}

// The debt `elapsed` microseconds later, without traffic.
std::int64_t drained(std::int64_t debt, micros elapsed, const limit_params& p) {
  if (elapsed <= 0) return debt;
  if (elapsed > debt / p.interval_den) return 0;  // elapsed * den > debt (no overflow)
  return debt - elapsed * p.interval_den;
}

knowledge learn_bucket(const limit_params& p, std::int64_t cost, const decision& d, bool charged,
                       micros at) {
  const std::int64_t den = p.interval_den;
  const std::int64_t per_cost = cost * p.interval_num;
  // reset = ceil(x / den), x the debt (denied) or the debt after this request (allowed).
  const std::int64_t shift = d.allowed ? per_cost : 0;
  std::int64_t lo = 0, hi = 0;
  if (d.reset > 0) {
    lo = std::max<std::int64_t>((d.reset - 1) * den + 1 - shift, 0);
    hi = d.reset * den - shift;
  } else if (shift > 0) {
    return {};  // an allowed request always leaves debt
  }
  if (hi < lo) return {};
  // lo: the first debt at or after d; hi: the last at or before d (binary searches).
  std::int64_t a = lo, b = hi + 1;
  while (a < b) {
    const std::int64_t m = a + (b - a) / 2;
    if (at_or_after(bucket_eval(p, at, m, at, cost), d)) {
      b = m;
    } else {
      a = m + 1;
    }
  }
  const std::int64_t first = a;
  a = lo;
  b = hi + 1;
  while (a < b) {
    const std::int64_t m = a + (b - a) / 2;
    if (at_or_before(bucket_eval(p, at, m, at, cost), d)) {
      a = m + 1;
    } else {
      b = m;
    }
  }
  const std::int64_t last = a - 1;
  if (first > last || first > hi || !(bucket_eval(p, at, first, at, cost) == d) ||
      !(bucket_eval(p, at, last, at, cost) == d)) {
    return {};
  }
  knowledge k;
  k.kind = form::bucket;
  k.at = at;
  k.v[0] = first + (charged ? per_cost : 0);
  k.v[1] = last + (charged ? per_cost : 0);
  return k;
}

knowledge learn_fixed_window(const limit_params& p, std::int64_t cost, const decision& d,
                             bool charged, micros at) {
  // reset is the window's end - now; remaining the units left (before this request if
  // denied, after it if allowed; a denied 0 means "N or more used": all alike).
  const micros start = at + d.reset - p.period;
  const std::int64_t used = p.count - d.remaining - (d.allowed ? cost : 0);
  if (used < 0) return {};
  const fixed_window::state s{start, used};
  const fixed_window::result r = fixed_window::evaluate(p, s, at, cost);
  if (!(r.verdict == d)) return {};
  const fixed_window::state after = charged ? r.next : s;
  knowledge k;
  k.kind = form::fixed_window;
  k.at = at;
  k.v[0] = after.window_start;
  k.v[1] = after.count;
  return k;
}

// Denied for `cost` with remaining == cost - 1: pinned until retry_after has passed.
knowledge pinned(std::int64_t cost, const decision& d, micros at) {
  if (d.allowed || d.cost_exceeds_limit || d.remaining != cost - 1 || d.retry_after <= 0) {
    return {};
  }
  knowledge k;
  k.kind = form::pinned;
  k.at = at;
  k.v[0] = cost;
  k.v[1] = d.remaining;
  k.v[2] = d.reset;
  k.v[3] = d.retry_after;
  return k;
}

knowledge learn_sliding_window(const limit_params& p, std::int64_t cost, const decision& d,
                               bool charged, micros at) {
  if (knowledge k = pinned(cost, d, at); k.kind != form::none) return k;
  // Nothing counted before this request: remaining is then N - cost (allowed), or N
  // with nothing to wait for (a cost above N). Anything counted shows in one of them.
  const bool empty_before = (d.allowed && d.remaining == p.count - cost) ||
                            (d.cost_exceeds_limit && d.reset == 0 && d.remaining == p.count);
  if (!empty_before) return {};
  const sliding_window::result r = sliding_window::evaluate(p, {}, at, cost);
  if (!(r.verdict == d)) return {};
  sliding_window::state after{};
  if (charged) {
    after = r.next;
    // The window Redis counted in (reset = its start + 2P - now): another one only if
    // its clock stepped back past a window it had stored.
    if (after.window_start != at + d.reset - 2 * p.period) return {};
  }
  knowledge k;
  k.kind = form::sliding_window;
  k.at = at;
  k.v[0] = after.window_start;
  k.v[1] = after.current;
  k.v[2] = after.previous;
  return k;
}

const sliding_log::log& empty_log() {
  static const sliding_log::log empty(1);
  return empty;
}

knowledge learn_sliding_log(const limit_params& p, std::int64_t cost, const decision& d,
                            bool charged, micros at) {
  if (knowledge k = pinned(cost, d, at); k.kind != form::none) return k;
  const bool empty_before = (d.allowed && d.remaining == p.count - cost) ||
                            (d.cost_exceeds_limit && d.remaining == p.count);
  if (!empty_before) return {};
  if (!(sliding_log::evaluate(p, empty_log(), at, cost).verdict == d)) return {};
  knowledge k;
  k.kind = form::sliding_log;
  k.at = at;
  // Entries older than the window are dropped by the commit (it keeps only those
  // inside the window ending at the newest, which is `at`).
  if (charged) {
    k.v[0] = cost;
    k.v[1] = at;
    k.v[2] = at;
  }
  return k;
}

// sliding_log::evaluate on a log known as `count` entries inside the window, the
// oldest at `oldest`, the newest at `newest` (the others anywhere between), with
// nothing else inside the window at k.at or later. Known only while the oldest is
// still inside the window, and for a denial only when the entry that must leave first
// is the oldest (or all share one time).
std::optional<decision> project_log(std::int64_t count, micros oldest, micros newest,
                                    const limit_params& p, micros now, std::int64_t cost) {
  if (count > 0 && oldest <= now - p.period) return std::nullopt;
  decision d;
  d.limit = p.count;
  d.reset = count > 0 ? newest + p.period - now : 0;
  if (cost > p.count) {
    d.cost_exceeds_limit = true;
    d.remaining = std::max<std::int64_t>(p.count - count, 0);
    d.retry_after = p.period;
    return d;
  }
  if (count + cost > p.count) {
    const std::int64_t blocking = count + cost - p.count - 1;  // its index, oldest first
    if (blocking != 0 && oldest != newest) return std::nullopt;
    d.remaining = std::max<std::int64_t>(p.count - count, 0);
    d.retry_after = (blocking == 0 ? oldest : newest) + p.period - now;
    return d;
  }
  d.allowed = true;
  d.remaining = std::max<std::int64_t>(p.count - count - cost, 0);
  d.reset = std::max(now, newest) + p.period - now;
  return d;
}

// What `k` (consistent with an answer at `now` for `cost`) says after that answer charged
// `cost`; kind none when it cannot say.
knowledge advance(const knowledge& k, const limit_params& p, micros now, std::int64_t cost) {
  knowledge out;
  out.at = now;
  switch (k.kind) {
    case form::bucket: {
      const std::int64_t per_cost = cost * p.interval_num;
      out.kind = form::bucket;
      out.v[0] = drained(k.v[0], now - k.at, p) + per_cost;
      out.v[1] = drained(k.v[1], now - k.at, p) + per_cost;
      return out;
    }
    case form::fixed_window: {
      const auto r = fixed_window::evaluate(p, {k.v[0], k.v[1]}, now, cost);
      out.kind = form::fixed_window;
      out.v[0] = r.next.window_start;
      out.v[1] = r.next.count;
      return out;
    }
    case form::sliding_window: {
      const sliding_window::state s{k.v[0], static_cast<std::int32_t>(k.v[1]),
                                    static_cast<std::int32_t>(k.v[2])};
      const auto r = sliding_window::evaluate(p, s, now, cost);
      out.kind = form::sliding_window;
      out.v[0] = r.next.window_start;
      out.v[1] = r.next.current;
      out.v[2] = r.next.previous;
      return out;
    }
    case form::sliding_log: {
      // The commit stamps max(now, newest) and keeps what is inside the window ending
      // there: all of the log, or (all being older) only the new entries.
      const std::int64_t count = k.v[0];
      const micros stamp = std::max(now, k.v[2]);
      if (count == 0 || k.v[2] <= stamp - p.period) {
        out.v[0] = cost;
        out.v[1] = stamp;
      } else if (k.v[1] > stamp - p.period) {
        out.v[0] = count + cost;
        out.v[1] = k.v[1];
      } else {
        return {};
      }
      out.v[2] = stamp;
      out.kind = form::sliding_log;
      return out;
    }
    case form::pinned:
    case form::none:
      return {};
  }
  return {};
}

// `k` moved to `now` without a charge: buckets as a range at `now` (so it can be
// intersected with a range learnt there); other forms stay as they are.
knowledge carry(const knowledge& k, const limit_params& p, micros now) {
  if (k.kind != form::bucket) return k;
  knowledge out = k;
  out.at = now;
  out.v[0] = drained(k.v[0], now - k.at, p);
  out.v[1] = drained(k.v[1], now - k.at, p);
  return out;
}

// The better of what was known (carried to the answer) and what the answer alone says.
knowledge choose(const knowledge& carried, const knowledge& learned) {
  if (carried.kind == form::none) return learned;
  if (learned.kind == form::none) return carried;
  if (carried.kind == form::bucket && learned.kind == form::bucket) {
    knowledge both = learned;
    both.v[0] = std::max(carried.v[0], learned.v[0]);
    both.v[1] = std::min(carried.v[1], learned.v[1]);
    return both.v[0] <= both.v[1] ? both : learned;
  }
  // A state beats a pinned denial (it serves every cost, and after retry_after).
  if (carried.kind != form::pinned) return carried;
  return learned;
}

// Local time after which `k` only knows "fresh": evicted first.
micros useful_until(const knowledge& k, const limit_params& p) {
  switch (k.kind) {
    case form::bucket:
      return k.sent + (k.v[1] + p.interval_den - 1) / p.interval_den;
    case form::fixed_window:
      return k.sent + (k.v[0] + p.period - k.at);
    case form::sliding_window:
      return k.v[1] > 0 || k.v[2] > 0 ? k.sent + (k.v[0] + 2 * p.period - k.at) : k.sent;
    case form::sliding_log:
      return k.v[0] > 0 ? k.sent + (k.v[2] + p.period - k.at) : k.sent;
    case form::pinned:
      return k.sent + k.v[3];
    case form::none:
      return k.sent;
  }
  return k.sent;
}

// What an entry's knowledge depends on: the parameters it was learnt under.
std::uint64_t definition_of(const limit_params& p) {
  std::uint64_t h = hash_combine(static_cast<std::uint64_t>(p.algo), p.count);
  h = hash_combine(h, static_cast<std::uint64_t>(p.period));
  h = hash_combine(h, static_cast<std::uint64_t>(p.burst));
  return hash_combine(h, static_cast<std::uint64_t>(p.max_delay));
}

}  // namespace

knowledge learn(const limit_params& p, std::int64_t cost, const decision& d, bool charged,
                micros at) {
  if (cost <= 0) return {};
  switch (p.algo) {
    case algorithm::token_bucket:
    case algorithm::leaky_bucket:
      return learn_bucket(p, cost, d, charged, at);
    case algorithm::fixed_window:
      return learn_fixed_window(p, cost, d, charged, at);
    case algorithm::sliding_window:
      return learn_sliding_window(p, cost, d, charged, at);
    case algorithm::sliding_log:
      return learn_sliding_log(p, cost, d, charged, at);
    case algorithm::concurrency:
      // Slots free when responses end, which no clock predicts: nothing to learn, and a
      // request is never denied locally for a full concurrency limit.
      return {};
  }
  return {};
}

std::optional<decision> project(const knowledge& k, const limit_params& p, micros now,
                                std::int64_t cost) {
  if (now < k.at || cost <= 0) return std::nullopt;
  switch (k.kind) {
    case form::bucket: {
      const decision lo = bucket_eval(p, k.at, k.v[0], now, cost);
      if (k.v[1] != k.v[0] && !(bucket_eval(p, k.at, k.v[1], now, cost) == lo)) {
        return std::nullopt;
      }
      return lo;
    }
    case form::fixed_window:
      return fixed_window::evaluate(p, {k.v[0], k.v[1]}, now, cost).verdict;
    case form::sliding_window: {
      const sliding_window::state s{k.v[0], static_cast<std::int32_t>(k.v[1]),
                                    static_cast<std::int32_t>(k.v[2])};
      return sliding_window::evaluate(p, s, now, cost).verdict;
    }
    case form::sliding_log:
      return project_log(k.v[0], k.v[1], k.v[2], p, now, cost);
    case form::pinned: {
      const micros elapsed = now - k.at;
      if (cost != k.v[0] || elapsed >= k.v[3]) return std::nullopt;
      decision d;
      d.limit = p.capacity();
      d.remaining = k.v[1];
      d.reset = k.v[2] - elapsed;
      d.retry_after = k.v[3] - elapsed;
      return d;
    }
    case form::none:
      return std::nullopt;
  }
  return std::nullopt;
}

std::uint64_t cache_key_id(std::uint64_t limit_hash, std::string_view key_text) {
  const std::uint64_t id = hash64(key_text, limit_hash);
  return id == 0 ? 1 : id;  // 0 marks an empty slot
}

// ---- the table ----

namespace {

struct slot {
  std::uint64_t id;  // 0 = empty
  std::uint64_t definition;
  micros useful_until;
  knowledge k;
};

struct set_block {
  slot slots[ways];
  // The latest Redis time of a charge answered for any key of this set: an older
  // answer about a key the set does not hold may predate that charge.
  micros charged_at;
};

struct alignas(64) shard {
  std::mutex mutex;
  std::vector<set_block> sets;
};

}  // namespace

struct denial_cache::impl {
  std::int64_t drift_ppm = 0;
  std::uint64_t capacity = 0;
  unsigned shard_mask = 0;
  std::unique_ptr<shard[]> shards;
  std::atomic<std::uint64_t> count{0};
  std::atomic<micros> epoch{std::numeric_limits<micros>::min()};

  shard& shard_of(std::uint64_t id) const { return shards[(id >> 32) & shard_mask]; }
  static set_block& set_of(shard& sh, std::uint64_t id) {
    const auto index = ((id & 0xffffffffu) * sh.sets.size()) >> 32;
    return sh.sets[index];
  }
  static int find(const set_block& s, std::uint64_t id) {
    for (unsigned i = 0; i < ways; ++i) {
      if (s.slots[i].id == id) return static_cast<int>(i);
    }
    return -1;
  }
  void erase(set_block& s, int i) {
    s.slots[i] = slot{};
    count.fetch_sub(1, std::memory_order_relaxed);
  }
  // An empty slot, else the one whose knowledge turns fresh soonest.
  int room(set_block& s) {
    int victim = 0;
    for (unsigned i = 0; i < ways; ++i) {
      if (s.slots[i].id == 0) {
        count.fetch_add(1, std::memory_order_relaxed);
        return static_cast<int>(i);
      }
      if (s.slots[i].useful_until < s.slots[victim].useful_until) victim = static_cast<int>(i);
    }
    return victim;
  }
  micros stretch(micros elapsed) const {
    if (elapsed <= 0) return 0;
    return elapsed + (elapsed * drift_ppm + 999'999) / 1'000'000;
  }
};

denial_cache::denial_cache(std::uint64_t max_entries, std::int64_t drift_ppm)
    : impl_(std::make_unique<impl>()) {
  max_entries = std::max<std::uint64_t>(max_entries, 1);
  const std::uint64_t sets = (max_entries + ways - 1) / ways;
  unsigned shards = 1;
  while (shards < max_shards && sets / (shards * 2) >= 16) shards *= 2;
  impl_->drift_ppm = drift_ppm;
  impl_->shard_mask = shards - 1;
  impl_->shards = std::make_unique<shard[]>(shards);
  const std::uint64_t per_shard = (sets + shards - 1) / shards;
  for (unsigned i = 0; i < shards; ++i) impl_->shards[i].sets.assign(per_shard, set_block{});
  impl_->capacity = per_shard * shards * ways;
}

denial_cache::~denial_cache() = default;

bool denial_cache::decide(std::span<const cache_probe> probes, micros local_now,
                          std::span<decision> out, micros& redis_now) const {
  if (impl_->count.load(std::memory_order_relaxed) == 0) return false;
  if (probes.size() > max_probes || probes.empty()) return false;
  knowledge known[max_probes];
  micros now = std::numeric_limits<micros>::max();
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const cache_probe& p = probes[i];
    if (p.cost <= 0) return false;
    shard& sh = impl_->shard_of(p.id);
    {
      std::lock_guard lock(sh.mutex);
      const set_block& s = impl::set_of(sh, p.id);
      const int at = impl::find(s, p.id);
      if (at < 0 || s.slots[at].definition != definition_of(*p.params)) return false;
      known[i] = s.slots[at].k;
    }
    // Redis's clock now is at most the answer's time plus what elapsed here since its
    // request was sent: every estimate is an upper bound, the smallest the best.
    now = std::min(now, known[i].at + impl_->stretch(local_now - known[i].sent));
  }
  bool denied = false;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto d = project(known[i], *probes[i].params, now, probes[i].cost);
    if (!d) return false;
    out[i] = *d;
    if (!d->allowed && !probes[i].shadow) denied = true;
  }
  if (!denied) return false;
  redis_now = now;
  return true;
}

void denial_cache::learn(std::span<const cache_probe> probes, std::span<const decision> decisions,
                         bool admitted, micros redis_now, micros sent) {
  const bool stale = sent <= impl_->epoch.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const cache_probe& p = probes[i];
    const decision& d = decisions[i];
    const bool charged = admitted && d.allowed;
    shard& sh = impl_->shard_of(p.id);
    std::lock_guard lock(sh.mutex);
    set_block& s = impl::set_of(sh, p.id);
    const micros charged_before = s.charged_at;
    if (charged) s.charged_at = std::max(s.charged_at, redis_now);
    const int at = impl::find(s, p.id);
    if (stale || p.cost <= 0) {
      // Sent before a reset or clear: Redis may have answered it before that.
      if (at >= 0) impl_->erase(s, at);
      continue;
    }
    const std::uint64_t definition = definition_of(*p.params);
    knowledge learned = limit::learn(*p.params, p.cost, d, charged, redis_now);
    learned.sent = sent;
    knowledge next;
    if (at >= 0) {
      const slot& known = s.slots[at];
      // A later answer is known: it saw this one. (Two calls never share a microsecond
      // of Redis's clock: each takes several. Equal times are one answer's, or a fake
      // clock's in sequential tests, where the order is the answers' order.)
      if (known.k.at > redis_now) continue;
      knowledge carried;
      if (known.definition == definition) {
        const auto expected = project(known.k, *p.params, redis_now, p.cost);
        if (expected && *expected == d) {
          carried = charged ? advance(known.k, *p.params, redis_now, p.cost)
                            : carry(known.k, *p.params, redis_now);
          if (carried.at == redis_now) carried.sent = sent;
        }
      }
      next = choose(carried, learned);
      if (next.kind == knowledge::form::none) {
        if (charged || carried.kind == knowledge::form::none) impl_->erase(s, at);
        continue;
      }
    } else {
      // Not an answer older than a charge answered for this set (it may be this key's,
      // unlearnt): what it says may have been changed since.
      if (redis_now < charged_before || learned.kind == knowledge::form::none) continue;
      next = learned;
    }
    const int slot_index = at >= 0 ? at : impl_->room(s);
    s.slots[slot_index] = slot{p.id, definition, useful_until(next, *p.params), next};
  }
}

void denial_cache::forget(std::uint64_t id, micros local_now) {
  micros e = impl_->epoch.load(std::memory_order_relaxed);
  while (e < local_now && !impl_->epoch.compare_exchange_weak(e, local_now)) {
  }
  shard& sh = impl_->shard_of(id);
  std::lock_guard lock(sh.mutex);
  set_block& s = impl::set_of(sh, id);
  const int at = impl::find(s, id);
  if (at >= 0) impl_->erase(s, at);
}

void denial_cache::clear(micros local_now) {
  micros e = impl_->epoch.load(std::memory_order_relaxed);
  while (e < local_now && !impl_->epoch.compare_exchange_weak(e, local_now)) {
  }
  if (impl_->count.load(std::memory_order_relaxed) == 0) return;
  for (unsigned i = 0; i <= impl_->shard_mask; ++i) {
    shard& sh = impl_->shards[i];
    std::lock_guard lock(sh.mutex);
    for (set_block& s : sh.sets) {
      for (unsigned j = 0; j < ways; ++j) {
        if (s.slots[j].id != 0) impl_->erase(s, static_cast<int>(j));
      }
    }
  }
}

std::uint64_t denial_cache::size() const {
  return impl_->count.load(std::memory_order_relaxed);
}

std::uint64_t denial_cache::capacity() const {
  return impl_->capacity;
}

}  // namespace sluice::limit
