#include "limit/algorithms/bucket.hpp"

namespace sluice::limit::bucket {
namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

}  // namespace

result evaluate(const limit_params& p, const state& s, micros now, std::int64_t cost) {
  const std::int64_t den = p.interval_den;           // debt units per microsecond
  const std::int64_t per_token = p.interval_num;     // debt units per token
  const std::int64_t horizon = p.burst * per_token;  // debt of an empty bucket

  // A state written under other params (reload, tier change) may hold a fraction in
  // another denominator; it was < 1 us there, so round it up to the next microsecond.
  state base = s.tat_frac < den ? s : state{s.tat_us + 1, 0};
  // Debt at `now`: how far tat lies in the future, 0 when the bucket is full.
  if (base.tat_us < now || (base.tat_us == now && base.tat_frac == 0)) base = state{now, 0};
  const std::int64_t debt = (base.tat_us - now) * den + base.tat_frac;

  result r{};
  r.verdict.limit = p.burst;
  r.next = s;

  auto tokens_left = [&](std::int64_t d) { return (horizon - d) / per_token; };
  auto until_full = [&](std::int64_t d) { return ceil_div(d, den); };

  if (cost > p.burst) {
    r.verdict.cost_exceeds_limit = true;
    r.verdict.remaining = debt > horizon ? 0 : tokens_left(debt);
    r.verdict.reset = until_full(debt);
    r.verdict.retry_after = ceil_div(horizon, den);
    r.expires_at = s.tat_us + (s.tat_frac > 0 ? 1 : 0);
    return r;
  }

  const std::int64_t charged = debt + cost * per_token;
  const std::int64_t excess = charged - horizon;  // > 0: does not conform now
  const micros wait = ceil_div(excess, den);

  // A peek (cost 0) takes nothing, so it always passes and is never held.
  const bool over = cost > 0 && excess > 0;
  if (over && wait > p.max_delay) {
    r.verdict.remaining = debt > horizon ? 0 : tokens_left(debt);
    r.verdict.reset = until_full(debt);
    // With shaping the request passes as soon as its hold would fit in max_delay.
    r.verdict.retry_after = wait - p.max_delay;
    r.expires_at = s.tat_us + (s.tat_frac > 0 ? 1 : 0);
    return r;
  }

  const std::int64_t frac = base.tat_frac + cost * per_token;
  r.next = state{base.tat_us + frac / den, frac % den};
  r.verdict.allowed = true;
  r.verdict.delay = over ? wait : 0;
  r.verdict.remaining = excess > 0 ? 0 : tokens_left(charged);
  r.verdict.reset = until_full(charged);
  r.expires_at = r.next.tat_us + (r.next.tat_frac > 0 ? 1 : 0);
  return r;
}

}  // namespace sluice::limit::bucket
