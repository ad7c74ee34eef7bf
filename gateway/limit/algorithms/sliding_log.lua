-- Lua mirror of sliding_log.hpp/.cpp: the exact log of admitted units. Read it side
-- by side with sliding_log.cpp. Pure: no redis.call.
--
-- `entries` is the log, oldest first, seen through the same three calls as the C++
-- class: entries:size(), entries:at(i) (0 = oldest) and entries:newest() (0 when
-- empty). redis/decide.lua backs it with a sorted set: a small log is read in one
-- call, a large one by rank on demand, so an evaluation reads O(log N) entries.
-- p: limit_params { count, period }. evaluate() fills the caller's result r
-- (decision.new_result(); `next` is unused: the log itself is the state) and returns it.

local sliding_log = {}
do
  local div, max = decision.div, decision.max

  -- Index of the oldest entry still inside the window (t > now - P); entries are sorted.
  local function first_in_window(entries, now, period)
    local lo, hi = 0, entries:size()
    while lo < hi do
      local mid = div(lo + hi, 2)
      if entries:at(mid) > now - period then
        hi = mid
      else
        lo = mid + 1
      end
    end
    return lo
  end

  -- Decides without changing the log. An empty log is a fresh key.
  function sliding_log.evaluate(p, entries, now, cost, r)
    local first = first_in_window(entries, now, p.period)
    local used = entries:size() - first
    local newest = entries:newest()

    local v = decision.reset(r.verdict, p.count)
    v.reset = used > 0 and newest + p.period - now or 0
    r.expires_at = used > 0 and newest + p.period or now

    if cost > p.count then
      v.cost_exceeds_limit = true
      v.remaining = max(p.count - used, 0)
      v.retry_after = p.period
      return r
    end
    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and used + cost > p.count then
      -- The oldest (used + cost - N) entries must leave the window first.
      local blocking = entries:at(first + used + cost - p.count - 1)
      v.remaining = max(p.count - used, 0)
      v.retry_after = blocking + p.period - now
      return r
    end
    v.allowed = true
    v.remaining = max(p.count - used - cost, 0)
    if cost > 0 then  -- a peek adds no entry, so its reset and expiry stay those of the log
      local stamp = max(now, newest)
      v.reset = stamp + p.period - now
      r.expires_at = stamp + p.period
    end
    return r
  end

  -- Records an admitted request. C++ changes its ring in place; here the change is
  -- returned as plain values for the caller to apply, in this order:
  --   forget every entry at or before `drop_through` (outside the window ending at
  --   the newest entry, not at `now`: after a peek far ahead, a clock stepping back
  --   must still see those entries), append `add` entries at `stamp` (never earlier
  --   than the newest entry: times stay sorted), keep only the newest `keep`.
  -- The C++ ring resizes to N before dropping and drops its oldest entry on each push
  -- when full; both keep a suffix of the same sorted log, so keeping the newest N last
  -- leaves the same entries.
  function sliding_log.commit(p, entries, now, cost)
    local stamp = max(now, entries:newest())
    local newest = cost > 0 and stamp or entries:newest()
    return { drop_through = newest - p.period, stamp = stamp, add = cost, keep = p.count }
  end
end
