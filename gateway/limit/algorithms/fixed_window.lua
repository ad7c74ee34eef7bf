-- Lua mirror of fixed_window.hpp/.cpp: at most N units per window, windows aligned to
-- the epoch or to a calendar period's origin. Read it side by side with
-- fixed_window.cpp. Pure: no redis.call.
--
-- state: { window_start, count }. p: limit_params { count, period, origin }.
-- evaluate() fills the caller's result r (decision.new_result()) and returns it.

local fixed_window = {}
do
  local mod, max = decision.mod, decision.max

  function fixed_window.fresh(s)
    s.window_start = 0
    s.count = 0
    return s
  end

  -- Start of the window [origin + k * period, ...) that holds t (floored: t may
  -- precede origin when the calendar period was worked out on a clock ahead of Redis's).
  function fixed_window.window_of(p, t)
    local offset = mod(t - p.origin, p.period)
    if offset < 0 then offset = offset + p.period end
    return t - offset
  end
  local window_of = fixed_window.window_of

  function fixed_window.evaluate(p, s, now, cost, r)
    local start = window_of(p, now)
    -- The window the stored count belongs to under these params: a state written with
    -- another period (reload, tier change, the previous calendar period) is counted in
    -- the window that contains it.
    local stored = window_of(p, s.window_start)
    -- A clock that stepped back stays in the newer window it already counted in.
    if stored > start then start = stored end
    local window_end = start + p.period
    local used = stored == start and s.count or 0
    -- A lowered limit may leave more used than it allows; never report below zero.
    local left = max(p.count - used, 0)

    local v = decision.reset(r.verdict, p.count)
    local next = r.next
    next.window_start, next.count = s.window_start, s.count
    r.expires_at = window_end
    v.reset = window_end - now

    if cost > p.count then
      v.cost_exceeds_limit = true
      v.remaining = left
      v.retry_after = p.period
      return r
    end
    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and used + cost > p.count then
      v.remaining = left
      v.retry_after = window_end - now  -- the next window starts empty
      return r
    end
    next.window_start, next.count = start, used + cost
    v.allowed = true
    v.remaining = max(left - cost, 0)
    return r
  end

  -- fixed_window.cpp's settle(): a charge of `reserved` at charged_at turned out to cost
  -- `actual`. Changes s in place; returns whether it changed.
  function fixed_window.settle(p, s, charged_at, reserved, actual, now)
    local window = window_of(p, charged_at)
    local stored = window_of(p, s.window_start)
    local delta = actual
    if delta > reserved + p.count then delta = reserved + p.count end
    delta = delta - reserved
    if delta == 0 then return false end
    if stored == window then
      if delta < 0 and s.count <= 0 then return false end
      s.count = max(s.count + delta, 0)
      return true
    end
    if stored < window and delta > 0 and window_of(p, now) == window then
      s.window_start, s.count = window, delta
      return true
    end
    return false
  end
end
