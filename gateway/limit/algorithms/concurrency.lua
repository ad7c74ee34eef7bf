-- Lua mirror of concurrency.hpp/.cpp's verdict_for: at most N requests of one key in
-- flight. Read it side by side with concurrency.cpp. Pure: no redis.call. The state
-- (a sorted set, one member per held slot scored by its lease's end) is decide.lua's.
--
-- p: limit_params { count }. evaluate() fills the caller's result r
-- (decision.new_result()) for `held` slots held and returns it.

local concurrency = {}
do
  local max = decision.max
  concurrency.retry_after = 1000000  -- a slot may free at any moment: retry after a second

  function concurrency.evaluate(p, held, cost, r)
    local v = decision.reset(r.verdict, p.count)
    -- A lowered max may leave more held than it allows; never report below zero.
    local left = max(p.count - held, 0)
    if cost > p.count then
      v.cost_exceeds_limit = true
      v.remaining = left
      v.retry_after = concurrency.retry_after
      return r
    end
    -- A peek (cost 0) takes nothing, so it always passes.
    if cost > 0 and held + cost > p.count then
      v.remaining = left
      v.retry_after = concurrency.retry_after
      v.reset = concurrency.retry_after  -- what the reset headers say: when to look again
      return r
    end
    v.allowed = true
    v.remaining = max(left - cost, 0)
    return r
  end
end
