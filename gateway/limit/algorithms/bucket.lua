-- Lua mirror of bucket.hpp/.cpp: token_bucket and leaky_bucket in GCRA form. Read it
-- side by side with bucket.cpp: same names, same order, same branches. Pure: no
-- redis.call; redis/decide.lua loads the state and stores `next`.
--
-- state: { tat_us, tat_frac }, tat = tat_us + tat_frac / interval_den microseconds.
-- p: limit_params { burst, interval_num, interval_den, max_delay }.

local bucket = {}
do
  local div, mod, ceil_div = decision.div, decision.mod, decision.ceil_div

  function bucket.fresh()
    return { tat_us = 0, tat_frac = 0 }
  end

  function bucket.evaluate(p, s, now, cost)
    local den = p.interval_den  -- debt units per microsecond
    local per_token = p.interval_num  -- debt units per token
    local horizon = p.burst * per_token  -- debt of an empty bucket

    -- A state written under other params (reload, tier change) may hold a fraction in
    -- another denominator; it was < 1 us there, so round it up to the next microsecond.
    local base
    if s.tat_frac < den then
      base = { tat_us = s.tat_us, tat_frac = s.tat_frac }
    else
      base = { tat_us = s.tat_us + 1, tat_frac = 0 }
    end
    -- Debt at `now`: how far tat lies in the future, 0 when the bucket is full.
    if base.tat_us < now or (base.tat_us == now and base.tat_frac == 0) then
      base = { tat_us = now, tat_frac = 0 }
    end
    local debt = (base.tat_us - now) * den + base.tat_frac

    local r = { verdict = decision.new(p.burst), next = s, expires_at = 0 }

    local function tokens_left(d) return div(horizon - d, per_token) end
    local function until_full(d) return ceil_div(d, den) end
    local function stored_expiry()
      if s.tat_frac > 0 then return s.tat_us + 1 end
      return s.tat_us
    end

    if cost > p.burst then
      r.verdict.cost_exceeds_limit = true
      r.verdict.remaining = debt > horizon and 0 or tokens_left(debt)
      r.verdict.reset = until_full(debt)
      r.verdict.retry_after = ceil_div(horizon, den)
      r.expires_at = stored_expiry()
      return r
    end

    local charged = debt + cost * per_token
    local excess = charged - horizon  -- > 0: does not conform now
    local wait = ceil_div(excess, den)

    -- A peek (cost 0) takes nothing, so it always passes and is never held.
    local over = cost > 0 and excess > 0
    if over and wait > p.max_delay then
      r.verdict.remaining = debt > horizon and 0 or tokens_left(debt)
      r.verdict.reset = until_full(debt)
      -- With shaping the request passes as soon as its hold would fit in max_delay.
      r.verdict.retry_after = wait - p.max_delay
      r.expires_at = stored_expiry()
      return r
    end

    local frac = base.tat_frac + cost * per_token
    r.next = { tat_us = base.tat_us + div(frac, den), tat_frac = mod(frac, den) }
    r.verdict.allowed = true
    r.verdict.delay = over and wait or 0
    r.verdict.remaining = excess > 0 and 0 or tokens_left(charged)
    r.verdict.reset = until_full(charged)
    r.expires_at = r.next.tat_us + (r.next.tat_frac > 0 and 1 or 0)
    return r
  end
end
