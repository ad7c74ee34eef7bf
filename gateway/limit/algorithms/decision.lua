-- Lua mirror of decision.hpp: the decision record and the integer arithmetic the
-- five algorithm mirrors share. Concatenated into the Redis script by
-- redis/decide_script.cpp, first, so every later file sees these locals.
--
-- Lua 5.1 (Redis) numbers are doubles. Every value the algorithms handle is an
-- integer below 2^53 (limit_params::exact()), where +, -, * and comparisons are
-- exact but `/` rounds. C++'s `/` and `%` are rebuilt on math.fmod, which is exact
-- by construction (the remainder of two doubles is always representable) and
-- truncates toward zero like C++, rather than on floor(a / b), whose exactness
-- below 2^53 rests on a rounding argument and which floors negative values.

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
    local q = decision.div(a, b)
    if math.fmod(a, b) ~= 0 then q = q + 1 end
    return q
  end

  function decision.max(a, b)
    if a > b then return a end
    return b
  end

  -- struct decision: the outcome of one limit for one request.
  function decision.new(limit)
    return {
      allowed = false,
      cost_exceeds_limit = false,  -- the cost can never fit in this limit
      limit = limit,               -- capacity (buckets) or N (windows)
      remaining = 0,               -- whole units left after this request (or now, if denied)
      reset = 0,                   -- until fully replenished / window end
      retry_after = 0,             -- denied: smallest wait after which this request passes
      delay = 0,                   -- leaky_bucket shaping: allowed, but hold this long first
    }
  end
end
