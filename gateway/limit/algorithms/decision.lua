-- Lua mirror of decision.hpp: the decision record and the integer arithmetic the
-- five algorithm mirrors share. First in the Redis code (redis/decide_script.cpp), so
-- every later file sees these locals.
--
-- Lua 5.1 (Redis) numbers are doubles. Every value the algorithms handle is an
-- integer below 2^53 (limit_params::exact()), where +, -, * and comparisons are
-- exact but `/` rounds. C++'s `/` and `%` are rebuilt on math.fmod, which is exact
-- by construction (the remainder of two doubles is always representable) and
-- truncates toward zero like C++, rather than on floor(a / b), whose exactness
-- below 2^53 rests on a rounding argument and which floors negative values.
--
-- These files are loaded once as a Redis Functions library: their top level runs at
-- FUNCTION LOAD, where Redis exposes no standard library (no math, string or struct),
-- so it only defines functions and tables; the functions look globals up when they
-- run. They allocate nothing per call: each evaluation writes into a result the
-- caller owns and reuses (a C++ return value becomes a table filled in place).

local decision = {}
do
  -- C++ `a % b` (sign of a): exact for integers below 2^53.
  function decision.mod(a, b)
    return math.fmod(a, b)
  end

  -- C++ `a / b` (truncated toward zero): a - a % b is an exact multiple of b, so
  -- the double quotient is the exact integer.
  function decision.div(a, b)
    return (a - math.fmod(a, b)) / b
  end

  -- Rounds a positive a / b up; 0 for a <= 0 (bucket.cpp's ceil_div, computed
  -- without its a + b - 1, which could leave the exact range).
  function decision.ceil_div(a, b)
    if a <= 0 then return 0 end
    local r = math.fmod(a, b)
    if r ~= 0 then return (a - r) / b + 1 end
    return a / b
  end

  function decision.max(a, b)
    if a > b then return a end
    return b
  end

  -- struct decision: the outcome of one limit for one request. new() makes one,
  -- reset() makes a used one equal to a new one again (every field is set).
  function decision.reset(v, limit)
    v.allowed = false
    v.cost_exceeds_limit = false  -- the cost can never fit in this limit
    v.limit = limit               -- capacity (buckets) or N (windows)
    v.remaining = 0               -- whole units left after this request (or now, if denied)
    v.reset = 0                   -- until fully replenished / window end
    v.retry_after = 0             -- denied: smallest wait after which this request passes
    v.delay = 0                   -- leaky_bucket shaping: allowed, but hold this long first
    return v
  end

  function decision.new(limit)
    return decision.reset({}, limit)
  end

  -- A C++ `result` (verdict, next state, expires_at) to evaluate into; `next` holds
  -- the fields of whichever algorithm's state last used it.
  function decision.new_result()
    return { verdict = decision.new(0), next = {}, expires_at = 0 }
  end
end
