#include "limit/algorithms/concurrency.hpp"

#include <algorithm>

namespace sluice::limit::concurrency {

namespace {

std::int64_t held_at(const state& s, micros now) {
  return s.expires_at > now ? s.held : 0;
}

}  // namespace

decision verdict_for(const limit_params& p, std::int64_t held, std::int64_t cost) {
  decision v{};
  v.limit = p.count;
  // A lowered max may leave more held than it allows; never report below zero.
  const std::int64_t left = std::max<std::int64_t>(p.count - held, 0);
  if (cost > p.count) {
    v.cost_exceeds_limit = true;
    v.remaining = left;
    v.retry_after = retry_after;
    return v;
  }
  // A peek (cost 0) takes nothing, so it always passes.
  if (cost > 0 && held + cost > p.count) {
    v.remaining = left;
    v.retry_after = retry_after;
    v.reset = retry_after;  // what the reset headers say: when to look again
    return v;
  }
  v.allowed = true;
  v.remaining = std::max<std::int64_t>(left - cost, 0);
  return v;
}

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost) {
  const std::int64_t held = held_at(s, now);
  result r{};
  r.verdict = verdict_for(p, held, cost);
  r.next = held > 0 ? s : state{};
  r.expires_at = held > 0 ? s.expires_at : now;
  if (r.verdict.allowed && cost > 0) {
    r.next = state{held + cost, now + p.period};
    r.expires_at = r.next.expires_at;
  }
  return r;
}

result release(const limit_params& p, const state& s, micros now) {
  const std::int64_t held = std::max<std::int64_t>(held_at(s, now) - 1, 0);
  result r{};
  r.verdict = verdict_for(p, held, 0);
  r.next = held > 0 ? state{held, s.expires_at} : state{};
  r.expires_at = held > 0 ? s.expires_at : now;
  return r;
}

}  // namespace sluice::limit::concurrency
