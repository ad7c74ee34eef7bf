// Limits whose numbers move at run time (issue 15): the load-aware factor of a limit
// (adaptive, set from the upstream's health) and the penalty of one key (penalty box).
//
// prepare() asks the scaling sources once per applied limit marked `scales` in the
// policy; a factor below 1 makes that request use a scaled copy of the limit's
// parameters (count and burst multiplied, at least 1, period unchanged), kept in the
// evaluation. Every store keeps its state across such changes: a bucket is one
// timestamp whose debt keeps its meaning, a window counts units whatever N is, and
// a sliding log keeps its newest entries. The decision's `limit` is the scaled
// capacity, so the headers report the effective limit.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/limit_params.hpp"

namespace sluice::limit {

struct compiled_limit;

// One question to a scaling source: the limit (index into policy::limits()) and the
// key text of this request under it.
struct scaling_query {
  std::uint16_t index = 0;
  const compiled_limit* limit = nullptr;
  std::string_view key;        // the key text (sub-key of a sharded limit included)
  std::uint64_t key_hash = 0;  // limit::state_key(limit, key)
  micros now = 0;
};

// A source of factors. Thread-safe: asked by every I/O thread at once.
class scaling_source {
 public:
  virtual ~scaling_source() = default;
  // The factor for this limit and key now: 1.0 = as configured; in (0, 1] scales down.
  virtual double factor(const scaling_query& q) const = 0;
};

// The sources a gateway has (load-aware limits, the penalty box); their factors
// multiply. Filled once at start, read-only afterwards.
class scaling_sources {
 public:
  static constexpr std::size_t max_sources = 4;
  void add(const scaling_source* source);
  bool empty() const { return count_ == 0; }
  double factor(const scaling_query& q) const;

 private:
  std::array<const scaling_source*, max_sources> sources_{};
  std::size_t count_ = 0;
};

// `p` with count and burst multiplied by `factor` (rounded, at least 1) and the
// derived fields recomputed; `p` itself when factor >= 1 or the result would not be
// exact on both backends.
limit_params scaled(const limit_params& p, double factor);

}  // namespace sluice::limit
