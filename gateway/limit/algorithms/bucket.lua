-- Lua mirror of bucket.hpp/.cpp: token_bucket and leaky_bucket in GCRA form. Read it
-- side by side with bucket.cpp: same names, same order, same branches. Pure: no
-- redis.call; redis/decide.lua loads the state and stores `next`.
--
-- state: { tat_us, tat_frac }, tat = tat_us + tat_frac / interval_den microseconds.
-- p: limit_params { burst, interval_num, interval_den, max_delay }.
-- evaluate() fills the caller's result r (decision.new_result()) and returns it.
-- bucket.cpp's lambdas are written out: tokens_left(d) = div(horizon - d, per_token),
-- until_full(d) = ceil_div(d, den). On the path of an admitted request (every request
-- of a limit with room) div, mod and ceil_div are spelled out on math.fmod as
-- decision.lua defines them, and the verdict is reset in place: a Lua call costs Redis
-- more than the arithmetic (measured: 0.15 us per limit and call).

local bucket = {}
do
  local div, mod, ceil_div = decision.div, decision.mod, decision.ceil_div

  function bucket.fresh(s)
    s.tat_us = 0
    s.tat_frac = 0
    return s
  end

  function bucket.evaluate(p, s, now, cost, r)
    local fmod = math.fmod
    local den = p.interval_den  -- debt units per microsecond
    local per_token = p.interval_num  -- debt units per token
    local horizon = p.burst * per_token  -- debt of an empty bucket

    -- A state written under other params (reload, tier change) may hold a fraction in
    -- another denominator; it was < 1 us there, so round it up to the next microsecond.
    local base_us, base_frac = s.tat_us, s.tat_frac
    if base_frac >= den then base_us, base_frac = s.tat_us + 1, 0 end
    -- Debt at `now`: how far tat lies in the future, 0 when the bucket is full.
    if base_us < now or (base_us == now and base_frac == 0) then base_us, base_frac = now, 0 end
    local debt = (base_us - now) * den + base_frac

    local v = r.verdict  -- decision.reset(): every branch below sets the other fields
    v.allowed, v.cost_exceeds_limit, v.limit, v.delay = false, false, p.burst, 0
    local next = r.next
    next.tat_us, next.tat_frac = s.tat_us, s.tat_frac

    if cost > p.burst then
      v.cost_exceeds_limit = true
      v.remaining = debt > horizon and 0 or div(horizon - debt, per_token)
      v.reset = ceil_div(debt, den)
      v.retry_after = ceil_div(horizon, den)
      r.expires_at = s.tat_us + (s.tat_frac > 0 and 1 or 0)
      return r
    end

    local charged = debt + cost * per_token
    local excess = charged - horizon  -- > 0: does not conform now
    local wait = ceil_div(excess, den)

    -- A peek (cost 0) takes nothing, so it always passes and is never held.
    local over = cost > 0 and excess > 0
    if over and wait > p.max_delay then
      v.remaining = debt > horizon and 0 or div(horizon - debt, per_token)
      v.reset = ceil_div(debt, den)
      -- With shaping the request passes as soon as its hold would fit in max_delay.
      v.retry_after = wait - p.max_delay
      r.expires_at = s.tat_us + (s.tat_frac > 0 and 1 or 0)
      return r
    end

    local frac = base_frac + cost * per_token
    local frac_rem = fmod(frac, den)
    next.tat_us, next.tat_frac = base_us + (frac - frac_rem) / den, frac_rem  -- div, mod
    v.allowed = true
    v.delay = over and wait or 0
    v.retry_after = 0
    if excess > 0 then
      v.remaining = 0
    else
      local left = horizon - charged
      v.remaining = (left - fmod(left, per_token)) / per_token  -- div(horizon - charged, per_token)
    end
    local up = fmod(charged, den)  -- ceil_div(charged, den), charged >= 0
    v.reset = (charged - up) / den + (up ~= 0 and 1 or 0)
    r.expires_at = next.tat_us + (next.tat_frac > 0 and 1 or 0)
    return r
  end

  -- bucket.cpp's settle(): a charge of `reserved` at charged_at turned out to cost
  -- `actual`. Changes s in place; returns whether it changed.
  function bucket.settle(p, s, charged_at, reserved, actual, now)
    local den, per_token = p.interval_den, p.interval_num
    local horizon = p.burst * per_token
    local base_us, base_frac = s.tat_us, s.tat_frac
    if base_frac >= den then base_us, base_frac = base_us + 1, 0 end  -- as evaluate reads it
    local full = base_us < now or (base_us == now and base_frac == 0)
    if actual > reserved then
      if full then base_us, base_frac = now, 0 end
      local debt = (base_us - now) * den + base_frac
      local capped = debt + (actual - reserved) * per_token
      if capped > 2 * horizon then capped = 2 * horizon end
      if capped <= debt then return false end
      s.tat_us, s.tat_frac = now + div(capped, den), mod(capped, den)
      return true
    end
    if actual == reserved or full or now < charged_at then return false end
    local held = reserved * per_token
    local elapsed = now - charged_at
    if elapsed >= ceil_div(held, den) then return false end  -- refill absorbed it all
    local back = held - elapsed * den  -- exact: below held + den
    local want = (reserved - actual) * per_token
    if want < back then back = want end
    if back <= 0 then return false end
    local tat_us, tat_frac = base_us - div(back, den), base_frac - mod(back, den)
    if tat_frac < 0 then tat_us, tat_frac = tat_us - 1, tat_frac + den end
    if tat_us < now then tat_us, tat_frac = now, 0 end  -- never fuller than full
    s.tat_us, s.tat_frac = tat_us, tat_frac
    return true
  end
end
