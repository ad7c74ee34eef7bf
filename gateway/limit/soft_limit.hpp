// Soft limits (issue 15, "degrade before reject"): a request that a limit with `soft:`
// admits, but that leaves more of it used than the soft threshold, is forwarded marked
// degraded (X-RateLimit-Degraded: <limit names>) instead of being rejected; past the
// hard limit it is a 429 as before. Pure functions over a concluded evaluation;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "config/schema.hpp"
#include "limit/algorithms/decision.hpp"
#include "limit/engine.hpp"

namespace sluice::limit {

// The most units of `effective_limit` that may be in use after a request before it is
// degraded. effective_limit is decision.limit: the capacity this decision used, which a
// load-aware or penalty factor may have scaled down. A share is taken of it (rounded
// down); a count is clipped to it.
std::int64_t soft_threshold(const config::soft_def& soft, std::int64_t effective_limit);

// True when `d` admitted its request and left more units used (limit - remaining) than
// the soft threshold.
bool past_soft(const config::soft_def& soft, const decision& d);

// For an admitted request: marks every applied limit with `soft:` that the request took
// past its threshold (applied_limit::degraded; shadow limits too, for the metric) and
// sets ev.degraded when an enforced one did. A shadow limit never marks the request.
// Called by conclude().
void mark_degraded(evaluation& ev);

// Appends the names of the enforced limits that degraded the request, in the order they
// applied, separated by ", " (the X-RateLimit-Degraded value); nothing when none did.
void append_degraded_names(const evaluation& ev, std::string& out);

}  // namespace sluice::limit
