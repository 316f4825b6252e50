--[[
rl, the script fallback: the decisions of the rl module's RL.HIT, RL.PEEK and RL.MHIT, in Lua,
for servers that cannot load modules. Same arguments, same replies, same error texts; the few
differences are listed under "Limits" below.

This file is the decision code only. redis_rl/scripts.py assembles it into two forms:
  - a script for EVALSHA (Redis 6 and later): ARGV[1] is the command ("RL.HIT", "RL.PEEK" or
    "RL.MHIT"), KEYS the keys, ARGV[2..] the arguments after the keys;
  - a function library for FCALL / FCALL_RO (Redis 7 and later, Valkey): one function per
    command, the peek registered with the no-writes flag.

Key layout. Each limited key holds a plain string, a format tag then decimal fields separated by
single spaces, and expires (PEXPIREAT) at the instant its state is back to full capacity, in
milliseconds rounded up, exactly as the module sets it: PTTL equals reset_after_ms.

  S1 <window> <as_of> <into> <current> <previous>    SLIDING
  F1 <window> <as_of> <into> <count>                 FIXED
  B1 <window> <limit> <as_of> <ahead> <frac>         TOKEN, LEAKY and GCRA

  window   the window in microseconds
  as_of    the instant of the decision that wrote the state, microseconds since 1970 (the
           server's TIME); every other field describes the state at that instant
  into     SLIDING: microseconds from the start of the current window to as_of (0 <= into <
           window; the window may have started before 1970); FIXED: from the opening of the
           window to as_of
  current, previous   units admitted in the current window and in the one before it
  count    units admitted in the fixed window
  limit    the bucket's rate, limit units per window (another limit reshapes the bucket)
  ahead, frac   the bucket's level at as_of, in units times the window: ahead * limit + frac,
           with frac < limit; ahead is the number of microseconds the bucket takes to drain

A key of any other type, or a string in any other form, answers WRONGTYPE and is left alone.

The module keeps its state in keys of its own data type (`ratelimit`). Its commands answer
WRONGTYPE on a key written by this script, and this script answers WRONGTYPE on the module's
keys: the two never read each other's state. A deployment that later loads the module should
give each backend its own key prefix (the Python limiter does); limits then start afresh on
the module's keys, and the script's keys expire by themselves.

Arithmetic. The module decides in exact integers. Lua numbers are doubles, exact for integers
below 2^53, which covers every count, window, instant difference and time reply. The products
the decisions compare (a limit times a window in microseconds: 10^6 * 8.64 * 10^10 for a
million a day) go beyond that, so the few operations that need them go through `mad`, an exact
floor((a * b + c) / d) on 24-bit limbs, used only when a plain double could be inexact.
Instants are kept as whole milliseconds plus microseconds, so that they stay exact up to the
module's clamp (2^56 microseconds).

Limits. A limit, BURST or COST above 2^53 - 1 (the module takes up to 2^63 - 1) is refused with
an error naming the argument. The default algorithm is SLIDING (the module's
rl.default-algorithm config is not visible to a script).
]]

local floor = math.floor
local format, match, find, sub, upper, lower, gsub =
  string.format, string.match, string.find, string.sub, string.upper, string.lower, string.gsub

local TWO53 = 9007199254740992
local B24 = 16777216
-- The largest limit, BURST or COST the module takes (i64::MAX), as text, and the script's.
local MAX_LIMIT_TEXT = "9223372036854775807"
local SCRIPT_MAX = 9007199254740991
local SCRIPT_MAX_TEXT = "9007199254740991"
local MAX_WINDOW = 3153600000000000 -- 36500 days, in microseconds
local MAX_WINDOW_MS = 3153600000000
local MAX_KEYS = 64
-- The module clamps instants below 2^56 microseconds: 72057594037927 ms and 936 us.
local CLAMP_MS, CLAMP_SUB = 72057594037927, 936

---------------------------------------------------------------------------------------------
-- Exact arithmetic

-- x (an integer below 2^72) as three base-2^24 limbs, low first.
local function split(x)
  local x0 = x % B24
  x = (x - x0) / B24
  local x1 = x % B24
  return x0, x1, (x - x1) / B24
end

-- floor((a * b + c) / d) and the remainder, for integers 0 <= a, b, c < 2^53 and
-- 1 <= d < 2^53, whose quotient is below 2^53. When the dividend is below 2^53 the doubles are
-- exact. Otherwise the quotient is estimated in doubles (within a few units) and corrected
-- with the remainder computed exactly: the remainder is small, so its low 72 bits, from the
-- low three limbs of each product, determine it.
local function mad(a, b, c, d)
  local p = a * b
  if p < TWO53 then
    p = p + c
    if p < TWO53 then
      local q = floor(p / d)
      return q, p - q * d
    end
  end
  local q = floor((a * b + c) / d)
  local a0, a1, a2 = split(a)
  local b0, b1, b2 = split(b)
  local c0, c1, c2 = split(c)
  local q0, q1, q2 = split(q)
  local d0, d1, d2 = split(d)
  local t = a0 * b0 + c0 - q0 * d0
  local r0 = t % B24
  t = (t - r0) / B24 + a0 * b1 + a1 * b0 + c1 - q0 * d1 - q1 * d0
  local r1 = t % B24
  t = (t - r1) / B24 + a0 * b2 + a1 * b1 + a2 * b0 + c2 - q0 * d2 - q1 * d1 - q2 * d0
  local r2 = t % B24
  if r2 >= B24 / 2 then
    r2 = r2 - B24 -- the remainder is negative: the estimate was too high
  end
  -- remainder = hi * 2^24 + r0, with 0 <= r0 < 2^24; d = dhi * 2^24 + d0
  local hi, dhi = r2 * B24 + r1, d2 * B24 + d1
  while hi < 0 do
    q = q - 1
    r0, hi = r0 + d0, hi + dhi
    if r0 >= B24 then
      r0, hi = r0 - B24, hi + 1
    end
  end
  while hi > dhi or (hi == dhi and r0 >= d0) do
    q = q + 1
    r0, hi = r0 - d0, hi - dhi
    if r0 < 0 then
      r0, hi = r0 + B24, hi - 1
    end
  end
  return q, hi * B24 + r0
end

-- ceil(a * b / d), same bounds as mad.
local function mul_div_ceil(a, b, d)
  local q, r = mad(a, b, 0, d)
  if r > 0 then
    return q + 1
  end
  return q
end

-- Arbitrary nonnegative integers as base-2^24 limbs, low first. Only argument validation
-- uses them, for values above 2^53 that are about to be refused anyway but must get the
-- module's error when the module would refuse them too.
local function big_from_decimal(text)
  local limbs = {}
  for i = 1, #text do
    local carry = text:byte(i) - 48
    for j = 1, #limbs do
      local v = limbs[j] * 10 + carry
      limbs[j] = v % B24
      carry = (v - limbs[j]) / B24
    end
    if carry > 0 then
      limbs[#limbs + 1] = carry
    end
  end
  return limbs
end

local function big_times(limbs, x) -- x < 2^53
  local x0, x1, x2 = split(x)
  local xs = { x0, x1, x2 }
  local out = {}
  for i = 1, #limbs + 4 do
    out[i] = 0
  end
  for i = 1, #limbs do
    for j = 1, 3 do
      out[i + j - 1] = out[i + j - 1] + limbs[i] * xs[j]
    end
  end
  local carry = 0
  for i = 1, #out do
    local v = out[i] + carry
    out[i] = v % B24
    carry = (v - out[i]) / B24
  end
  while #out > 0 and out[#out] == 0 do
    out[#out] = nil
  end
  return out
end

local function big_le(x, y)
  if #x ~= #y then
    return #x < #y
  end
  for i = #x, 1, -1 do
    if x[i] ~= y[i] then
      return x[i] < y[i]
    end
  end
  return true
end

---------------------------------------------------------------------------------------------
-- Time: the server's clock in whole milliseconds and microseconds, clamped like the module's.

local function clock()
  local t = redis.call("TIME")
  local usec = tonumber(t[2])
  local sub_ms = usec % 1000
  local ms = tonumber(t[1]) * 1000 + (usec - sub_ms) / 1000
  if ms > CLAMP_MS or (ms == CLAMP_MS and sub_ms > CLAMP_SUB) then
    return CLAMP_MS, CLAMP_SUB
  end
  return ms, sub_ms
end

---------------------------------------------------------------------------------------------
-- Arguments, with the module's rules and error texts (src/args.rs)

local E_LIMIT = "ERR limit must be an integer from 1 to " .. MAX_LIMIT_TEXT
local E_COST = "ERR COST must be an integer from 1 to " .. MAX_LIMIT_TEXT
local E_BURST = "ERR BURST must be an integer from 1 to " .. MAX_LIMIT_TEXT
local E_WINDOW = "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"
local E_ALGO = "ERR ALGO must be one of SLIDING, FIXED, TOKEN, LEAKY or GCRA"
local E_BURST_ALGO = "ERR BURST applies to ALGO TOKEN, LEAKY and GCRA only"
local E_BURST_LARGE = "ERR BURST is too large for this rate: BURST × window / limit must be at most 36500d"
local E_NUMKEYS = "ERR numkeys must be an integer from 1 to " .. MAX_KEYS .. ", and no more than the keys given"
local E_DISTINCT = "ERR RL.MHIT keys must be distinct"
local E_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

local function script_bound(name)
  return "ERR " .. name .. " must be an integer from 1 to " .. SCRIPT_MAX_TEXT
    .. " with the script fallback (the rl module takes up to " .. MAX_LIMIT_TEXT .. ")"
end

local function clause_count(keys, clauses)
  return "ERR RL.MHIT needs one LIMIT clause per key: " .. keys .. " keys, " .. clauses .. " LIMIT clauses"
end

local function unknown(name, expected)
  -- Shown back in an error line: printable ASCII only, and short.
  local shown = gsub(sub(name, 1, 32), "[^ -~]", "?")
  return "ERR unknown option '" .. shown .. "', expected " .. expected
end

-- A count of units, 1 to i64::MAX in Redis integer syntax: the value (a double, inexact above
-- 2^53) and its text, or nil.
local function count(text)
  if not find(text, "^[1-9]%d*$") then
    return nil
  end
  local n = #text
  if n > 19 or (n == 19 and text > MAX_LIMIT_TEXT) then
    return nil
  end
  return tonumber(text)
end

local UNIT_MS = { [""] = 1000, s = 1000, ms = 1, m = 60000, h = 3600000, d = 86400000 }

-- A window in microseconds, or nil.
local function duration(text)
  local number, unit = match(text, "^(%d*)(.*)$")
  local unit_ms = UNIT_MS[lower(unit)]
  if not unit_ms or not find(number, "^[1-9]%d*$") or #number > 16 then
    return nil
  end
  local ms = tonumber(number) * unit_ms
  if ms > MAX_WINDOW_MS then
    return nil
  end
  return ms * 1000
end

local ALGORITHMS = { SLIDING = "S", FIXED = "F", TOKEN = "B", LEAKY = "B", GCRA = "B" }

-- The options of one limit (ALGO, BURST): takes `name value` into `limit` if `name` is one,
-- returning true, false if it is not, or nil and the error.
local function take_option(limit, name, value)
  local option = upper(name)
  if option == "ALGO" then
    if not value then
      return nil, "ERR ALGO needs a value"
    end
    local kind = ALGORITHMS[upper(value)]
    if not kind then
      return nil, E_ALGO
    end
    if limit.kind then
      return nil, "ERR ALGO is given more than once"
    end
    limit.kind = kind
  elseif option == "BURST" then
    if not value then
      return nil, "ERR BURST needs a value"
    end
    local burst = count(value)
    if not burst then
      return nil, E_BURST
    end
    if limit.burst then
      return nil, "ERR BURST is given more than once"
    end
    limit.burst, limit.burst_text = burst, value
  else
    return false
  end
  return true
end

-- burst * window <= limit * MAX_WINDOW: a full bucket drains within 36500 days.
local function drains_in_time(limit)
  local burst, l = limit.burst, limit.limit
  if burst <= SCRIPT_MAX and l <= SCRIPT_MAX then
    return mul_div_ceil(burst, limit.window, MAX_WINDOW) <= l
  end
  local lhs = big_times(big_from_decimal(limit.burst_text), limit.window)
  local rhs = big_times(big_from_decimal(limit.limit_text), MAX_WINDOW)
  return big_le(lhs, rhs)
end

-- Completes a parsed limit with the request's cost and the module's defaults and checks.
-- Returns the module's error, if any.
local function complete(limit, cost)
  limit.kind = limit.kind or "S"
  if limit.burst and limit.kind ~= "B" then
    return E_BURST_ALGO
  end
  if not limit.burst then
    limit.burst, limit.burst_text = limit.limit, limit.limit_text
  end
  if not drains_in_time(limit) then
    return E_BURST_LARGE
  end
  limit.cost = cost
  -- The capacity the decision is made against.
  limit.capacity = limit.kind == "B" and limit.burst or limit.limit
  return nil
end

-- What the module takes but doubles cannot decide exactly.
local function beyond_script(limit)
  if limit.limit > SCRIPT_MAX then
    return script_bound("limit")
  elseif limit.burst > SCRIPT_MAX then
    return script_bound("BURST")
  elseif limit.cost > SCRIPT_MAX then
    return script_bound("COST")
  end
  return nil
end

local function new_limit(limit_text, window_text)
  local l = count(limit_text)
  if not l then
    return nil, E_LIMIT
  end
  local window = duration(window_text)
  if not window then
    return nil, E_WINDOW
  end
  return { limit = l, limit_text = limit_text, window = window }
end

-- RL.HIT / RL.PEEK: `limit window [COST n] [ALGO a] [BURST n]` from args[first..].
local function parse_hit(args, first)
  local limit, err = new_limit(args[first], args[first + 1])
  if not limit then
    return nil, err
  end
  local cost
  local i = first + 2
  while args[i] do
    local name, value = args[i], args[i + 1]
    i = i + 2
    if upper(name) == "COST" then
      if not value then
        return nil, "ERR COST needs a value"
      end
      local c = count(value)
      if not c then
        return nil, E_COST
      end
      if cost then
        return nil, "ERR COST is given more than once"
      end
      cost = c
    else
      local taken, e = take_option(limit, name, value)
      if taken == nil then
        return nil, e
      elseif not taken then
        return nil, unknown(name, "COST, ALGO or BURST")
      end
    end
  end
  err = complete(limit, cost or 1) or beyond_script(limit)
  if err then
    return nil, err
  end
  return limit
end

-- RL.MHIT: `LIMIT limit window [ALGO a] [BURST n] ... [COST n]` from args[first..], one
-- clause per key.
local function parse_mhit(nkeys, args, first)
  local limits = {}
  local cost
  local i = first
  while args[i] do
    local name = args[i]
    local option = upper(name)
    if option == "LIMIT" then
      local limit_text, window_text = args[i + 1], args[i + 2]
      i = i + 3
      if not limit_text or not window_text then
        return nil, "ERR LIMIT needs a value"
      end
      local limit, err = new_limit(limit_text, window_text)
      if not limit then
        return nil, err
      end
      if #limits == MAX_KEYS then
        return nil, clause_count(nkeys, MAX_KEYS + 1)
      end
      limits[#limits + 1] = limit
    else
      local value = args[i + 1]
      i = i + 2
      if option == "COST" then
        if not value then
          return nil, "ERR COST needs a value"
        end
        local c = count(value)
        if not c then
          return nil, E_COST
        end
        if cost then
          return nil, "ERR COST is given more than once"
        end
        cost = c
      elseif option == "ALGO" or option == "BURST" then
        local last = limits[#limits]
        if not last then
          return nil, "ERR " .. option .. " must follow the LIMIT clause it applies to"
        end
        local _, err = take_option(last, name, value)
        if err then
          return nil, err
        end
      else
        return nil, unknown(name, "LIMIT, COST, ALGO or BURST")
      end
    end
  end
  if #limits ~= nkeys then
    return nil, clause_count(nkeys, #limits)
  end
  for _, limit in ipairs(limits) do
    local err = complete(limit, cost or 1)
    if err then
      return nil, err
    end
  end
  for _, limit in ipairs(limits) do
    local err = beyond_script(limit)
    if err then
      return nil, err
    end
  end
  return limits
end

---------------------------------------------------------------------------------------------
-- States
--
-- A state read from a key is first seen at now: the time since its as_of is applied, so that
-- the engines below only deal with states relative to now.
--   { "S", window, into, current, previous }   into: from the start of the current window
--   { "F", window, into, count }               a closed window: { "F", window, 0, 0 }
--   { "B", window, limit, ahead, frac }        level = ahead * limit + frac

local function field(text)
  local n = tonumber(text)
  if n <= SCRIPT_MAX then
    return n
  end
  return nil
end

-- The elapsed time from as_of to now, as whole milliseconds and microseconds; (0, 0) and true
-- when the clock is behind as_of: the state is then read as of now, unchanged.
local function since(a_ms, a_sub, now_ms, now_sub)
  a_ms, a_sub = tonumber(a_ms), tonumber(a_sub)
  if a_ms > CLAMP_MS then
    return nil
  end
  if now_ms < a_ms or (now_ms == a_ms and now_sub < a_sub) then
    return 0, 0, true
  end
  local e_ms, e_sub = now_ms - a_ms, now_sub - a_sub
  if e_sub < 0 then
    return e_ms - 1, e_sub + 1000, false
  end
  return e_ms, e_sub, false
end

-- A key's value seen at now: the state and whether it was moved to now (the clock is behind
-- it); nil when the value is not a state.
local function view(value, now_ms, now_sub)
  local tag = sub(value, 1, 3)
  if tag == "S1 " then
    local w, a_ms, a_sub, into, cur, prev = match(value, "^S1 (%d+) (%d+)(%d%d%d) (%d+) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, into, cur, prev = field(w), field(into), field(cur), field(prev)
    if not (w and into and cur and prev) or w < 1000 or w > MAX_WINDOW or into >= w then
      return nil
    end
    local e_ms, e_sub, moved = since(a_ms, a_sub, now_ms, now_sub)
    if not e_ms then
      return nil
    end
    -- The windows that ended since as_of are rolled.
    local passed, e = mad(e_ms, 1000, e_sub + into, w)
    if passed == 0 then
      return { "S", w, e, cur, prev }, moved
    elseif passed == 1 then
      return { "S", w, e, 0, cur }, moved
    end
    return { "S", w, e, 0, 0 }, moved
  elseif tag == "F1 " then
    local w, a_ms, a_sub, into, cnt = match(value, "^F1 (%d+) (%d+)(%d%d%d) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, into, cnt = field(w), field(into), field(cnt)
    if not (w and into and cnt) or w < 1000 or w > MAX_WINDOW or into >= w then
      return nil
    end
    local e_ms, e_sub, moved = since(a_ms, a_sub, now_ms, now_sub)
    if not e_ms then
      return nil
    end
    -- Exact while below 2^53, and far above the window otherwise.
    local t = e_ms * 1000 + e_sub + into
    if t < w then
      return { "F", w, t, cnt }, moved
    end
    return { "F", w, 0, 0 }, moved
  elseif tag == "B1 " then
    local w, l, a_ms, a_sub, ahead, frac = match(value, "^B1 (%d+) (%d+) (%d+)(%d%d%d) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, l, ahead, frac = field(w), field(l), field(ahead), field(frac)
    -- A bucket drains within 36500 days and holds at most 2^53 units.
    if not (w and l and ahead and frac) or w < 1000 or w > MAX_WINDOW or l < 1 or frac >= l
      or ahead > MAX_WINDOW or ahead * l / w > TWO53 then
      return nil
    end
    local e_ms, e_sub, moved = since(a_ms, a_sub, now_ms, now_sub)
    if not e_ms then
      return nil
    end
    local elapsed = e_ms * 1000 + e_sub
    if frac > 0 then
      if elapsed > ahead then
        return { "B", w, l, 0, 0 }, moved
      end
    elseif elapsed >= ahead then
      return { "B", w, l, 0, 0 }, moved
    end
    return { "B", w, l, ahead - elapsed, frac }, moved
  end
  return nil
end

-- Microseconds from now until the state carries no information (the key may expire then), or
-- nil when it carries none already.
local function expires_in(state)
  local kind = state[1]
  if kind == "S" then
    if state[4] > 0 then
      return 2 * state[2] - state[3]
    elseif state[5] > 0 then
      return state[2] - state[3]
    end
    return nil
  elseif kind == "F" then
    if state[4] > 0 then
      return state[2] - state[3]
    end
    return nil
  end
  -- An empty bucket carries nothing.
  if state[5] > 0 then
    return state[4] + 1
  elseif state[4] > 0 then
    return state[4]
  end
  return nil
end

-- Whether a request for `limit` reads this state as it is; otherwise its usage is carried
-- over into a state shaped for it.
local function fits(state, limit)
  local kind = state[1]
  if kind ~= limit.kind or state[2] ~= limit.window then
    return false
  end
  return kind ~= "B" or state[3] == limit.limit
end

-- The previous window's weight at `into` into the current one, in units, rounded up.
local function previous_share(state)
  local prev = state[5]
  if prev == 0 then
    return 0
  end
  return mul_div_ceil(prev, state[2] - state[3], state[2])
end

-- Units in use, rounded up.
local function used(state)
  local kind = state[1]
  if kind == "S" then
    return state[4] + previous_share(state)
  elseif kind == "F" then
    return state[4]
  end
  local q, r = mad(state[4], state[3], state[5], state[2])
  if r > 0 then
    return q + 1
  end
  return q
end

-- Where a new sliding key's first window starts: the creating hit lies window / limit (rounded
-- up, and inside the window) into it.
local function first_into(window, l)
  local q = floor(window / l)
  if q * l < window then
    q = q + 1
  end
  if q > window - 1 then
    return window - 1
  end
  return q
end

-- A state for `limit` with `units` consumed now.
local function seeded(limit, units)
  local kind, w = limit.kind, limit.window
  if kind == "S" then
    return { "S", w, first_into(w, limit.limit), units, 0 }
  elseif kind == "F" then
    return { "F", w, 0, units }
  end
  local q, r = mad(units, w, 0, limit.limit)
  return { "B", w, limit.limit, q, r }
end

---------------------------------------------------------------------------------------------
-- Engines. Each decides one request against a state shaped for it (nil: a new key) and
-- returns allowed, remaining, retry (0 when allowed, -1 never, else microseconds), reset
-- (microseconds until full capacity) and the state to store when something was consumed.

-- Sliding window counter: usage = previous * (window - into) / window + current, and a request
-- is admitted when usage + cost <= limit. Multiplied by the window, with
-- share = ceil(previous * (window - into) / window): admitted iff current + cost + share <=
-- limit, exactly.
local function sliding(state, limit)
  local w, l, cost = limit.window, limit.limit, limit.cost
  local into, cur, prev, share = first_into(w, l), 0, 0, 0
  if state then
    into, cur, prev = state[3], state[4], state[5]
    share = previous_share(state)
  end
  local room = (l - cur) - cost
  local allowed = room >= share
  local retry, cur2 = 0, cur
  if allowed then
    cur2 = cur + cost
  elseif cost > l then
    retry = -1
  else
    -- The first instant, from the window's start, at which `cost` fits, if nothing else
    -- hits the key. In the current window the previous count's weight shrinks:
    -- previous * (window - t) <= room * window.
    local offset
    if room >= 0 then
      if room >= prev then
        offset = 0
      else
        local slack = mad(room, w, 0, prev)
        if slack > 0 then
          offset = w - slack
        end
      end
    end
    if not offset then
      -- In the next window the current count becomes the previous one:
      -- current * (window - t) <= (limit - cost) * window.
      local room2 = l - cost
      if cur == 0 or room2 >= cur then
        offset = w
      else
        offset = 2 * w - mad(room2, w, 0, cur)
      end
    end
    retry = offset - into
  end
  local remaining = (l - cur2) - share
  if remaining < 0 then
    remaining = 0
  end
  local reset = 0
  if cur2 > 0 then
    reset = 2 * w - into
  elseif prev > 0 then
    reset = w - into
  end
  if allowed and cost > 0 then
    return allowed, remaining, retry, reset, { "S", w, into, cur2, prev }
  end
  return allowed, remaining, retry, reset
end

-- Fixed window: a window opens at the first admitted hit and admits `limit` until it closes.
local function fixed(state, limit)
  local w, l, cost = limit.window, limit.limit, limit.cost
  local into, cnt = 0, 0
  if state then
    into, cnt = state[3], state[4]
  end
  local allowed = (l - cnt) >= cost
  local retry, cnt2 = 0, cnt
  if allowed then
    cnt2 = cnt + cost
  elseif cost > l then
    retry = -1
  else
    retry = w - into
  end
  local remaining = l - cnt2
  if remaining < 0 then
    remaining = 0
  end
  local reset = 0
  if cnt2 > 0 then
    reset = w - into
  end
  if allowed and cost > 0 then
    return allowed, remaining, retry, reset, { "F", w, into, cnt2 }
  end
  return allowed, remaining, retry, reset
end

-- TOKEN, LEAKY and GCRA: a level that rises by the cost, drains at limit per window and may
-- not exceed BURST. Levels are in units times the window, written ahead * limit + frac
-- (frac < limit): ahead is then the drain time in microseconds, and every quantity below stays
-- under 2^53.
local function bucket(state, limit)
  local w, l, burst, cost = limit.window, limit.limit, limit.burst, limit.cost
  local ahead, frac = 0, 0
  if state then
    ahead, frac = state[4], state[5]
  end
  -- The capacity, burst * window.
  local cap_ahead, cap_frac = w, 0
  if burst ~= l then
    cap_ahead, cap_frac = mad(burst, w, 0, l)
  end
  local allowed, retry = false, -1
  if cost <= burst then
    local add_ahead, add_frac = mad(cost, w, 0, l)
    local after_ahead, after_frac = ahead + add_ahead, 0
    if frac >= l - add_frac then
      after_ahead, after_frac = after_ahead + 1, frac - (l - add_frac)
    else
      after_frac = frac + add_frac
    end
    if after_ahead < cap_ahead or (after_ahead == cap_ahead and after_frac <= cap_frac) then
      allowed, retry = true, 0
      ahead, frac = after_ahead, after_frac
    else
      -- Until enough has drained: ceil((after - capacity) / limit) microseconds.
      retry = after_ahead - cap_ahead
      if after_frac > cap_frac then
        retry = retry + 1
      end
    end
  end
  -- A burst lowered below the level leaves nothing remaining.
  local remaining = 0
  if ahead < cap_ahead or (ahead == cap_ahead and frac <= cap_frac) then
    local d_ahead, d_frac = cap_ahead - ahead, cap_frac - frac
    if d_frac < 0 then
      d_ahead, d_frac = d_ahead - 1, d_frac + l
    end
    remaining = mad(d_ahead, l, d_frac, w)
  end
  local reset = ahead
  if frac > 0 then
    reset = reset + 1
  end
  if allowed and cost > 0 then
    return allowed, remaining, retry, reset, { "B", w, l, ahead, frac }
  end
  return allowed, remaining, retry, reset
end

local ENGINES = { S = sliding, F = fixed, B = bucket }

-- One request against a key's state seen at now (nil: no key). Returns the decision
-- { allowed, remaining, retry, reset }, the state to store if admitted, and the state to store
-- otherwise (reshaped for these parameters, or moved to now), if any.
local function hit(state, moved, limit)
  local basis, kept
  if state then
    if fits(state, limit) then
      basis = state
      if moved then
        kept = state
      end
    else
      local units = used(state)
      -- Nothing in use: as good as a new key.
      if units > 0 then
        if units > limit.capacity then
          units = limit.capacity
        end
        basis = seeded(limit, units)
        kept = basis
      end
    end
  end
  local allowed, remaining, retry, reset, consumed = ENGINES[limit.kind](basis, limit)
  return { allowed, remaining, retry, reset }, consumed, kept
end

---------------------------------------------------------------------------------------------
-- Keys

local function as_of(now_ms, now_sub)
  return format("%d%03d", now_ms, now_sub)
end

local function encode(state, now_ms, now_sub)
  local kind = state[1]
  if kind == "S" then
    return format("S1 %d %s %d %d %d", state[2], as_of(now_ms, now_sub), state[3], state[4], state[5])
  elseif kind == "F" then
    return format("F1 %d %s %d %d", state[2], as_of(now_ms, now_sub), state[3], state[4])
  end
  return format("B1 %d %d %s %d %d", state[2], state[3], as_of(now_ms, now_sub), state[4], state[5])
end

-- Whole milliseconds, rounded up.
local function ceil_ms(us)
  return floor((us + 999) / 1000)
end

-- Stores a state and expires the key when the state is back to full capacity.
local function store(key, state, existed, now_ms, now_sub)
  local us = expires_in(state)
  if not us then
    if existed then
      redis.call("DEL", key)
    end
    return
  end
  redis.call("SET", key, encode(state, now_ms, now_sub))
  redis.call("PEXPIREAT", key, now_ms + ceil_ms(now_sub + us))
end

-- The key's state seen at now, whether it was moved, or false and the error for a key that
-- holds something else.
local function load(key, now_ms, now_sub)
  local value = redis.pcall("GET", key)
  if not value then
    return nil, false
  end
  if type(value) ~= "string" then
    return false
  end
  local state, moved = view(value, now_ms, now_sub)
  if not state then
    return false
  end
  return state, moved
end

local function reply(decision, capacity, position)
  local retry = decision[3]
  if retry > 0 then
    retry = ceil_ms(retry)
  end
  local out = { decision[1] and 1 or 0, capacity, decision[2], retry, ceil_ms(decision[4]) }
  if position then
    out[6] = position
  end
  return out
end

---------------------------------------------------------------------------------------------
-- Commands

local function hit_command(name, keys, args, first, writes)
  -- The module's arguments after the command name are the keys, then the rest.
  local key
  if #keys == 1 then
    key = keys[1]
  else
    local all = {}
    for _, k in ipairs(keys) do
      all[#all + 1] = k
    end
    for i = first, #args do
      all[#all + 1] = args[i]
    end
    key, args, first = all[1], all, 2
  end
  if not key or not args[first] or not args[first + 1] then
    return redis.error_reply("ERR wrong number of arguments for '" .. name .. "' command")
  end
  local limit, err = parse_hit(args, first)
  if not limit then
    return redis.error_reply(err)
  end
  local now_ms, now_sub = clock()
  local state, moved = load(key, now_ms, now_sub)
  if state == false then
    return redis.error_reply(E_WRONGTYPE)
  end
  local decision, consumed, kept = hit(state, moved, limit)
  if writes then
    local write = consumed or kept
    if write then
      store(key, write, state ~= nil, now_ms, now_sub)
    end
  end
  return reply(decision, limit.capacity)
end

local function mhit_command(keys, args, first)
  local n = #keys
  -- The server's own arity rule for RL.MHIT: numkeys, a key, LIMIT, limit and window at least.
  if n + #args - first + 1 < 4 then
    return redis.error_reply("ERR wrong number of arguments for 'rl.mhit' command")
  end
  if n < 1 or n > MAX_KEYS then
    return redis.error_reply(E_NUMKEYS)
  end
  local seen = {}
  for _, key in ipairs(keys) do
    if seen[key] then
      return redis.error_reply(E_DISTINCT)
    end
    seen[key] = true
  end
  local limits, err = parse_mhit(n, args, first)
  if not limits then
    return redis.error_reply(err)
  end
  local now_ms, now_sub = clock()
  local states, moved = {}, {}
  for i = 1, n do
    local state, m = load(keys[i], now_ms, now_sub)
    if state == false then
      return redis.error_reply(E_WRONGTYPE)
    end
    states[i], moved[i] = state or false, m
  end
  local decisions, consumed, kept = {}, {}, {}
  local admitted = true
  for i = 1, n do
    decisions[i], consumed[i], kept[i] = hit(states[i] or nil, moved[i], limits[i])
    admitted = admitted and decisions[i][1]
  end
  -- All or nothing: a denied request leaves only reshaped or moved states behind, and each
  -- limit that would have admitted it reports where it stands without it.
  for i = 1, n do
    local write = kept[i]
    if admitted then
      write = consumed[i] or write
    elseif decisions[i][1] then
      local limit = limits[i]
      local cost = limit.cost
      limit.cost = 0
      decisions[i] = hit(states[i] or nil, moved[i], limit)
      limit.cost = cost
    end
    if write then
      store(keys[i], write, states[i] ~= false, now_ms, now_sub)
    end
  end
  -- Admitted: the limit with the fewest left decides. Denied: the denying limit with the
  -- longest wait (never is the longest), the first of equals.
  local deciding, remaining, reset = 1, decisions[1][2], decisions[1][4]
  for i = 2, n do
    local d = decisions[i]
    if d[2] < remaining then
      remaining = d[2]
      if admitted then
        deciding = i
      end
    end
    if d[4] > reset then
      reset = d[4]
    end
  end
  if not admitted then
    deciding = nil
    local best
    for i = 1, n do
      local d = decisions[i]
      if not d[1] then
        local wait = d[3]
        if wait < 0 then
          wait = TWO53 -- never: longer than any wait
        end
        if not best or wait > best then
          deciding, best = i, wait
        end
      end
    end
  end
  local chosen = decisions[deciding]
  return reply({ admitted, remaining, chosen[3], reset }, limits[deciding].capacity, deciding)
end

-- Runs "RL.HIT", "RL.PEEK" or "RL.MHIT" with the keys and the arguments args[first..].
local function run(command, keys, args, first)
  local name = lower(command or "")
  if name == "rl.hit" then
    return hit_command(name, keys, args, first, true)
  elseif name == "rl.peek" then
    return hit_command(name, keys, args, first, false)
  elseif name == "rl.mhit" then
    return mhit_command(keys, args, first)
  end
  return redis.error_reply("ERR unknown rl command '" .. tostring(command) .. "'")
end
