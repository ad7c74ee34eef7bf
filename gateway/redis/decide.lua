-- The Redis decision (SPEC 5 all-or-nothing, SPEC 7): one call evaluates every limit
-- of a request against the Redis clock and charges them atomically. Follows
-- decision.lua, bucket.lua, fixed_window.lua, sliding_window.lua, sliding_log.lua and
-- concurrency.lua (redis/decide_script.cpp assembles them), whose pure functions it
-- drives; this file holds every redis.call. It mirrors memory_store::decide: evaluate all, then, only if
-- every non-shadow limit allows, store the next state of every limit that allows.
--
-- It defines decide(keys, args, peek) and refund(keys, args) (at the end: the
-- compensating call of Redis Cluster). In the Functions library (Redis >= 7.0)
-- register.lua follows and registers them as <library>_decide (FCALL),
-- <library>_peek (FCALL_RO, flag no-writes) and <library>_refund (FCALL); the EVAL
-- scripts for servers without Functions end with `return decide(KEYS, ARGV, false)`
-- (or true: the peek script) or `return refund(KEYS, ARGV)` (the refund script).
--
-- keys[i]: the state key of limit i (every key touched is in keys: cluster-clean).
-- args[2i-1]: limit i's spec, 9 integers separated by single spaces: algorithm (0
--   token_bucket, 1 leaky_bucket, 2 fixed_window, 3 sliding_window, 4 sliding_log,
--   5 concurrency),
--   count, period_us, burst, max_delay_us, interval_num, interval_den, shadow (0/1),
--   origin_us (fixed_window: where its windows start; the calendar period of a quota
--   per day, week or month, else 0). A calendar quota's spec changes with its period.
--   A limit sends the same spec on every call; the library parses each spec once.
-- args[2i]: limit i's cost (a peek costs 0 whatever it says). A concurrency limit's is
--   "<cost> <lease id>": the member its slot is held under (unique per request, at
--   most 64 bytes of [A-Za-z0-9:._-]); the refund of that member gives the slot back.
-- args[2n + 1] (optional, tests only): "now" in microseconds, used instead of TIME when
--   non-empty. The gateway sends it empty when args[2n + 2] follows.
-- args[2n + 2] (optional): lease top-ups (issue 15, local quota leases), n integers
--   separated by single spaces: how many units beyond its cost limit i should also
--   charge for the calling gateway's lease, *when available*: after an admitted
--   request, a token_bucket, fixed_window or leaky_bucket without delay limit that
--   allowed charges grant = min(top-up, remaining) more units in the same write (its
--   reported decision is then the one for cost + grant). A top-up never denies and
--   never changes the verdict; shadow, sliding and shaping limits grant 0.
--
-- Reply: a flat array of integers: admitted (0/1), now_us, then per limit the fields of
-- struct decision in order: allowed (0/1), cost_exceeds_limit (0/1), limit, remaining,
-- reset_us, retry_after_us, delay_us; with top-ups, then per limit its grant.
--
-- State, one key per limit. Buckets and windows: a string of struct.pack('<B i8 i8 ..'):
-- a tag byte (1 token_bucket, 2 leaky_bucket, 3 fixed_window, 4 sliding_window), then
-- little-endian 64-bit integers: tat_us, tat_frac (buckets); window_start, count
-- (fixed_window); window_start, current, previous (sliding_window); then expiry_us, the
-- Redis time until which the key's expiry keeps it (25 bytes; sliding_window 33).
-- Decoding it costs a fraction of parsing decimal text (measured in Redis 7.0: ~0.1
-- against ~1.2 us per GET and SET). State of another algorithm (the limit changed at
-- reload) reads as fresh, as the memory store's slot tag does. The decimal text of
-- earlier versions ("tb <tat_us> <tat_frac>", "fw <window_start> <count>",
-- "sw <window_start> <current> <previous>") still reads as the state it is, so a
-- rolling upgrade keeps every client's state.
-- sliding_log: a sorted set, one member per admitted unit: score = time, member =
--   "<time>:<seq>" with seq zero-padded so members at one time sort by seq.
-- concurrency: a sorted set, one member per held slot: member = the lease id, score =
--   when its lease ends (acquired + period). Slots whose lease ended are not counted
--   (ZCOUNT from now) and are dropped by the next acquisition, so a gateway that died
--   holding slots loses them after the lease.
-- Every key has an expiry shortly after its state turns equal to a fresh key's (1 to 2
-- seconds after, for strings: the expiry is set with some slack and then kept).
--
-- Per call, buckets and windows create no table and no closure: specs are parsed once,
-- and the scratch tables below are reused (Redis runs one call at a time; nothing in
-- them outlives a call). TIME is read once per call.

local expiry_margin_ms = 1000  -- keys outlive their state a little: never expire early
-- A string state's expiry is set this much later than needed, and kept (SET KEEPTTL,
-- ~0.4 us cheaper than SET PX) while it still covers the state: at most one SET PX per
-- key and second, and a key lives at most margin + slack after its state turns fresh.
local expiry_slack_ms = 1000
local small_log = 32  -- a sliding log this short is read whole, in one call
local max_specs = 1000  -- specs remembered; a gateway sends one per limit and tier

-- ---- string state (buckets and windows) ----

local codecs = {}
codecs.bucket = {
  size = 25,
  decode = function(s, value)
    local _, expiry
    _, s.tat_us, s.tat_frac, expiry = struct.unpack('<Bi8i8i8', value)
    return expiry
  end,
  encode = function(tag, s, expiry)
    return struct.pack('<Bi8i8i8', tag, s.tat_us, s.tat_frac, expiry)
  end,
  decode_text = function(s, value, tag)
    local t, a, b = string.match(value, '^(%l%l) (%d+) (%d+)$')
    if t ~= tag then return false end
    s.tat_us, s.tat_frac = tonumber(a), tonumber(b)
    return true
  end,
}
codecs.fixed_window = {
  size = 25,
  decode = function(s, value)
    local _, expiry
    _, s.window_start, s.count, expiry = struct.unpack('<Bi8i8i8', value)
    return expiry
  end,
  encode = function(tag, s, expiry)
    return struct.pack('<Bi8i8i8', tag, s.window_start, s.count, expiry)
  end,
  decode_text = function(s, value, tag)
    local t, a, b = string.match(value, '^(%l%l) (%d+) (%d+)$')
    if t ~= tag then return false end
    s.window_start, s.count = tonumber(a), tonumber(b)
    return true
  end,
}
codecs.sliding_window = {
  size = 33,
  decode = function(s, value)
    local _, expiry
    _, s.window_start, s.current, s.previous, expiry = struct.unpack('<Bi8i8i8i8', value)
    return expiry
  end,
  encode = function(tag, s, expiry)
    return struct.pack('<Bi8i8i8i8', tag, s.window_start, s.current, s.previous, expiry)
  end,
  decode_text = function(s, value, tag)
    local t, a, b, c = string.match(value, '^(%l%l) (%d+) (%d+) (%d+)$')
    if t ~= tag then return false end
    s.window_start, s.current, s.previous = tonumber(a), tonumber(b), tonumber(c)
    return true
  end,
}

-- Algorithm numbers as they arrive (text): the pure module, the state codec, the tag
-- byte and the tag of the earlier text state.
local algorithms = {
  ['0'] = { module = bucket, codec = codecs.bucket, tag = 1, text_tag = 'tb' },
  ['1'] = { module = bucket, codec = codecs.bucket, tag = 2, text_tag = 'lb' },
  ['2'] = { module = fixed_window, codec = codecs.fixed_window, tag = 3, text_tag = 'fw' },
  ['3'] = { module = sliding_window, codec = codecs.sliding_window, tag = 4, text_tag = 'sw' },
  ['4'] = { module = sliding_log },
  ['5'] = { module = concurrency },
}

-- Fills s with the stored state of `spec`'s algorithm, or a fresh one when the key is
-- absent or holds another algorithm's state (another tag, or another type: pcall turns
-- WRONGTYPE into a table). Returns whether the key holds this algorithm's state, and
-- until when its expiry is known to keep it (0: unknown).
local function load_state(key, spec, s)
  local value = redis.pcall('GET', key)
  if type(value) == 'string' then
    local codec = spec.codec
    if #value == codec.size and string.byte(value) == spec.tag then
      return true, codec.decode(s, value)
    end
    if codec.decode_text(s, value, spec.text_tag) then return true, 0 end
  end
  spec.module.fresh(s)
  return false, 0
end

-- Stores a bucket or window state that turns fresh at `expires_at`, given the expiry
-- the key is known to have (0: unknown).
local function store_state(key, spec, state, expires_at, known_expiry, now)
  if known_expiry >= expires_at + expiry_margin_ms * 1000 then
    -- The key's expiry still keeps this state long enough.
    redis.call('SET', key, spec.codec.encode(spec.tag, state, known_expiry), 'KEEPTTL')
    return
  end
  -- Strings, not numbers, for redis.call: Redis 7 formats a number with fpconv, which
  -- costs more than string.format here.
  local ttl_ms = decision.ceil_div(expires_at - now, 1000) + expiry_margin_ms + expiry_slack_ms
  -- Recorded 1 ms short: Redis may count the TTL from a snapshot of its clock taken when
  -- the call began, a little before TIME.
  local expiry = now + (ttl_ms - 1) * 1000
  redis.call('SET', key, spec.codec.encode(spec.tag, state, expiry), 'PX',
      string.format('%d', ttl_ms))
end

-- ---- sorted-set state (sliding_log) ----

-- The log of one key as sliding_log.lua reads it: size(), at(i), newest(). `owned` is
-- false when the key holds another algorithm's string state.
local log_view = {}
log_view.__index = log_view

function log_view:size() return self.n end

function log_view:at(i)
  local t = self.times[i]
  if t == nil then
    local rank = string.format('%d', i)
    local reply = redis.call('ZRANGE', self.key, rank, rank, 'WITHSCORES')
    self.members[i] = reply[1]
    t = tonumber(reply[2])
    self.times[i] = t
  end
  return t
end

function log_view:newest()
  if self.n == 0 then return 0 end
  return self:at(self.n - 1)
end

-- The highest seq already used at time t (members at one time are unique by seq).
function log_view:last_seq_at(t)
  if self.n == 0 or self:newest() ~= t then return 0 end
  return tonumber(string.match(self.members[self.n - 1], ':(%d+)$')) or 0
end

-- Opens the log at `key` into `view` (a table from an earlier call, or nil): one
-- ZRANGE of the first small_log + 1 entries, plus ZCARD only for a longer log.
local function open_log(key, view)
  view = view or setmetatable({}, log_view)
  view.key = key
  view.times, view.members = {}, {}
  local head = redis.pcall('ZRANGE', key, '0', string.format('%d', small_log), 'WITHSCORES')
  view.owned = head.err == nil
  if not view.owned then
    view.n = 0
    return view
  end
  local fetched = #head / 2
  for i = 0, fetched - 1 do
    view.members[i] = head[2 * i + 1]
    view.times[i] = tonumber(head[2 * i + 2])
  end
  view.n = fetched
  if fetched > small_log then view.n = redis.call('ZCARD', key) end
  return view
end

local zadd_batch = 500  -- pairs per ZADD: unpack() of a huge table overflows Lua's C stack

local function apply_log_commit(key, log, plan, ttl_ms)
  if not log.owned then redis.call('DEL', key) end  -- another algorithm's string state
  local seq = log:last_seq_at(plan.stamp)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', plan.drop_through))
  local score = string.format('%d', plan.stamp)
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
  redis.call('ZREMRANGEBYRANK', key, '0', string.format('%d', -(plan.keep + 1)))
  redis.call('PEXPIRE', key, ttl_ms)
end

-- ---- sorted-set state (concurrency) ----

-- Holds one slot of `key` under slot.hold until now + period, dropping the slots whose
-- lease ended.
local function apply_hold(key, slot, now)
  if not slot.owned then redis.call('DEL', key) end  -- another algorithm's string state
  local period = slot.spec.period
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now))
  redis.call('ZADD', key, string.format('%d', now + period), slot.hold)
  redis.call('PEXPIRE', key,
      string.format('%d', decision.ceil_div(period, 1000) + expiry_margin_ms))
end

-- ---- limit specs ----

local specs, spec_count = {}, 0

-- The spec's params (a limit_params table plus module, codec, tags and shadow), or nil
-- and an error message.
local function parse_spec(text)
  local a, count, period, burst, max_delay, num, den, shadow, origin = string.match(text,
      '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+) ([01]) (%d+)$')
  if a == nil then return nil, 'ERR sluice decide: malformed limit spec "' .. text .. '"' end
  local algorithm = algorithms[a]
  if algorithm == nil then return nil, 'ERR sluice decide: unknown algorithm ' .. a end
  local spec = {
    module = algorithm.module, codec = algorithm.codec, tag = algorithm.tag,
    text_tag = algorithm.text_tag,
    count = tonumber(count), period = tonumber(period), burst = tonumber(burst),
    max_delay = tonumber(max_delay), interval_num = tonumber(num), interval_den = tonumber(den),
    shadow = shadow == '1', origin = tonumber(origin),
  }
  if spec.count < 1 or spec.period < 1 or spec.interval_num < 1 or spec.interval_den < 1 or
      (spec.module == bucket and spec.burst < 1) then
    return nil, 'ERR sluice decide: limit spec out of range "' .. text .. '"'
  end
  if spec_count >= max_specs then specs, spec_count = {}, 0 end
  specs[text] = spec
  spec_count = spec_count + 1
  return spec
end

-- A limit's cost argument: the cost, and for a concurrency limit the lease id its slot
-- is held under ("<cost> <lease id>"); nil when malformed.
local function parse_cost(spec, text)
  if spec.module == concurrency then
    local c, hold = string.match(text, '^(%d+) ([%w:._-]+)$')
    if c == nil or #hold > 64 then return nil end
    return tonumber(c), hold
  end
  local cost = tonumber(text)
  if cost == nil or cost < 0 or cost ~= math.floor(cost) then return nil end
  return cost, nil
end

-- ---- the decision ----

local slots = {}  -- per limit position: the state and result tables, reused
local reply = {}
local topups = {}  -- per limit position: the lease top-up asked, then granted
local lease_result = decision.new_result()  -- the evaluation of cost + grant

-- Reads args[2n + 2] (n counts separated by single spaces) into topups; false when
-- malformed.
local function parse_topups(text, n)
  local i = 0
  for word in string.gmatch(text, '[^ ]+') do
    i = i + 1
    local t = tonumber(word)
    if i > n or t == nil or t < 0 or t ~= math.floor(t) or not string.match(word, '^%d+$') then
      return false
    end
    topups[i] = t
  end
  return i == n
end

local function decide(keys, args, peek)
  local n = #keys
  local nargs = #args
  if nargs ~= 2 * n and nargs ~= 2 * n + 1 and nargs ~= 2 * n + 2 then
    return redis.error_reply(
        'ERR sluice decide: expected a spec and a cost per key (+ now, + lease top-ups)')
  end
  local leasing = nargs == 2 * n + 2 and not peek
  if leasing and not parse_topups(args[2 * n + 2], n) then
    return redis.error_reply('ERR sluice decide: malformed lease top-ups')
  end
  local now
  if nargs > 2 * n and args[2 * n + 1] ~= '' then
    now = tonumber(args[2 * n + 1])
    if now == nil then return redis.error_reply('ERR sluice decide: malformed now') end
  else
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end

  -- Phase 1: evaluate every limit against its stored (or fresh) state; change nothing.
  local admitted = true
  for i = 1, n do
    local text = args[2 * i - 1]
    local spec = specs[text]
    if spec == nil then
      local err
      spec, err = parse_spec(text)
      if spec == nil then return redis.error_reply(err) end
    end
    local cost, hold = 0, nil
    if not peek then
      cost, hold = parse_cost(spec, args[2 * i])
      if cost == nil then
        return redis.error_reply('ERR sluice decide: malformed cost "' .. args[2 * i] .. '"')
      end
    end
    local slot = slots[i]
    if slot == nil then
      slot = { state = {}, result = decision.new_result() }
      slots[i] = slot
    end
    slot.spec, slot.cost, slot.hold = spec, cost, hold
    local r = slot.result
    if spec.module == concurrency then
      local held = redis.pcall('ZCOUNT', keys[i], '(' .. string.format('%d', now), '+inf')
      slot.owned = type(held) == 'number'
      concurrency.evaluate(spec, slot.owned and held or 0, cost, r)
    elseif spec.module == sliding_log then
      slot.log = open_log(keys[i], slot.log)
      slot.owned = slot.log.owned
      sliding_log.evaluate(spec, slot.log, now, cost, r)
    else
      slot.owned, slot.expiry = load_state(keys[i], spec, slot.state)
      spec.module.evaluate(spec, slot.state, now, cost, r)
    end
    if not (r.verdict.allowed or spec.shadow) then admitted = false end
  end

  -- Phase 2: charge every limit that allows, only if the request is admitted.
  if admitted and not peek then
    for i = 1, n do
      local slot = slots[i]
      local r, spec, key = slot.result, slot.spec, keys[i]
      if leasing then
        -- The lease top-up: units that are available now, charged with the cost, so the
        -- state written is the one of a request of cost + grant (which passes exactly
        -- when grant <= remaining: the algorithms are monotone in the cost).
        local want, grant = topups[i], 0
        local v = r.verdict
        if want > 0 and v.allowed and v.delay == 0 and not spec.shadow and
            (spec.module == bucket or spec.module == fixed_window) and spec.max_delay == 0 then
          grant = math.min(want, v.remaining)
          if grant > 0 then
            spec.module.evaluate(spec, slot.state, now, slot.cost + grant, lease_result)
            if lease_result.verdict.allowed and lease_result.verdict.delay == 0 then
              -- Report and store the larger charge: swap the result tables.
              slot.result, lease_result = lease_result, r
              r = slot.result
            else
              grant = 0  -- cannot happen; never deny for a top-up
            end
          end
        end
        topups[i] = grant
      end
      if r.verdict.allowed and spec.module == concurrency then
        if slot.cost > 0 then apply_hold(key, slot, now) end
      elseif r.verdict.allowed then
        if r.expires_at <= now then
          -- The charged state already equals a fresh one (a cost of 0): keep no key. A key
          -- holding another algorithm's state is not this limit's to drop.
          if slot.owned then redis.call('DEL', key) end
        elseif spec.module == sliding_log then
          local ttl_ms = decision.ceil_div(r.expires_at - now, 1000) + expiry_margin_ms
          apply_log_commit(key, slot.log, sliding_log.commit(spec, slot.log, now, slot.cost),
              string.format('%d', ttl_ms))
        else
          store_state(key, spec, r.next, r.expires_at, slot.expiry, now)
        end
      end
    end
  end

  reply[1] = admitted and 1 or 0
  reply[2] = now
  local k = 2
  for i = 1, n do
    local v = slots[i].result.verdict
    reply[k + 1] = v.allowed and 1 or 0
    reply[k + 2] = v.cost_exceeds_limit and 1 or 0
    reply[k + 3] = v.limit
    reply[k + 4] = v.remaining
    reply[k + 5] = v.reset
    reply[k + 6] = v.retry_after
    reply[k + 7] = v.delay
    k = k + 7
  end
  if leasing then
    for i = 1, n do
      reply[k + i] = admitted and topups[i] or 0
    end
    k = k + n
  end
  reply[k + 1] = nil  -- the reply ends here, whatever a longer earlier one left
  return reply
end

-- ---- the refund (Redis Cluster: a request whose keys span slots) ----
--
-- refund(keys, args) gives back what one admitted decide() charged, when another slot
-- of the same request denied: a compensating call on each slot that admitted, so that a
-- denied request keeps no charge (SPEC 5 all-or-nothing across slots).
--
-- keys[i], args[2i-1], args[2i]: as decide()'s, for the limits that call charged (the
-- ones whose decision allowed: every non-shadow one, and each shadow one that allowed).
-- args[2n + 1]: charged_at, the now_us that call's reply reported (the Redis clock of
--   the same server: one slot lives on one master).
-- args[2n + 2] (optional, tests only): "now" in microseconds instead of TIME.
-- Reply: an integer, how many limits were given something back (0..n).
--
-- It gives back at most what that charge took, never more, so a limit never admits more
-- than it allows: the state after a refund is never below the state a limit would have
-- had if the refunded request had never been charged (the "reference"):
--  - buckets: the charge moved tat by cost * interval. Time refills the bucket, and
--    refill a full bucket cannot hold is lost: a charge that time since has absorbed is
--    no longer in tat. So the refund lowers tat by cost * interval minus the time elapsed
--    since charged_at (nothing once that is <= 0, or if the clock went back), never below
--    now (a full bucket). Proof sketch: the later charges map x to max(x, t_i) + c_i
--    with charged_at <= t_i <= now; their composition F(x) = max(x + C, g) has
--    g <= now + C, so F(s) <= max(s, now) + C <= F(s + cost * T) - cost * T + (now -
--    charged_at) for s >= charged_at, s being the (full or not) tat before the charge.
--  - fixed_window: count -= cost only while the stored window is the one charged_at
--    falls in (windows only move forward: a later window holds none of this charge).
--  - sliding_window: current -= cost in the charged window; previous -= cost once one
--    later charge moved the window on by one (the charge is what became previous);
--    nothing later. Never below 0.
--  - sliding_log: removes up to cost members scored at charged_at (members at one time
--    are interchangeable; a charge stamped later, after a clock step back, leaves later
--    members in the log than the reference has).
--  - concurrency: removes the request's lease id, so its slot is free again. The same
--    call releases a slot when the request's response has ended (the gateway sends it
--    with the limits that hold slots; charged_at is then unused).
-- Each key keeps its expiry (SET KEEPTTL; ZREM keeps a sorted set's TTL): a refund only
-- lowers a state, so the expiry the charge set still covers it. A key that is absent or
-- holds another algorithm's state gets nothing. Requests that raced the refund (decided
-- between charge and refund) may have been denied for units given back later: a brief
-- under-admission, the price of never over-admitting.
--
-- The same call settles a cost from the response (issue 14): a bucket or fixed_window
-- key's cost argument "<reserved> <actual>" settles a charge of `reserved` at charged_at
-- to `actual` (bucket.settle(), fixed_window.settle(): the rest charged now when actual
-- is larger, pushing the key into debt; given back as above when it is smaller). A
-- plain "<cost>" is "<cost> 0", the refund. A settle that raises a state (an absent key
-- included: a reserve of 0 keeps none) sets the key's expiry for it.

local refund_state = {}  -- reused, like the decision's scratch tables
local refund_specs = {}  -- per key position: its parsed spec, for this call only
local refund_costs = {}  -- per key position: what the decide charged
local refund_extras = {}  -- per key position: the settled cost, or a concurrency lease id

local function refund_sliding_window(spec, s, cost, charged_at)
  local period = spec.period
  local window = charged_at - decision.mod(charged_at, period)
  local stored = s.window_start - decision.mod(s.window_start, period)
  if stored == window and s.current > 0 then
    s.current = decision.max(s.current - cost, 0)
    return true
  end
  if stored == window + period and s.previous > 0 then
    s.previous = decision.max(s.previous - cost, 0)
    return true
  end
  return false
end

local function refund_log(key, cost, charged_at)
  local at = string.format('%d', charged_at)
  local members = redis.pcall('ZREVRANGEBYSCORE', key, at, at, 'LIMIT', '0',
      string.format('%d', cost))
  if members.err ~= nil or #members == 0 then return false end  -- another type, or none
  for first = 1, #members, zadd_batch do
    redis.call('ZREM', key, unpack(members, first, math.min(first + zadd_batch - 1, #members)))
  end
  return true
end

-- A refund's or settle's cost argument: the cost charged, and the cost it settles to
-- ("<reserved> <actual>"; a plain "<cost>" settles to 0), or for a concurrency limit
-- its lease id ("<cost> <lease id>"); nil when malformed.
local function parse_settle(spec, text)
  if spec.module == concurrency then return parse_cost(spec, text) end
  local r, a = string.match(text, '^(%d+) (%d+)$')
  if r == nil then
    r, a = string.match(text, '^(%d+)$'), '0'
    if r == nil then return nil end
  end
  local reserved, actual = tonumber(r), tonumber(a)
  if reserved > 9007199254740991 or actual > 9007199254740991 then return nil end
  return reserved, actual
end

-- Until when a raised bucket or window state must live: when it turns fresh again.
local function settled_expiry(spec, s)
  if spec.module == bucket then return s.tat_us + (s.tat_frac > 0 and 1 or 0) end
  return fixed_window.window_of(spec, s.window_start) + spec.period
end

local function refund(keys, args)
  local n = #keys
  local nargs = #args
  if nargs ~= 2 * n + 1 and nargs ~= 2 * n + 2 then
    return redis.error_reply(
        'ERR sluice refund: expected a spec and a cost per key, charged_at (+ now)')
  end
  local charged_at = tonumber(args[2 * n + 1])
  if charged_at == nil or charged_at < 0 or charged_at ~= math.floor(charged_at) then
    return redis.error_reply('ERR sluice refund: malformed charged_at')
  end
  local now
  if nargs > 2 * n + 1 and args[nargs] ~= '' then
    now = tonumber(args[nargs])
    if now == nil then return redis.error_reply('ERR sluice refund: malformed now') end
  end
  -- Check every argument before writing anything: a bad call changes no key.
  for i = 1, n do
    local text = args[2 * i - 1]
    -- Kept per position: parse_spec may start its memory over between two keys.
    local spec = specs[text]
    if spec == nil then
      local err
      spec, err = parse_spec(text)
      if spec == nil then return redis.error_reply(err) end
    end
    refund_specs[i] = spec
    local cost, extra = parse_settle(spec, args[2 * i])
    if cost == nil then
      return redis.error_reply('ERR sluice refund: malformed cost "' .. args[2 * i] .. '"')
    end
    refund_costs[i], refund_extras[i] = cost, extra
  end

  local refunded = 0
  local s = refund_state
  for i = 1, n do
    local spec, key = refund_specs[i], keys[i]
    local changed = false
    local reserved, actual = refund_costs[i], refund_extras[i]
    if spec.module == concurrency then
      -- The slot goes back (the response ended, or another slot denied the request).
      changed = redis.pcall('ZREM', key, actual) == 1
    elseif spec.module == sliding_log then
      -- A charge never takes more than the log holds.
      local cost = math.min(reserved - actual, spec.count)
      if cost > 0 then changed = refund_log(key, cost, charged_at) end
    elseif spec.module == sliding_window then
      local cost = math.min(reserved - actual, spec.count)
      local owned, expiry = false, 0
      if cost > 0 then owned, expiry = load_state(key, spec, s) end
      if owned then
        changed = refund_sliding_window(spec, s, cost, charged_at)
        if changed then
          redis.call('SET', key, spec.codec.encode(spec.tag, s, expiry), 'KEEPTTL')
        end
      end
    elseif reserved ~= actual then
      local cap = spec.module == bucket and spec.burst or spec.count
      reserved = math.min(reserved, cap)  -- a charge never takes more
      local owned, expiry = load_state(key, spec, s)
      if owned or actual > reserved then
        if now == nil then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        changed = spec.module.settle(spec, s, charged_at, reserved, actual, now)
      end
      if changed and actual < reserved then
        -- Lower than the charge left it: the expiry the charge set still covers it.
        redis.call('SET', key, spec.codec.encode(spec.tag, s, expiry), 'KEEPTTL')
      elseif changed then
        store_state(key, spec, s, settled_expiry(spec, s), expiry, now)
      end
    end
    if changed then refunded = refunded + 1 end
  end
  return refunded
end
