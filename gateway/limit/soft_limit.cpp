#include "limit/soft_limit.hpp"

#include <algorithm>

namespace sluice::limit {

std::int64_t soft_threshold(const config::soft_def& soft, std::int64_t effective_limit) {
  if (effective_limit <= 0) return 0;
  if (soft.basis_points <= 0) return std::min(soft.count, effective_limit);
  // floor(limit * bp / 10000) without overflow for limits up to 2^53.
  const std::int64_t bp = soft.basis_points;
  return effective_limit / 10'000 * bp + effective_limit % 10'000 * bp / 10'000;
}

bool past_soft(const config::soft_def& soft, const decision& d) {
  return d.allowed && d.limit - d.remaining > soft_threshold(soft, d.limit);
}

void mark_degraded(evaluation& ev) {
  ev.degraded = false;
  if (ev.result != outcome::allowed) return;
  for (applied_limit& a : ev.applied) {
    const compiled_limit& limit = ev.limit_of(a);
    a.degraded = limit.soft.has_value() && past_soft(*limit.soft, a.result);
    if (a.degraded && !a.shadow) ev.degraded = true;
  }
}

void append_degraded_names(const evaluation& ev, std::string& out) {
  if (!ev.degraded) return;
  bool first = true;
  for (const applied_limit& a : ev.applied) {
    if (!a.degraded || a.shadow) continue;
    if (!first) out += ", ";
    out += ev.limit_of(a).name;
    first = false;
  }
}

}  // namespace sluice::limit
