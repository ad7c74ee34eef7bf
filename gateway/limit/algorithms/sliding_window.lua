-- Lua mirror of sliding_window.hpp/.cpp: the two-window weighted counter, weighted in
-- whole milliseconds. Read it side by side with sliding_window.cpp. Pure: no redis.call.
--
-- state: { window_start, current, previous }. p: limit_params { count, period }.

local sliding_window = {}
do
  local div, mod = decision.div, decision.mod
  local us_per_ms = 1000

  function sliding_window.fresh()
    return { window_start = 0, current = 0, previous = 0 }
  end

  -- Smallest elapsed-ms into a window at which previous * (P - el) <= room * P holds.
  local function first_passing_ms(previous, room, period_ms)
    if previous == 0 then return 0 end
    local target = period_ms - div(room * period_ms, previous)
    if target < 0 then return 0 end
    return target
  end

  function sliding_window.evaluate(p, s, now, cost)
    local period = p.period
    local period_ms = div(period, us_per_ms)
    local start = now - mod(now, period)
    -- The window the stored counts belong to under these params: a state written with
    -- another period (reload, tier change) is counted in the window that contains it.
    local stored = s.window_start - mod(s.window_start, period)
    if stored > start then start = stored end  -- clock stepped back
    local elapsed = now > start and now - start or 0
    local elapsed_ms = div(elapsed, us_per_ms)

    local current, previous = 0, 0
    if stored == start then
      current = s.current
      previous = s.previous
    elseif stored == start - period then
      previous = s.current
    end

    -- Weighted usage in "unit-milliseconds"; N * period_ms is the capacity.
    local capacity = p.count * period_ms
    local carried = previous * (period_ms - elapsed_ms)
    local function remaining_of(cur)
      local left = capacity - carried - cur * period_ms
      if left <= 0 then return 0 end
      return div(left, period_ms)
    end
    local function until_empty(cur)
      if cur > 0 then return start + 2 * period - now end
      if previous > 0 then return start + period - now end
      return 0
    end

    local r = { verdict = decision.new(p.count), next = s, expires_at = 0 }

    if cost > p.count then
      r.verdict.cost_exceeds_limit = true
      r.verdict.remaining = remaining_of(current)
      r.verdict.reset = until_empty(current)
      r.verdict.retry_after = period
      r.expires_at = now + r.verdict.reset
      return r
    end

    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and carried + (current + cost) * period_ms > capacity then
      r.verdict.remaining = remaining_of(current)
      r.verdict.reset = until_empty(current)
      if current + cost <= p.count then
        -- Passes later in this window, once enough of the previous one has slid out.
        local at_ms = first_passing_ms(previous, p.count - current - cost, period_ms)
        r.verdict.retry_after = start + at_ms * us_per_ms - now
      else
        -- Only in the next window, where `current` becomes the weighted previous.
        local at_ms = first_passing_ms(current, p.count - cost, period_ms)
        r.verdict.retry_after = start + period + at_ms * us_per_ms - now
      end
      r.expires_at = now + r.verdict.reset
      return r
    end

    local admitted = current + cost
    r.next = { window_start = start, current = admitted, previous = previous }
    r.verdict.allowed = true
    r.verdict.remaining = remaining_of(admitted)
    r.verdict.reset = until_empty(admitted)
    r.expires_at = now + r.verdict.reset  -- a peek on an idle key leaves it idle
    return r
  end
end
