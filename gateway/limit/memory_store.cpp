// Table layout (one lazily mapped, zero-filled region cut into per-shard parts):
//
//   set: 256 bytes, 64-byte aligned, 8 slots
//     line 0    fingerprint[8]  (key_hash & ~7) | tag, tag = algorithm + 1; 0 = empty
//     line 1    expires_at[8]   when the slot's state becomes equal to a fresh key's
//     line 2-3  state[8]        16 bytes of algorithm state (sliding_log: its log pointer)
//
// 32 bytes per slot. Each shard gets 60 bytes of table per key of its budget (1.875
// slots per key), so that with every key of a full store tracked the whole allocation,
// headers included, stays under 64 bytes per key even though a few sets overflow
// before the budget is reached. The tag in the fingerprint's low bits tells which
// algorithm wrote the state: a slot read under another algorithm counts as fresh,
// and a slot owning a heap log is recognised wherever it is freed.
#include "limit/memory_store.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "limit/algorithms/bucket.hpp"
#include "limit/algorithms/concurrency.hpp"
#include "limit/algorithms/fixed_window.hpp"
#include "limit/algorithms/sliding_log.hpp"
#include "limit/algorithms/sliding_window.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::limit {
namespace {

constexpr unsigned ways = 8;
constexpr std::uint64_t tag_mask = 7;  // low hash bits, replaced by the algorithm tag
constexpr unsigned default_shards = 64;
// Below this many keys per shard the split across shards is too uneven to be worth
// the parallelism: small stores use fewer shards, down to one.
constexpr std::uint64_t min_keys_per_shard = 1024;
constexpr std::uint64_t table_bytes_per_key = 60;
// The sweep reads only chunks of sets a slot was ever written in: reading a never
// written page commits it on some kernels (no shared zero page), so a sweep of a big,
// mostly empty table would make it resident. A chunk is one page of sets.
constexpr std::uint64_t sets_per_chunk = 16;

struct slot_state {
  std::int64_t a;
  std::int64_t b;
};
static_assert(sizeof(slot_state) == 16);

struct alignas(64) set_block {
  std::uint64_t fingerprint[ways];
  micros expires_at[ways];
  slot_state state[ways];
};
static_assert(sizeof(set_block) == 256);
static_assert(sets_per_chunk * sizeof(set_block) == 4096);

constexpr std::uint64_t tag_of(algorithm a) {
  return static_cast<std::uint64_t>(a) + 1;
}
constexpr std::uint64_t log_tag = tag_of(algorithm::sliding_log);

// The fingerprint's key part. A hash whose key part would be 0 (an empty slot) is
// moved to 8: it then shares a fingerprint with hashes 8..15, a 2^-61 coincidence.
constexpr std::uint64_t key_part(std::uint64_t key_hash) {
  const std::uint64_t k = key_hash & ~tag_mask;
  return k == 0 ? tag_mask + 1 : k;
}

inline void cpu_relax() {
#if defined(__SSE2__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Test-and-test-and-set lock. Uncontended it is one atomic exchange and one store,
// cheaper than std::mutex's two atomic RMWs; it yields after a short spin so a
// preempted holder on an oversubscribed machine does not eat the waiter's time slice.
class spin_lock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 128) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// One shard: its lock, its key budget and its part of the table. `sets` and `table`
// never change after construction and are read without the lock (to prefetch).
struct alignas(64) shard {
  spin_lock lock;
  std::uint32_t budget = 0;             // keys this shard may track
  std::atomic<std::uint32_t> count{0};  // keys tracked; written under `lock`
  std::uint64_t sets = 0;
  set_block* table = nullptr;
  std::atomic<std::uint64_t> log_bytes{0};  // heap bytes owned by sliding_log slots
  // Bit c: a slot in sets [c * sets_per_chunk, (c + 1) * sets_per_chunk) was written.
  // Written under `lock`; the words are this shard's own part of impl::written_chunks.
  std::uint64_t* written = nullptr;

  void mark_written(const set_block& s) {
    const auto chunk = static_cast<std::uint64_t>(&s - table) / sets_per_chunk;
    written[chunk / 64] |= std::uint64_t{1} << (chunk % 64);
  }
  // Calls f(set) for every set of the chunks ever written, in order, until f returns
  // false.
  template <typename F>
  void for_each_written_set(F&& f) {
    const std::uint64_t chunks = (sets + sets_per_chunk - 1) / sets_per_chunk;
    for (std::uint64_t w = 0; w * 64 < chunks; ++w) {
      for (std::uint64_t bits = written[w]; bits != 0; bits &= bits - 1) {
        const std::uint64_t first_set = (w * 64 + std::countr_zero(bits)) * sets_per_chunk;
        const std::uint64_t end = std::min(first_set + sets_per_chunk, sets);
        for (std::uint64_t j = first_set; j < end; ++j) {
          if (!f(table[j])) return;
        }
      }
    }
  }
};
static_assert(sizeof(shard) == 64);

// Bit i set when fingerprint[i] & mask == want. Branch-free over the set's one line of
// fingerprints (SSE2 has no 64-bit compare: two 32-bit halves are combined).
inline unsigned match(const set_block& s, std::uint64_t want, std::uint64_t mask) {
#if defined(__SSE2__)
  const __m128i w = _mm_set1_epi64x(static_cast<long long>(want));
  const __m128i m = _mm_set1_epi64x(static_cast<long long>(mask));
  unsigned bits = 0;
  for (unsigned j = 0; j < ways / 2; ++j) {
    const __m128i v =
        _mm_and_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(s.fingerprint + 2 * j)), m);
    __m128i eq = _mm_cmpeq_epi32(v, w);
    eq = _mm_and_si128(eq, _mm_shuffle_epi32(eq, _MM_SHUFFLE(2, 3, 0, 1)));
    bits |= static_cast<unsigned>(_mm_movemask_pd(_mm_castsi128_pd(eq))) << (2 * j);
  }
  return bits;
#else
  unsigned bits = 0;
  for (unsigned i = 0; i < ways; ++i) {
    bits |= static_cast<unsigned>((s.fingerprint[i] & mask) == want) << i;
  }
  return bits;
#endif
}

inline int first(unsigned bits) {
  return bits == 0 ? -1 : std::countr_zero(bits);
}

sliding_log::log* log_of(const slot_state& s) {
  return std::bit_cast<sliding_log::log*>(s.a);
}

std::uint64_t log_footprint(const sliding_log::log& l) {
  return sizeof(sliding_log::log) + static_cast<std::uint64_t>(l.capacity()) * sizeof(micros);
}

// What a fresh sliding_log key evaluates against; evaluate() only reads it.
const sliding_log::log& empty_log() {
  static const sliding_log::log empty(1);
  return empty;
}

// An algorithm whose state fits a slot: `step` (its evaluate or settle on a state read
// from the slot, a fresh one when `current` is null) and the slot state it leaves.
template <class State, class Step>
auto step_in_slot(const slot_state* current, Step step, slot_state& next, micros& expires_at) {
  const auto r = step(current ? std::bit_cast<State>(*current) : State{});
  next = std::bit_cast<slot_state>(r.next);
  expires_at = r.expires_at;
  return r;
}

// `current` is null for a fresh key. Writes the verdict, the state to store if the
// check is charged (unused for sliding_log, whose log is committed in place) and
// when that state turns fresh.
inline void evaluate(const limit_params& p, const slot_state* current, micros now,
                     std::int64_t cost, decision& verdict, slot_state& next, micros& expires_at) {
  switch (p.algo) {
    case algorithm::token_bucket:
    case algorithm::leaky_bucket: {
      const auto step = [&](const bucket::state& s) { return bucket::evaluate(p, s, now, cost); };
      verdict = step_in_slot<bucket::state>(current, step, next, expires_at).verdict;
      return;
    }
    case algorithm::fixed_window: {
      const auto step = [&](const fixed_window::state& s) {
        return fixed_window::evaluate(p, s, now, cost);
      };
      verdict = step_in_slot<fixed_window::state>(current, step, next, expires_at).verdict;
      return;
    }
    case algorithm::sliding_window: {
      const auto step = [&](const sliding_window::state& s) {
        return sliding_window::evaluate(p, s, now, cost);
      };
      verdict = step_in_slot<sliding_window::state>(current, step, next, expires_at).verdict;
      return;
    }
    case algorithm::concurrency: {
      const auto step = [&](const concurrency::state& s) {
        return concurrency::evaluate(p, s, now, cost);
      };
      verdict = step_in_slot<concurrency::state>(current, step, next, expires_at).verdict;
      return;
    }
    case algorithm::sliding_log: {
      const sliding_log::log& l = current ? *log_of(*current) : empty_log();
      const sliding_log::result r = sliding_log::evaluate(p, l, now, cost);
      verdict = r.verdict;
      next = slot_state{0, 0};
      expires_at = r.expires_at;
      return;
    }
  }
}

// One check of a decision in flight. No default member initialisers: an array of these
// lives on the stack of every decide() and must not be zeroed each time.
struct pending {
  shard* sh;
  set_block* set;
  std::uint64_t fingerprint;  // key part | tag
  int slot;                   // phase 1: slot holding this fingerprint, -1 if none
  slot_state next;
  micros expires_at;
};

}  // namespace

struct memory_store::impl {
  std::uint64_t max_keys = 0;
  std::uint64_t shard_mask = 0;
  unsigned shard_count = 0;
  shard* shards = nullptr;
  void* table = nullptr;  // one mapping holding every shard's sets
  std::size_t table_bytes = 0;
  std::vector<std::uint64_t> written_chunks;  // every shard's `written` bits

  // Shard from bits 3.. (bits 0-2 carry the tag), set from the high bits by
  // multiply-shift: no modulo, and any number of sets per shard.
  void locate(std::uint64_t key_hash, algorithm algo, pending& w) const {
    shard& sh = shards[(key_hash >> 3) & shard_mask];
    const auto index =
        static_cast<std::uint64_t>((static_cast<unsigned __int128>(key_hash) * sh.sets) >> 64);
    w.sh = &sh;
    w.set = sh.table + index;
    w.fingerprint = key_part(key_hash) | tag_of(algo);
  }

  // The set's four lines are requested together so one memory round trip serves the
  // lookup, the evaluation and the write.
  static void prefetch(const set_block* set) {
    const char* base = reinterpret_cast<const char*>(set);
    __builtin_prefetch(base, 1, 3);
    __builtin_prefetch(base + 64, 1, 3);
    __builtin_prefetch(base + 128, 1, 3);
    __builtin_prefetch(base + 192, 1, 3);
  }

  // Frees what a slot owns and empties it. Caller holds the shard lock and adjusts
  // `count`.
  static void release_slot(shard& sh, set_block& s, unsigned i) {
    if ((s.fingerprint[i] & tag_mask) == log_tag) {
      sliding_log::log* l = log_of(s.state[i]);
      sh.log_bytes.fetch_sub(log_footprint(*l), std::memory_order_relaxed);
      delete l;
    }
    s.fingerprint[i] = 0;
    s.expires_at[i] = 0;
    s.state[i] = slot_state{0, 0};
  }

  // Finds a slot in `s` for a key that is not stored, evicting when the set or the
  // shard's budget is full. The victim is the candidate whose state turns fresh
  // soonest (expired ones first, losing nothing). The newcomer competes too: when every
  // candidate stays meaningful for longer than its `expires_at`, it is not stored
  // (returns -1), so a flood of new keys cannot evict a client that is over its limit.
  // Keys of the decision being committed (`batch`) are never victims.
  static int make_room(shard& sh, set_block& s, micros expires_at, std::span<const pending> batch) {
    const unsigned empty = match(s, 0, ~std::uint64_t{0});
    const std::uint32_t count = sh.count.load(std::memory_order_relaxed);
    if (empty != 0 && count < sh.budget) {
      sh.count.store(count + 1, std::memory_order_relaxed);
      return std::countr_zero(empty);
    }

    set_block* victim_set = nullptr;
    unsigned victim = 0;
    micros best = 0;
    auto consider = [&](set_block& c) {
      for (unsigned i = 0; i < ways; ++i) {
        const std::uint64_t fp = c.fingerprint[i];
        if (fp == 0 || (victim_set != nullptr && c.expires_at[i] >= best)) continue;
        const bool in_batch = std::any_of(batch.begin(), batch.end(), [&](const pending& p) {
          return (p.fingerprint & ~tag_mask) == (fp & ~tag_mask);
        });
        if (in_batch) continue;
        victim_set = &c;
        victim = i;
        best = c.expires_at[i];
      }
    };
    consider(s);
    if (empty != 0) {
      // The shard is at its budget but this set has room: the victim may come from the
      // following sets too, so it is not simply whatever happens to share this set.
      const auto index = static_cast<std::uint64_t>(&s - sh.table);
      for (std::uint64_t step = 1; step < sh.sets; ++step) {
        consider(sh.table[(index + step) % sh.sets]);
        if (victim_set != nullptr) break;
      }
    }
    if (victim_set == nullptr || best > expires_at) return -1;
    release_slot(sh, *victim_set, victim);
    return victim_set == &s ? static_cast<int>(victim) : std::countr_zero(empty);
  }

  // Writes the charged state of one allowed check. Caller holds the shard lock.
  static void commit(const check& c, pending& w, micros now, bool refind,
                     std::span<const pending> batch) {
    shard& sh = *w.sh;
    set_block& s = *w.set;
    int slot = refind ? first(match(s, w.fingerprint, ~std::uint64_t{0})) : w.slot;

    if (w.expires_at <= now) {
      // The charged state already equals a fresh one (a cost of 0): keep no slot.
      if (slot >= 0) {
        release_slot(sh, s, static_cast<unsigned>(slot));
        sh.count.store(sh.count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      }
      return;
    }
    const bool is_log = (w.fingerprint & tag_mask) == log_tag;
    if (slot < 0) {
      // Allocated before anything changes, so a failed allocation leaves no trace.
      std::unique_ptr<sliding_log::log> fresh_log;
      if (is_log) fresh_log = std::make_unique<sliding_log::log>(c.params->count);
      const int other = first(match(s, w.fingerprint & ~tag_mask, ~tag_mask));
      if (other >= 0) {
        // The key holds state of another algorithm (its limit changed): replace it.
        release_slot(sh, s, static_cast<unsigned>(other));
        slot = other;
      } else {
        slot = make_room(sh, s, w.expires_at, batch);
        if (slot < 0) return;
      }
      s.fingerprint[slot] = w.fingerprint;
      sh.mark_written(s);
      s.state[slot] = slot_state{0, 0};
      if (is_log) {
        sh.log_bytes.fetch_add(log_footprint(*fresh_log), std::memory_order_relaxed);
        s.state[slot].a = std::bit_cast<std::int64_t>(fresh_log.release());
      }
    }

    const auto u = static_cast<unsigned>(slot);
    if (is_log) {
      sliding_log::log& l = *log_of(s.state[u]);
      const std::uint64_t before = log_footprint(l);
      sliding_log::commit(*c.params, l, now, c.cost);
      const std::uint64_t after = log_footprint(l);
      sh.log_bytes.fetch_add(after - before, std::memory_order_relaxed);  // wraps on shrink
    } else {
      s.state[u] = w.next;
    }
    s.expires_at[u] = w.expires_at;
  }
};

namespace {

unsigned pick_shard_count(std::uint64_t max_keys, unsigned requested) {
  std::uint64_t n = requested;
  if (n == 0) {
    n = default_shards;
    while (n > 1 && max_keys / n < min_keys_per_shard) n /= 2;
  }
  return static_cast<unsigned>(std::bit_floor(std::clamp<std::uint64_t>(n, 1, 1u << 16)));
}

}  // namespace

memory_store::memory_store(std::uint64_t max_keys, unsigned shards) : impl_(new impl) {
  impl& m = *impl_;
  m.max_keys = std::clamp<std::uint64_t>(max_keys, 1, UINT32_MAX);  // budgets are 32-bit
  m.shard_count = pick_shard_count(m.max_keys, shards);
  m.shard_mask = m.shard_count - 1;
  m.shards = new shard[m.shard_count];

  // Budgets split max_keys exactly (the first max_keys % shards shards take one more).
  std::vector<std::uint64_t> sets(m.shard_count);
  std::uint64_t total_sets = 0;
  for (unsigned k = 0; k < m.shard_count; ++k) {
    const std::uint64_t budget =
        m.max_keys / m.shard_count + (k < m.max_keys % m.shard_count ? 1 : 0);
    m.shards[k].budget = static_cast<std::uint32_t>(budget);
    sets[k] = std::max<std::uint64_t>(1, budget * table_bytes_per_key / sizeof(set_block));
    total_sets += sets[k];
  }
  m.table_bytes = total_sets * sizeof(set_block);
  // Anonymous memory is mapped on first touch: an idle store costs address space only.
  void* p = mmap(nullptr, m.table_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    delete[] m.shards;
    throw std::bad_alloc();
  }
  m.table = p;
  std::vector<std::uint64_t> words(m.shard_count);
  std::uint64_t total_words = 0;
  for (unsigned k = 0; k < m.shard_count; ++k) {
    words[k] = (sets[k] + sets_per_chunk * 64 - 1) / (sets_per_chunk * 64);
    total_words += words[k];
  }
  m.written_chunks.assign(total_words, 0);
  auto* cursor = static_cast<set_block*>(p);
  std::uint64_t* bits = m.written_chunks.data();
  for (unsigned k = 0; k < m.shard_count; ++k) {
    m.shards[k].sets = sets[k];
    m.shards[k].table = cursor;
    m.shards[k].written = bits;
    cursor += sets[k];
    bits += words[k];
  }
}

memory_store::~memory_store() {
  impl& m = *impl_;
  for (unsigned k = 0; k < m.shard_count; ++k) {
    shard& sh = m.shards[k];
    if (sh.log_bytes.load(std::memory_order_relaxed) == 0) continue;
    sh.for_each_written_set([&](set_block& s) {
      for (unsigned i = 0; i < ways; ++i) {
        if ((s.fingerprint[i] & tag_mask) == log_tag) impl::release_slot(sh, s, i);
      }
      return true;
    });
  }
  munmap(m.table, m.table_bytes);
  delete[] m.shards;
}

bool memory_store::decide(std::span<const check> checks, micros now, std::span<decision> out) {
  assert(out.size() == checks.size());
  const impl& m = *impl_;
  const std::size_t n = checks.size();
  if (n == 1) {
    // The common case, without the bookkeeping for several shards.
    const check& c = checks[0];
    pending w;
    m.locate(c.key_hash, c.params->algo, w);
    impl::prefetch(w.set);
    std::lock_guard guard(w.sh->lock);
    w.slot = first(match(*w.set, w.fingerprint, ~std::uint64_t{0}));
    evaluate(*c.params, w.slot >= 0 ? &w.set->state[w.slot] : nullptr, now, c.cost, out[0], w.next,
             w.expires_at);
    if (out[0].allowed) impl::commit(c, w, now, false, std::span(&w, 1));
    return out[0].allowed || c.shadow;
  }
  if (n == 0) return true;

  // A request applies a handful of limits: their scratch lives on the stack.
  constexpr std::size_t inline_checks = 8;
  pending inline_work[inline_checks];
  shard* inline_order[inline_checks];
  std::vector<pending> heap_work;
  std::vector<shard*> heap_order;
  pending* work = inline_work;
  shard** order = inline_order;
  if (n > inline_checks) {
    heap_work.resize(n);
    heap_order.resize(n);
    work = heap_work.data();
    order = heap_order.data();
  }
  for (std::size_t i = 0; i < n; ++i) {
    m.locate(checks[i].key_hash, checks[i].params->algo, work[i]);
    impl::prefetch(work[i].set);
  }

  // The distinct shards in ascending address order: locking in one global order cannot
  // deadlock. Insertion sort, since n is a handful.
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    shard* s = work[i].sh;
    std::size_t at = distinct;
    while (at > 0 && order[at - 1] > s) --at;
    if (at > 0 && order[at - 1] == s) continue;
    std::copy_backward(order + at, order + distinct, order + distinct + 1);
    order[at] = s;
    ++distinct;
  }
  struct locks {
    std::span<shard*> held;
    explicit locks(std::span<shard*> s) : held(s) {
      for (shard* sh : held) sh->lock.lock();
    }
    ~locks() {  // also on a failed log allocation in commit()
      for (shard* sh : held) sh->lock.unlock();
    }
  } guard(std::span(order, distinct));

  // Phase 1: evaluate every check against its stored (or fresh) state; change nothing.
  bool admitted = true;
  for (std::size_t i = 0; i < n; ++i) {
    pending& w = work[i];
    w.slot = first(match(*w.set, w.fingerprint, ~std::uint64_t{0}));
    const slot_state* current = w.slot >= 0 ? &w.set->state[w.slot] : nullptr;
    evaluate(*checks[i].params, current, now, checks[i].cost, out[i], w.next, w.expires_at);
    admitted &= out[i].allowed || checks[i].shadow;
  }
  if (!admitted) return false;

  // Phase 2: charge every check that allows. A check whose set an earlier check of
  // this decision wrote to looks its slot up again, since that write may have taken it.
  const std::span<const pending> batch(work, n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!out[i].allowed) continue;
    bool refind = false;
    for (std::size_t j = 0; j < i; ++j) refind |= work[j].set == work[i].set;
    impl::commit(checks[i], work[i], now, refind, batch);
  }
  return true;
}

void memory_store::prefetch(std::uint64_t key_hash) const {
  pending w;
  impl_->locate(key_hash, algorithm::token_bucket, w);
  impl::prefetch(w.set);
}

decision memory_store::peek(std::uint64_t key_hash, const limit_params& params, micros now) {
  pending w;
  impl_->locate(key_hash, params.algo, w);
  std::lock_guard guard(w.sh->lock);
  const int slot = first(match(*w.set, w.fingerprint, ~std::uint64_t{0}));
  decision verdict;
  evaluate(params, slot >= 0 ? &w.set->state[slot] : nullptr, now, 0, verdict, w.next,
           w.expires_at);
  return verdict;
}

bool memory_store::release(std::uint64_t key_hash, const limit_params& params, micros now) {
  pending w;
  impl_->locate(key_hash, params.algo, w);
  std::lock_guard guard(w.sh->lock);
  const int slot = first(match(*w.set, w.fingerprint, ~std::uint64_t{0}));
  if (slot < 0 || !holds_in_flight(params.algo)) return false;
  const auto u = static_cast<unsigned>(slot);
  const concurrency::result r =
      concurrency::release(params, std::bit_cast<concurrency::state>(w.set->state[u]), now);
  if (r.expires_at <= now) {
    impl::release_slot(*w.sh, *w.set, u);  // nothing held: the key is fresh again
    w.sh->count.store(w.sh->count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  } else {
    w.set->state[u] = std::bit_cast<slot_state>(r.next);
    w.set->expires_at[u] = r.expires_at;
  }
  return true;
}

bool memory_store::settle(std::uint64_t key_hash, const limit_params& params, micros charged_at,
                          std::int64_t reserved, std::int64_t actual, micros now) {
  if (reserved == actual) return false;
  const bool bucket_algo = is_bucket(params.algo);
  if (!bucket_algo && params.algo != algorithm::fixed_window) return false;
  pending w;
  impl_->locate(key_hash, params.algo, w);
  std::lock_guard guard(w.sh->lock);
  w.slot = first(match(*w.set, w.fingerprint, ~std::uint64_t{0}));
  const slot_state* current = w.slot >= 0 ? &w.set->state[w.slot] : nullptr;
  bool changed = false;
  if (bucket_algo) {
    const auto step = [&](const bucket::state& s) {
      return bucket::settle(params, s, charged_at, reserved, actual, now);
    };
    changed = step_in_slot<bucket::state>(current, step, w.next, w.expires_at).changed;
  } else {
    const auto step = [&](const fixed_window::state& s) {
      return fixed_window::settle(params, s, charged_at, reserved, actual, now);
    };
    changed = step_in_slot<fixed_window::state>(current, step, w.next, w.expires_at).changed;
  }
  if (!changed) return false;
  // Written as a charge is: a state already fresh keeps no slot, a new one takes room.
  const check c{key_hash, &params, 0, false};
  impl::commit(c, w, now, false, std::span(&w, 1));
  return true;
}

bool memory_store::reset(std::uint64_t key_hash) {
  pending w;
  impl_->locate(key_hash, algorithm::token_bucket, w);
  std::lock_guard guard(w.sh->lock);
  const int slot = first(match(*w.set, w.fingerprint & ~tag_mask, ~tag_mask));
  if (slot < 0) return false;
  impl::release_slot(*w.sh, *w.set, static_cast<unsigned>(slot));
  w.sh->count.store(w.sh->count.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return true;
}

std::uint64_t memory_store::size() const {
  std::uint64_t total = 0;
  for (unsigned k = 0; k < impl_->shard_count; ++k) {
    total += impl_->shards[k].count.load(std::memory_order_relaxed);
  }
  return total;
}

std::uint64_t memory_store::sweep(micros now) {
  impl& m = *impl_;
  for (unsigned k = 0; k < m.shard_count; ++k) {
    shard& sh = m.shards[k];
    std::lock_guard guard(sh.lock);
    // Stops once every tracked key was seen, and never reads a page no slot was
    // written in.
    std::uint32_t left = sh.count.load(std::memory_order_relaxed);
    std::uint32_t freed = 0;
    if (left == 0) continue;
    sh.for_each_written_set([&](set_block& s) {
      for (unsigned i = 0; i < ways; ++i) {
        if (s.fingerprint[i] == 0) continue;
        --left;
        if (s.expires_at[i] <= now) {
          impl::release_slot(sh, s, i);
          ++freed;
        }
      }
      return left > 0;
    });
    if (freed > 0) {
      sh.count.store(sh.count.load(std::memory_order_relaxed) - freed, std::memory_order_relaxed);
    }
  }
  return size();
}

std::uint64_t memory_store::max_keys() const {
  return impl_->max_keys;
}

std::uint64_t memory_store::allocated_bytes() const {
  std::uint64_t logs = 0;
  for (unsigned k = 0; k < impl_->shard_count; ++k) {
    logs += impl_->shards[k].log_bytes.load(std::memory_order_relaxed);
  }
  return sizeof(impl) + impl_->shard_count * sizeof(shard) + impl_->table_bytes +
         impl_->written_chunks.size() * sizeof(std::uint64_t) + logs;
}

}  // namespace sluice::limit
