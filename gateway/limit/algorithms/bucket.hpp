// The continuous bucket shared by token_bucket and leaky_bucket, in GCRA form.
//
// A bucket of capacity `burst` refilled at one token per emission interval T is
// stored as its theoretical arrival time `tat`: the instant it will be full again.
// Tokens available at `now` = burst - (tat - now) / T. One timestamp instead of
// (tokens, last_refill) keeps its meaning when the rate or the client's tier
// changes at reload: a client in debt stays in debt for the same time.
//
// T = interval_num / interval_den microseconds is rarely a whole number (7/s), so
// tat is kept exactly as `tat_us + tat_frac / interval_den` with 0 <= tat_frac <
// interval_den; all comparisons are integer "debt" in units of 1/interval_den us.
#pragma once

#include "limit/algorithms/decision.hpp"

namespace sluice::limit::bucket {

struct state {
  micros tat_us = 0;          // whole microseconds of the theoretical arrival time
  std::int64_t tat_frac = 0;  // sub-microsecond part, in 1/interval_den us
  friend bool operator==(const state&, const state&) = default;
};
static_assert(sizeof(state) == 16);

struct result {
  decision verdict;
  state next;         // the state to store if the request is admitted
  micros expires_at;  // when the stored state equals a fresh (full) bucket
};

// Evaluates `cost` tokens against the bucket. `max_delay` > 0 enables shaping:
// a request that would conform within max_delay is admitted with `delay` set.
result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost);

// A charge of `reserved` tokens at `charged_at` turned out to cost `actual` (a cost from
// the response, issue 14): the state never below the one had the request been charged
// `actual` at charged_at (it never admits more than that would have), and never more
// than two capacities of debt (the exact range, limit_params::exact()).
//  - actual > reserved: the rest is charged now, tat = max(tat, now) + (actual -
//    reserved) * T: later requests wait.
//  - actual < reserved: tat goes back by (reserved - actual) * T, but by at most
//    reserved * T - (now - charged_at), the part of the reserve that refill cannot have
//    absorbed since (a charge maps a tat x to max(x, t) + c; the reserve moved it by
//    reserved * T from at least charged_at); never fuller than full. With actual = 0
//    this is the Redis Cluster refund (decide.lua).
struct settled {
  state next;
  micros expires_at;  // when `next` equals a fresh (full) bucket
  bool changed;
};
settled settle(const limit_params& p, const state& s, micros charged_at, std::int64_t reserved,
               std::int64_t actual, micros now);

}  // namespace sluice::limit::bucket
