-- Lua mirror of fixed_window.hpp/.cpp: at most N units per epoch-aligned window.
-- Read it side by side with fixed_window.cpp. Pure: no redis.call.
--
-- state: { window_start, count }. p: limit_params { count, period }.

local fixed_window = {}
do
  local mod, max = decision.mod, decision.max

  function fixed_window.fresh()
    return { window_start = 0, count = 0 }
  end

  function fixed_window.evaluate(p, s, now, cost)
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

    local r = { verdict = decision.new(p.count), next = s, expires_at = window_end }
    r.verdict.reset = window_end - now

    if cost > p.count then
      r.verdict.cost_exceeds_limit = true
      r.verdict.remaining = left
      r.verdict.retry_after = p.period
      return r
    end
    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and used + cost > p.count then
      r.verdict.remaining = left
      r.verdict.retry_after = window_end - now  -- the next window starts empty
      return r
    end
    r.next = { window_start = start, count = used + cost }
    r.verdict.allowed = true
    r.verdict.remaining = max(left - cost, 0)
    return r
  end
end
