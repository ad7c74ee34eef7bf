-- Lua mirror of fixed_window.hpp/.cpp: at most N units per epoch-aligned window.
-- Read it side by side with fixed_window.cpp. Pure: no redis.call.
--
-- state: { window_start, count }. p: limit_params { count, period }.
-- evaluate() fills the caller's result r (decision.new_result()) and returns it.

local fixed_window = {}
do
  local mod, max = decision.mod, decision.max

  function fixed_window.fresh(s)
    s.window_start = 0
    s.count = 0
    return s
  end

  function fixed_window.evaluate(p, s, now, cost, r)
    local start = now - mod(now, p.period)
    -- The window the stored count belongs to under these params: a state written with
    -- another period (reload, tier change) is counted in the window that contains it.
    local stored = s.window_start - mod(s.window_start, p.period)
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
end
