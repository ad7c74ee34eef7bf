-- Lua mirror of sliding_window.hpp/.cpp: the two-window weighted counter, weighted in
-- whole milliseconds. Read it side by side with sliding_window.cpp. Pure: no redis.call.
--
-- state: { window_start, current, previous }. p: limit_params { count, period }.
-- evaluate() fills the caller's result r (decision.new_result()) and returns it.

local sliding_window = {}
do
  local div, mod = decision.div, decision.mod
  local us_per_ms = 1000

  function sliding_window.fresh(s)
    s.window_start = 0
    s.current = 0
    s.previous = 0
    return s
  end

  -- Smallest elapsed-ms into a window at which previous * (P - el) <= room * P holds.
  local function first_passing_ms(previous, room, period_ms)
    if previous == 0 then return 0 end
    local target = period_ms - div(room * period_ms, previous)
    if target < 0 then return 0 end
    return target
  end

  -- sliding_window.cpp's lambdas, with what they capture passed in.
  local function remaining_of(capacity, carried, period_ms, cur)
    local left = capacity - carried - cur * period_ms
    if left <= 0 then return 0 end
    return div(left, period_ms)
  end
  local function until_empty(start, period, now, previous, cur)
    if cur > 0 then return start + 2 * period - now end
    if previous > 0 then return start + period - now end
    return 0
  end

  function sliding_window.evaluate(p, s, now, cost, r)
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

    local v = decision.reset(r.verdict, p.count)
    local next = r.next
    next.window_start, next.current, next.previous = s.window_start, s.current, s.previous

    if cost > p.count then
      v.cost_exceeds_limit = true
      v.remaining = remaining_of(capacity, carried, period_ms, current)
      v.reset = until_empty(start, period, now, previous, current)
      v.retry_after = period
      r.expires_at = now + v.reset
      return r
    end

    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and carried + (current + cost) * period_ms > capacity then
      v.remaining = remaining_of(capacity, carried, period_ms, current)
      v.reset = until_empty(start, period, now, previous, current)
      if current + cost <= p.count then
        -- Passes later in this window, once enough of the previous one has slid out.
        local at_ms = first_passing_ms(previous, p.count - current - cost, period_ms)
        v.retry_after = start + at_ms * us_per_ms - now
      else
        -- Only in the next window, where `current` becomes the weighted previous.
        local at_ms = first_passing_ms(current, p.count - cost, period_ms)
        v.retry_after = start + period + at_ms * us_per_ms - now
      end
      r.expires_at = now + v.reset
      return r
    end

    local admitted = current + cost
    next.window_start, next.current, next.previous = start, admitted, previous
    v.allowed = true
    v.remaining = remaining_of(capacity, carried, period_ms, admitted)
    v.reset = until_empty(start, period, now, previous, admitted)
    r.expires_at = now + v.reset  -- a peek on an idle key leaves it idle
    return r
  end
end
