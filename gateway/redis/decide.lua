-- The Redis decision (SPEC 5 all-or-nothing, SPEC 7): one script call evaluates every
-- limit of a request against the Redis clock and charges them atomically. Appended by
-- redis/decide_script.cpp after decision.lua, bucket.lua, fixed_window.lua,
-- sliding_window.lua and sliding_log.lua, whose pure functions it drives; this file
-- holds every redis.call. It mirrors memory_store::decide: evaluate all, then, only if
-- every non-shadow limit allows, store the next state of every limit that allows.
--
-- KEYS[i]: the state key of limit i (every key touched is in KEYS: cluster-clean).
-- ARGV[1]: "1" = peek (cost 0, writes nothing: the admin API), "0" = decide.
-- ARGV[2 + 9*(i-1) ...]: limit i as 9 integers: algorithm (enum value: 0 token_bucket,
--   1 leaky_bucket, 2 fixed_window, 3 sliding_window, 4 sliding_log), count, period_us,
--   burst, max_delay_us, interval_num, interval_den, cost, shadow (0/1).
-- ARGV[2 + 9*n] (optional, tests only): "now" in microseconds, used instead of TIME when
--   non-empty. The gateway never sends it.
--
-- Reply: a flat array of integers: admitted (0/1), now_us, then per limit the fields of
-- struct decision in order: allowed (0/1), cost_exceeds_limit (0/1), limit, remaining,
-- reset_us, retry_after_us, delay_us.
--
-- State, one key per limit; string values start with the algorithm's tag, so state
-- written by another algorithm (the limit changed at reload) reads as fresh, as the
-- memory store's slot tag does:
--   token_bucket "tb <tat_us> <tat_frac>", leaky_bucket "lb <tat_us> <tat_frac>",
--   fixed_window "fw <window_start> <count>",
--   sliding_window "sw <window_start> <current> <previous>",
--   sliding_log a sorted set, one member per admitted unit: score = time, member =
--   "<time>:<seq>" with seq zero-padded so members at one time sort by seq.
-- Every write sets an expiry just after the state turns equal to a fresh key's.

local fields_per_limit = 9
local expiry_margin_ms = 1000  -- keys outlive their state a little: never expire early

local algorithms = { [0] = 'token_bucket', 'leaky_bucket', 'fixed_window', 'sliding_window',
                     'sliding_log' }
local tags = { token_bucket = 'tb', leaky_bucket = 'lb', fixed_window = 'fw',
               sliding_window = 'sw' }

-- Integers go to Redis as decimal text: redis.call would format a number with %.17g,
-- and every value here is an integral double below 2^53, printed exactly by %d.
local function int(x)
  return string.format('%d', x)
end

local function now_us(override)
  if override ~= nil and override ~= '' then return tonumber(override) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- ---- string state (buckets and windows) ----

-- Returns the stored fields, or nil when the key is absent or holds another
-- algorithm's state (another tag, or another type: pcall turns WRONGTYPE into nil).
local function read_fields(key, tag, count)
  local value = redis.pcall('GET', key)
  if type(value) ~= 'string' then return nil end
  local fields = {}
  for word in string.gmatch(value, '%S+') do fields[#fields + 1] = word end
  if fields[1] ~= tag or #fields ~= count + 1 then return nil end
  for i = 2, #fields do
    local v = tonumber(fields[i])
    if v == nil then return nil end
    fields[i - 1] = v
  end
  fields[count + 1] = nil
  return fields
end

local codecs = {}
codecs.bucket = {
  load = function(key, tag)
    local f = read_fields(key, tag, 2)
    if f == nil then return bucket.fresh(), false end
    return { tat_us = f[1], tat_frac = f[2] }, true
  end,
  encode = function(tag, s)
    return tag .. ' ' .. int(s.tat_us) .. ' ' .. int(s.tat_frac)
  end,
}
codecs.fixed_window = {
  load = function(key, tag)
    local f = read_fields(key, tag, 2)
    if f == nil then return fixed_window.fresh(), false end
    return { window_start = f[1], count = f[2] }, true
  end,
  encode = function(tag, s)
    return tag .. ' ' .. int(s.window_start) .. ' ' .. int(s.count)
  end,
}
codecs.sliding_window = {
  load = function(key, tag)
    local f = read_fields(key, tag, 3)
    if f == nil then return sliding_window.fresh(), false end
    return { window_start = f[1], current = f[2], previous = f[3] }, true
  end,
  encode = function(tag, s)
    return tag .. ' ' .. int(s.window_start) .. ' ' .. int(s.current) .. ' ' .. int(s.previous)
  end,
}

-- ---- sorted-set state (sliding_log) ----

-- The log of `key` as sliding_log.lua reads it, fetching entries by rank on demand.
-- `owned` is false when the key holds another algorithm's string state.
local function open_log(key)
  local size = redis.pcall('ZCARD', key)
  local owned = type(size) == 'number'
  if not owned then size = 0 end
  local cache = {}
  local log = { owned = owned }
  local function entry(i)
    local e = cache[i]
    if e == nil then
      local reply = redis.call('ZRANGE', key, int(i), int(i), 'WITHSCORES')
      e = { member = reply[1], t = tonumber(reply[2]) }
      cache[i] = e
    end
    return e
  end
  function log:size() return size end
  function log:at(i) return entry(i).t end
  function log:newest()
    if size == 0 then return 0 end
    return entry(size - 1).t
  end
  -- The highest seq already used at time t (members at one time are unique by seq).
  function log:last_seq_at(t)
    if size == 0 or entry(size - 1).t ~= t then return 0 end
    return tonumber(string.match(entry(size - 1).member, ':(%d+)$')) or 0
  end
  return log
end

local zadd_batch = 500  -- pairs per ZADD: unpack() of a huge table overflows Lua's C stack

local function apply_log_commit(key, log, plan, ttl_ms)
  if not log.owned then redis.call('DEL', key) end  -- another algorithm's string state
  local seq = log:last_seq_at(plan.stamp)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(plan.drop_through))
  local score = int(plan.stamp)
  local args = {}
  for i = 1, plan.add do
    seq = seq + 1
    args[#args + 1] = score
    args[#args + 1] = string.format('%s:%010d', score, seq)
    if #args == 2 * zadd_batch or i == plan.add then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  redis.call('ZREMRANGEBYRANK', key, '0', int(-(plan.keep + 1)))
  redis.call('PEXPIRE', key, int(ttl_ms))
end

-- ---- the decision ----

local n = #KEYS
if #ARGV ~= 1 + fields_per_limit * n and #ARGV ~= 2 + fields_per_limit * n then
  return redis.error_reply('ERR sluice decide: expected 1 + 9 * #KEYS arguments (+ now)')
end
local peek = ARGV[1] == '1'
local now = now_us(ARGV[2 + fields_per_limit * n])

local checks = {}
for i = 1, n do
  local a = 1 + fields_per_limit * (i - 1)
  local function arg(k) return tonumber(ARGV[a + k]) end
  local algo = algorithms[arg(1)]
  if algo == nil then
    return redis.error_reply('ERR sluice decide: unknown algorithm ' .. tostring(ARGV[a + 1]))
  end
  checks[i] = {
    key = KEYS[i],
    algo = algo,
    params = { count = arg(2), period = arg(3), burst = arg(4), max_delay = arg(5),
               interval_num = arg(6), interval_den = arg(7) },
    cost = peek and 0 or arg(8),
    shadow = arg(9) == 1,
  }
end

-- Phase 1: evaluate every limit against its stored (or fresh) state; change nothing.
local admitted = true
for _, c in ipairs(checks) do
  if c.algo == 'sliding_log' then
    c.log = open_log(c.key)
    c.result = sliding_log.evaluate(c.params, c.log, now, c.cost)
    c.owned = c.log.owned
  else
    local family = (c.algo == 'token_bucket' or c.algo == 'leaky_bucket') and 'bucket' or c.algo
    local evaluate = ({ bucket = bucket, fixed_window = fixed_window,
                        sliding_window = sliding_window })[family].evaluate
    c.codec = codecs[family]
    local state
    state, c.owned = c.codec.load(c.key, tags[c.algo])
    c.result = evaluate(c.params, state, now, c.cost)
  end
  admitted = admitted and (c.result.verdict.allowed or c.shadow)
end

-- Phase 2: charge every limit that allows, only if the request is admitted.
if admitted and not peek then
  for _, c in ipairs(checks) do
    local r = c.result
    if r.verdict.allowed then
      if r.expires_at <= now then
        -- The charged state already equals a fresh one (a cost of 0): keep no key. A key
        -- holding another algorithm's state is not this limit's to drop.
        if c.owned then redis.call('DEL', c.key) end
      else
        local ttl_ms = decision.ceil_div(r.expires_at - now, 1000) + expiry_margin_ms
        if c.algo == 'sliding_log' then
          apply_log_commit(c.key, c.log, sliding_log.commit(c.params, c.log, now, c.cost), ttl_ms)
        else
          redis.call('SET', c.key, c.codec.encode(tags[c.algo], r.next), 'PX', int(ttl_ms))
        end
      end
    end
  end
end

local reply = { admitted and 1 or 0, now }
for _, c in ipairs(checks) do
  local v = c.result.verdict
  reply[#reply + 1] = v.allowed and 1 or 0
  reply[#reply + 1] = v.cost_exceeds_limit and 1 or 0
  reply[#reply + 1] = v.limit
  reply[#reply + 1] = v.remaining
  reply[#reply + 1] = v.reset
  reply[#reply + 1] = v.retry_after
  reply[#reply + 1] = v.delay
end
return reply
