#include "limit/algorithms/bucket.hpp"

#include <algorithm>

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

settled settle(const limit_params& p, const state& s, micros charged_at, std::int64_t reserved,
               std::int64_t actual, micros now) {
  const std::int64_t den = p.interval_den;
  const std::int64_t per_token = p.interval_num;
  const std::int64_t horizon = p.burst * per_token;
  const auto expiry = [](const state& x) { return x.tat_us + (x.tat_frac > 0 ? 1 : 0); };
  const settled unchanged{s, expiry(s), false};
  state base = s.tat_frac < den ? s : state{s.tat_us + 1, 0};  // as evaluate() reads it
  const bool full = base.tat_us < now || (base.tat_us == now && base.tat_frac == 0);
  if (actual > reserved) {
    if (full) base = state{now, 0};
    const std::int64_t debt = (base.tat_us - now) * den + base.tat_frac;
    const __int128 wanted = static_cast<__int128>(actual - reserved) * per_token + debt;
    const std::int64_t capped = static_cast<std::int64_t>(std::min<__int128>(wanted, 2 * horizon));
    if (capped <= debt) return unchanged;
    const state next{now + capped / den, capped % den};
    return {next, expiry(next), true};
  }
  if (actual == reserved || full || now < charged_at) return unchanged;  // nothing to give
  const __int128 lost = static_cast<__int128>(now - charged_at) * den;   // refill since
  const __int128 back = std::min<__int128>(static_cast<__int128>(reserved - actual) * per_token,
                                           static_cast<__int128>(reserved) * per_token - lost);
  if (back <= 0) return unchanged;
  const auto b = static_cast<std::int64_t>(back);  // < reserved * per_token: exact
  micros tat_us = base.tat_us - b / den;
  std::int64_t tat_frac = base.tat_frac - b % den;
  if (tat_frac < 0) {
    tat_us -= 1;
    tat_frac += den;
  }
  state next{tat_us, tat_frac};
  if (tat_us < now) next = state{now, 0};  // never fuller than full
  return {next, expiry(next), true};
}

}  // namespace sluice::limit::bucket
