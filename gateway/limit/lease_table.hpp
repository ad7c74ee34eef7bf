// Local quota leases for the Redis backend (issue 15, a limit's `lease: { max_tokens,
// max_age }`): units of a key's budget that Redis has already charged to this gateway,
// spent here without a round trip until they run out or age out.
//
// Why it never over-admits: a lease holds only units that a Redis decision charged
// (a top-up, decide_script.hpp), so every unit spent here was counted in Redis before
// it was spent; unspent units go back with the refund (exact for token_bucket within
// the refill elapsed since the charge, for fixed_window within the window; the lease of
// a fixed window expires at its window's end at the latest). What it costs: while this
// gateway holds up to max_tokens units of a key for up to max_age, another gateway may
// refuse that key for lack of them.
//
// The table maps (limit, key) -> one lease: the units left, the local time it expires,
// and what the headers of a locally decided request need (the Redis state after the
// charge). A request whose every limit has a live lease, under the same parameters,
// with at least its cost left is decided by take(): all or nothing (units are taken
// from every lease or from none). Otherwise the request goes to Redis as usual, asking
// each leased limit for a top-up (want_topup(): up to max_tokens minus what is left, at
// most one top-up of a key in flight), and store() keeps what Redis granted.
//
// Thread-safe: 16 shards, one mutex each; take() locks the shards of a request in
// order. Bounded: at most max_entries leases (each shard a share of it); a new one
// evicts an expired one, else the one expiring first (its units go back like any other).
// Times are local steady microseconds (injected: tests pass their own).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit {

// One limit of a request as the table sees it.
struct lease_probe {
  std::uint64_t id = 0;                  // the (limit, key) identity: a keyed hash
  const limit_params* params = nullptr;  // a lease serves only the parameters it was taken under
  std::int64_t cost = 1;
};

// Unspent units that leave the table (expired, replaced, evicted, dropped): the caller
// gives them back to Redis with the refund of the charge that granted them.
struct returned_lease {
  std::string redis_key;
  std::string limit_name;
  std::uint16_t slot = 0;
  limit_params params;
  std::int64_t tokens = 0;  // > 0
  micros charged_at = 0;    // the Redis clock of the decision that granted them
};

// What a round trip that granted a top-up tells the table about one limit.
struct lease_grant {
  std::string redis_key;
  std::string limit_name;
  std::uint16_t slot = 0;
  std::int64_t tokens = 0;  // granted, > 0
  micros max_age = 0;
  decision state;        // the Redis decision of cost + grant (remaining excludes the grant)
  micros redis_now = 0;  // its Redis clock
  micros sent = 0;       // local time the request was sent
};

class lease_table {
 public:
  explicit lease_table(std::size_t max_entries);
  lease_table(const lease_table&) = delete;
  lease_table& operator=(const lease_table&) = delete;

  // Decides the request locally when every probe has a live lease under its params
  // holding at least its cost: takes the cost from each, fills `out` (one decision per
  // probe, for the headers: remaining = Redis's remaining at the grant + the units this
  // lease still holds; reset counted down by the local time since) and `redis_now` (the
  // estimated Redis clock), and returns true. Otherwise changes nothing.
  bool take(std::span<const lease_probe> probes, micros now, std::span<decision> out,
            micros& redis_now);

  // How many units a round trip for `probe` should ask Redis to add to its lease:
  // max_tokens minus what a live lease holds, or 0 when a top-up of it is already in
  // flight (asked less than max_age ago) or the table has no room. Marks it in flight.
  std::int64_t want_topup(const lease_probe& probe, std::int64_t max_tokens, micros max_age,
                          micros now, std::vector<returned_lease>& returned);

  // After the round trip that asked for `probe`'s top-up: clears the in-flight mark and,
  // with a grant, makes it the lease (what the previous one still held goes to
  // `returned`). A grant expires at sent + max_age, and a fixed window's at its end
  // (sent + state.reset) when that is sooner.
  void store(const lease_probe& probe, const lease_grant* grant,
             std::vector<returned_lease>& returned);

  // Moves the unspent units of every lease expired at `now` to `out` and forgets them.
  void expire(micros now, std::vector<returned_lease>& out);
  // Forgets one (limit, key) lease (an admin reset: its units are not given back, the
  // key is gone in Redis), or every lease, moving their units to `out` (a reload, a tier
  // change, Redis lost its keys).
  void forget(std::uint64_t id);
  void drain(std::vector<returned_lease>& out);

  std::size_t size() const;
  // Units held by live leases, per limit name (the rate_limit_lease_tokens gauge).
  void tokens_by_limit(micros now, std::unordered_map<std::string, std::int64_t>& out) const;

 private:
  struct entry {
    limit_params params;
    std::string redis_key;
    std::string limit_name;
    std::uint16_t slot = 0;
    std::int64_t tokens = 0;
    micros expiry = 0;      // local; the lease is live while now < expiry
    micros charged_at = 0;  // Redis clock of the grant
    micros asked_at = -1;   // local time a top-up was asked; -1: none in flight
    micros max_age = 0;
    decision state;  // Redis's decision at the grant
    micros redis_now = 0;
    micros sent = 0;
  };
  static constexpr std::size_t shard_count = 16;
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::uint64_t, entry> entries;
  };
  static std::size_t shard_of(std::uint64_t id) { return (id >> 7) % shard_count; }
  // Makes room in `s` (locked) for one more entry; false when it cannot.
  bool make_room(shard& s, micros now, std::vector<returned_lease>& returned);
  static void give_back(entry& e, std::vector<returned_lease>& out);

  std::size_t per_shard_;
  std::array<shard, shard_count> shards_;
};

// Whether two parameter sets are the same limit numbers.
bool same_params(const limit_params& a, const limit_params& b);

}  // namespace sluice::limit
