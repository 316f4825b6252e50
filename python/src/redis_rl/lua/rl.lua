--[[
rl, the script fallback: the decisions of the rl module's RL.HIT, RL.PEEK and RL.MHIT (every
algorithm, LOG included) and of its concurrency leases, RL.ACQUIRE, RL.RELEASE and RL.RENEW, in
Lua, for servers that cannot load modules. Same arguments, same replies, same error texts; the
few differences are listed under "Limits" below.

This file is the decision code only. redis_rl/scripts.py assembles it into two forms:
  - a script for EVALSHA (Redis 6 and later): ARGV[1] is the command ("RL.HIT", "RL.PEEK",
    "RL.MHIT", "RL.ACQUIRE", "RL.RELEASE" or "RL.RENEW"), KEYS the keys, ARGV[2..] the arguments
    after the keys;
  - a function library for FCALL / FCALL_RO (Redis 7 and later, Valkey): one function per
    command, the peek registered with the no-writes flag, RL.RELEASE and RL.RENEW with
    allow-oom.

Key layout. A rate-limited key holds a plain string, or for ALGO LOG a list; a key of leases is
a hash. Each expires when it no longer carries anything, at the instant the module gives it.

States of SLIDING, FIXED and the buckets are a string, a format tag then decimal fields
separated by single spaces; the key expires at the instant its state is back to full capacity,
in milliseconds rounded up, exactly as the module sets it: PTTL equals reset_after_ms.

  S1 <window> <as_of> <into> <current> <previous>    SLIDING
  F1 <window> <as_of> <into> <count>                 FIXED
  B1 <window> <limit> <as_of> <ahead> <frac>         TOKEN, LEAKY and GCRA

  window   the window in microseconds
  as_of    the instant of the decision that wrote the state, in microseconds since 1970 (the
           server's TIME); every other field describes the state at that instant
  into     SLIDING: microseconds from the start of the current window to as_of (0 <= into <
           window; the window may have started before 1970); FIXED: from the opening of the
           window to as_of
  current, previous   units admitted in the current window and in the one before it
  count    units admitted in the fixed window
  limit    the bucket's rate, limit units per window (another limit reshapes the bucket)
  ahead, frac   the bucket's level at as_of, in units times the window: ahead * limit + frac,
           with frac < limit; ahead is the number of microseconds the bucket takes to drain

For example `S1 60000000 1800000000123456 12000000 1 0` is RL.HIT k 5 60 once, at
1800000000.123456 s: the first hit lies 12 s (60 s / 5) into its window.

An ALGO LOG key is a list: a header, then one element per millisecond in which requests were
admitted, oldest first. Times are whole milliseconds (the resolution of LOG): an entry of
millisecond t counts until t + window - 1.

  L1 <window> <as_of> <base> <last> <total>          the header (the list's first element)
  <delta>  or  <delta>:<units>                        an entry: 1 unit, or more

  window   the window in milliseconds
  as_of    the millisecond of the decision that wrote the log
  base, last   the milliseconds of the oldest and the newest entries
  total    units held by the entries
  delta    milliseconds since the entry before (the oldest entry's is not read: its time is
           base)

Requests of the same millisecond join its entry; entries that age out leave the front (the
header is written over the last of them and the list trimmed up to it: LSET, LTRIM), new ones
arrive at the back (RPUSH): a hit reads the header and the oldest entries (one LRANGE) and
costs O(1) amortised, plus the entries a denied request must walk until enough of them age out.
The key expires when the newest entry ages out (PTTL equals reset_after_ms). For example RL.HIT
otp 3 1h ALGO LOG three times within 2 ms, at 1800000000000 ms and 1800000000002 ms, leaves
`L1 3600000 1800000000002 1800000000000 1800000000002 3`, `0:2`, `2`.

A key of leases is a hash: the field "" holds `A1 <as_of>`, the instant (microseconds) of the
decision that wrote it, and each lease is a field named by its id holding
`<expires_at> <units>`, its expiry in microseconds. The key expires with its last lease (its
expiry rounded up to the millisecond, as the module sets it); releasing the last one deletes
it. Expired leases stay until the next change to the key drops them. Each lease command reads
every lease of its key (HGETALL) and writes only the fields that change, so it costs O(leases
held), as the module's commands do, in Lua: a few microseconds per lease.

A key of any other type, or a value in any other form, answers WRONGTYPE and is left alone (a
log's entries are checked as they are read).

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
module's clamp (2^56 microseconds, in 4253).

Limits. A limit, BURST or COST above 2^53 - 1 (the module takes up to 2^63 - 1) is refused with
an error naming the argument, once the arguments pass the module's own checks. A script cannot
read the module's configs, so it takes their defaults: the default algorithm is SLIDING
(rl.default-algorithm), an ALGO LOG limit may need at most 10,000 entries
(rl.log-max-entries) and RL.ACQUIRE's limit is at most 10,000 (rl.lease-max-held). The ids of
leases the script makes are 16 hex digits from the instant and a counter, never one the key
holds, but not the module's (which come from a per-process random seed): a key whose leases
all expired could, if the clock came back to the very same microsecond, hand out an id again.
A full server (maxmemory) refuses the fallback's RL.HIT, RL.MHIT and RL.ACQUIRE, and lets
RL.RELEASE and RL.RENEW through, as it treats the module's commands; its error text is the
server's for scripts, not the module's "OOM command not allowed ...".

Speed. The script form runs this whole file on every call: its top level only defines local
functions, with no tables and no string building, and each function captures as few locals as
it can, since creating a closure costs more the more upvalues it has; what costs most is the
number of closures made. The functions of logs and of leases are made only by
the calls that need them (logs(), lease_commands()), so that the other calls do not pay for
them, and helpers that only rare paths use are made inside those paths (mad's limbs, the
exact comparison of a large BURST). Constants are written out where they are used (Lua folds
2^53 and the like when it compiles), and the string and math functions are called through
their libraries. bench/fallback.py measures the server time of both forms beside the module's
(--before REV compares with an older rl.lua in the same run).
]]

-- The constants:
--   2^53                 doubles are exact below it
--   2^24                 one limb
--   3153600000000000     36500 days in microseconds, the longest window
--   72057594037927, 936  2^56 microseconds (the module's clamp) in milliseconds and the rest

---------------------------------------------------------------------------------------------
-- Exact arithmetic

-- floor((a * b + c) / d) and the remainder, for integers 0 <= a, b, c < 2^53 and
-- 1 <= d < 2^53, whose quotient is below 2^53. When the dividend is below 2^53 the doubles are
-- exact. Otherwise the quotient is estimated in doubles (within a few units) and corrected
-- with the remainder computed exactly: the remainder is small, so its low 72 bits, from the
-- low three limbs of each product, determine it.
local function mad(a, b, c, d)
  local p = a * b
  if p < 2^53 then
    p = p + c
    if p < 2^53 then
      local q = math.floor(p / d)
      return q, p - q * d
    end
  end
  -- x (an integer below 2^72) as three base-2^24 limbs, low first. Made here, as the products
  -- seldom need it.
  local function split(x)
    local x0 = x % 2^24
    x = (x - x0) / 2^24
    local x1 = x % 2^24
    return x0, x1, (x - x1) / 2^24
  end
  local q = math.floor((a * b + c) / d)
  local a0, a1, a2 = split(a)
  local b0, b1, b2 = split(b)
  local c0, c1, c2 = split(c)
  local q0, q1, q2 = split(q)
  local d0, d1, d2 = split(d)
  local t = a0 * b0 + c0 - q0 * d0
  local r0 = t % 2^24
  t = (t - r0) / 2^24 + a0 * b1 + a1 * b0 + c1 - q0 * d1 - q1 * d0
  local r1 = t % 2^24
  t = (t - r1) / 2^24 + a0 * b2 + a1 * b1 + a2 * b0 + c2 - q0 * d2 - q1 * d1 - q2 * d0
  local r2 = t % 2^24
  if r2 >= 2^24 / 2 then
    r2 = r2 - 2^24 -- the remainder is negative: the estimate was too high
  end
  -- remainder = hi * 2^24 + r0, with 0 <= r0 < 2^24; d = dhi * 2^24 + d0
  local hi, dhi = r2 * 2^24 + r1, d2 * 2^24 + d1
  while hi < 0 do
    q = q - 1
    r0, hi = r0 + d0, hi + dhi
    if r0 >= 2^24 then
      r0, hi = r0 - 2^24, hi + 1
    end
  end
  while hi > dhi or (hi == dhi and r0 >= d0) do
    q = q + 1
    r0, hi = r0 - d0, hi - dhi
    if r0 < 0 then
      r0, hi = r0 + 2^24, hi - 1
    end
  end
  return q, hi * 2^24 + r0
end

-- Whole milliseconds, rounded up.
local function ceil_ms(us)
  return math.floor((us + 999) / 1000)
end

---------------------------------------------------------------------------------------------
-- Time: the server's clock in whole milliseconds and microseconds, clamped like the module's.

local function clock()
  local t = redis.call("TIME")
  local usec = tonumber(t[2])
  local sub_ms = usec % 1000
  local ms = tonumber(t[1]) * 1000 + (usec - sub_ms) / 1000
  if ms > 72057594037927 or (ms == 72057594037927 and sub_ms > 936) then
    return 72057594037927, 936
  end
  return ms, sub_ms
end

---------------------------------------------------------------------------------------------
-- Arguments, with the module's rules and error texts (core/src/parse.rs)

local function unknown(name, expected)
  -- Shown back in an error line: printable ASCII only, and short.
  local shown = string.gsub(string.sub(name, 1, 32), "[^ -~]", "?")
  return "ERR unknown option '" .. shown .. "', expected " .. expected
end

-- A count of units, 1 to i64::MAX in Redis integer syntax (digits only, no sign, no leading
-- zero): its value (a double, inexact above 2^53), or nil.
local function count(text)
  if string.find(text, "^[1-9]%d*$") then
    local n = #text
    if n < 19 or (n == 19 and text <= "9223372036854775807") then
      return tonumber(text)
    end
  end
  return nil
end

-- A window: a count with an optional unit (seconds if none), from 1 ms to 36500 days, in
-- microseconds; or nil.
local function duration(text)
  local number, unit = string.match(text, "^([1-9]%d*)(%a*)$")
  if not number or #number > 16 then
    return nil
  end
  local unit_ms
  if unit == "" then
    unit_ms = 1000
  else
    unit = string.lower(unit)
    if unit == "s" then
      unit_ms = 1000
    elseif unit == "ms" then
      unit_ms = 1
    elseif unit == "m" then
      unit_ms = 60000
    elseif unit == "h" then
      unit_ms = 3600000
    elseif unit == "d" then
      unit_ms = 86400000
    else
      return nil
    end
  end
  local ms = tonumber(number) * unit_ms
  if ms > 3153600000000 then
    return nil
  end
  return ms * 1000
end

-- The engine of an ALGO value: "S" (SLIDING), "F" (FIXED), "B" (the buckets) or "L" (LOG);
-- or nil.
local function algorithm(text)
  text = string.upper(text)
  if text == "SLIDING" then
    return "S"
  elseif text == "FIXED" then
    return "F"
  elseif text == "TOKEN" or text == "LEAKY" or text == "GCRA" then
    return "B"
  elseif text == "LOG" then
    return "L"
  end
  return nil
end

-- `limit window` of one limit, or nil and the error.
local function new_limit(limit_text, window_text)
  local l = count(limit_text)
  if not l then
    return nil, "ERR limit must be an integer from 1 to 9223372036854775807"
  end
  local window = duration(window_text)
  if not window then
    return nil,
      "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"
  end
  -- Every field at once: a table that grows field by field is rebuilt as it grows.
  return {
    kind = false,
    limit = l,
    limit_text = limit_text,
    window = window,
    burst = false,
    burst_text = false,
    cost = 1,
    capacity = l,
  }
end

-- ALGO or BURST (`option`, in upper case) with its value, into `limit`: nil, or the error.
local function take_option(limit, option, value)
  if not value then
    return "ERR " .. option .. " needs a value"
  end
  if option == "ALGO" then
    local kind = algorithm(value)
    if not kind then
      return "ERR ALGO must be one of SLIDING, FIXED, TOKEN, LEAKY, GCRA or LOG"
    elseif limit.kind then
      return "ERR ALGO is given more than once"
    end
    limit.kind = kind
  else
    local burst = count(value)
    if not burst then
      return "ERR BURST must be an integer from 1 to 9223372036854775807"
    elseif limit.burst then
      return "ERR BURST is given more than once"
    end
    limit.burst, limit.burst_text = burst, value
  end
  return nil
end

-- COST's value, given the cost so far: the cost, or nil and the error.
local function take_cost(cost, value)
  if not value then
    return nil, "ERR COST needs a value"
  end
  local c = count(value)
  if not c then
    return nil, "ERR COST must be an integer from 1 to 9223372036854775807"
  elseif cost then
    return nil, "ERR COST is given more than once"
  end
  return c
end

-- burst * window <= limit * 36500 days: a full bucket drains within 36500 days. Values above
-- 2^53 are about to be refused anyway, but must get the module's error where the module
-- refuses them too: they are compared as exact big numbers (base-2^24 limbs, low first).
local function drains_in_time(limit)
  local burst, l = limit.burst, limit.limit
  if burst <= (2^53 - 1) and l <= (2^53 - 1) then
    if burst <= l then
      return true
    end
    -- ceil(burst * window / 36500 days) <= limit
    local q, r = mad(burst, limit.window, 0, 3153600000000000)
    return q < l or (q == l and r == 0)
  end
  local function from_decimal(text)
    local limbs = {}
    for i = 1, #text do
      local carry = text:byte(i) - 48
      for j = 1, #limbs do
        local v = limbs[j] * 10 + carry
        limbs[j] = v % 2^24
        carry = (v - limbs[j]) / 2^24
      end
      if carry > 0 then
        limbs[#limbs + 1] = carry
      end
    end
    return limbs
  end
  local function times(limbs, x) -- x < 2^53
    local x0 = x % 2^24
    local x1 = (x - x0) / 2^24 % 2^24
    local xs = { x0, x1, (x - x0 - x1 * 2^24) / 2^48 }
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
      out[i] = v % 2^24
      carry = (v - out[i]) / 2^24
    end
    while #out > 0 and out[#out] == 0 do
      out[#out] = nil
    end
    return out
  end
  local x = times(from_decimal(limit.burst_text), limit.window)
  local y = times(from_decimal(limit.limit_text), 3153600000000000)
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

-- Completes a parsed limit with the request's cost and the module's defaults and checks.
-- Returns the module's error, if any.
local function complete(limit, cost)
  local kind = limit.kind or "S"
  limit.kind = kind
  if not limit.burst then
    -- As deep as its rate: it drains within its window, at most 36500 days.
    limit.burst, limit.burst_text = limit.limit, limit.limit_text
  elseif kind ~= "B" then
    return "ERR BURST applies to ALGO TOKEN, LEAKY and GCRA only"
  elseif not drains_in_time(limit) then
    return "ERR BURST is too large for this rate: BURST × window / limit must be at most 36500d"
  end
  if kind == "L" then
    -- At most one entry per millisecond, each of at least one unit: min(limit, window in ms)
    -- entries, bounded by the module's rl.log-max-entries at its default.
    local needs = limit.window / 1000
    if limit.limit < needs then
      needs = limit.limit
    end
    if needs > 10000 then
      return string.format("ERR ALGO LOG keeps an entry per millisecond with admissions in the "
        .. "window, up to %d for this limit and window, more than rl.log-max-entries (10000)",
        needs)
    end
  end
  limit.cost = cost
  if kind == "B" then
    limit.capacity = limit.burst
  end
  return nil
end

-- The fallback's own bounds, checked once the module's checks have passed: what the module
-- takes but doubles cannot decide exactly.
local function beyond_script(limit)
  local name
  if limit.limit > (2^53 - 1) then
    name = "limit"
  elseif limit.burst > (2^53 - 1) then
    name = "BURST"
  elseif limit.cost > (2^53 - 1) then
    name = "COST"
  else
    return nil
  end
  return "ERR " .. name .. " must be an integer from 1 to 9007199254740991 with the script "
    .. "fallback (the rl module takes up to 9223372036854775807)"
end

-- RL.HIT / RL.PEEK: `limit window [COST n] [ALGO a] [BURST n]` from args[first..]: the limit,
-- or nil and the error.
local function parse_hit(args, first)
  local limit, err = new_limit(args[first], args[first + 1])
  if not limit then
    return nil, err
  end
  local cost
  local i = first + 2
  local name = args[i]
  while name do
    local value = args[i + 1]
    local option = string.upper(name)
    if option == "COST" then
      cost, err = take_cost(cost, value)
    elseif option == "ALGO" or option == "BURST" then
      err = take_option(limit, option, value)
    else
      err = unknown(name, "COST, ALGO or BURST")
    end
    if err then
      return nil, err
    end
    i = i + 2
    name = args[i]
  end
  err = complete(limit, cost or 1) or beyond_script(limit)
  if err then
    return nil, err
  end
  return limit
end

-- RL.MHIT: `LIMIT limit window [ALGO a] [BURST n] ... [COST n]` from args[first..], one
-- clause per key: the limits, or nil and the error.
local function parse_mhit(nkeys, args, first)
  local limits, n = {}, 0
  local cost, err
  local i = first
  local name = args[i]
  while name do
    local option = string.upper(name)
    if option == "LIMIT" then
      local limit_text, window_text = args[i + 1], args[i + 2]
      if not limit_text or not window_text then
        return nil, "ERR LIMIT needs a value"
      end
      local limit
      limit, err = new_limit(limit_text, window_text)
      if not limit then
        return nil, err
      elseif n == 64 then
        return nil, "ERR RL.MHIT needs one LIMIT clause per key: " .. nkeys
          .. " keys, 65 LIMIT clauses"
      end
      n = n + 1
      limits[n] = limit
      i = i + 3
    else
      local value = args[i + 1]
      if option == "COST" then
        cost, err = take_cost(cost, value)
      elseif option == "ALGO" or option == "BURST" then
        if n == 0 then
          return nil, "ERR " .. option .. " must follow the LIMIT clause it applies to"
        end
        err = take_option(limits[n], option, value)
      else
        err = unknown(name, "LIMIT, COST, ALGO or BURST")
      end
      if err then
        return nil, err
      end
      i = i + 2
    end
    name = args[i]
  end
  if n ~= nkeys then
    return nil, "ERR RL.MHIT needs one LIMIT clause per key: " .. nkeys .. " keys, " .. n
      .. " LIMIT clauses"
  end
  for j = 1, n do
    err = complete(limits[j], cost or 1)
    if err then
      return nil, err
    end
  end
  for j = 1, n do
    err = beyond_script(limits[j])
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

-- The time from as_of (decimal microseconds) to now, as whole milliseconds and microseconds,
-- and false; or 0, 0, true when the clock is behind as_of: the state is then read as of now,
-- unchanged. nil for an instant past the clamp.
local function since(as_of, now_ms, now_sub)
  local a_ms, a_sub
  local digits = #as_of
  if digits < 16 or (digits == 16 and as_of < "9007199254740992") then
    local a = tonumber(as_of)
    a_sub = a % 1000
    a_ms = (a - a_sub) / 1000
  else
    a_ms, a_sub = tonumber(string.sub(as_of, 1, -4)), tonumber(string.sub(as_of, -3))
    if a_ms > 72057594037927 then
      return nil
    end
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
-- it); nil when the value is not a state. Every field is below 2^53, every window from 1 ms
-- to 36500 days.
local function view(value, now_ms, now_sub)
  local tag = string.sub(value, 1, 3)
  if tag == "S1 " then
    local w, as_of, into, cur, prev = string.match(value, "^S1 (%d+) (%d+) (%d+) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, into, cur, prev = tonumber(w), tonumber(into), tonumber(cur), tonumber(prev)
    if w < 1000 or w > 3153600000000000 or into >= w or cur > (2^53 - 1) or prev > (2^53 - 1) then
      return nil
    end
    local e_ms, e_sub, moved = since(as_of, now_ms, now_sub)
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
    local w, as_of, into, cnt = string.match(value, "^F1 (%d+) (%d+) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, into, cnt = tonumber(w), tonumber(into), tonumber(cnt)
    if w < 1000 or w > 3153600000000000 or into >= w or cnt > (2^53 - 1) then
      return nil
    end
    local e_ms, e_sub, moved = since(as_of, now_ms, now_sub)
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
    local w, l, as_of, ahead, frac = string.match(value, "^B1 (%d+) (%d+) (%d+) (%d+) (%d+)$")
    if not w then
      return nil
    end
    w, l, ahead, frac = tonumber(w), tonumber(l), tonumber(ahead), tonumber(frac)
    -- A bucket drains within 36500 days and holds at most 2^53 units.
    if w < 1000 or w > 3153600000000000 or l < 1 or l > (2^53 - 1) or frac >= l
      or ahead > 3153600000000000 or ahead * l / w > 2^53 then
      return nil
    end
    local e_ms, e_sub, moved = since(as_of, now_ms, now_sub)
    if not e_ms then
      return nil
    end
    local elapsed = e_ms * 1000 + e_sub
    if elapsed > ahead or (elapsed == ahead and frac == 0) then
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
  elseif kind == "F" then
    if state[4] > 0 then
      return state[2] - state[3]
    end
  elseif state[5] > 0 then
    return state[4] + 1
  elseif state[4] > 0 then
    return state[4]
  end
  return nil -- an empty window or bucket carries nothing
end

-- The previous window's weight `into` into the current one, in units, rounded up.
local function previous_share(state)
  local prev = state[5]
  if prev == 0 then
    return 0
  end
  local q, r = mad(prev, state[2] - state[3], 0, state[2])
  if r > 0 then
    return q + 1
  end
  return q
end

---------------------------------------------------------------------------------------------
-- Logs (ALGO LOG)
--
-- A log read from a key is seen at now: `base` and `last`, the times of its oldest and newest
-- entries in milliseconds, are moved back by `shift` when the clock stands behind the log's
-- date. Its entries are read from the list only as far as a decision needs them: the oldest
-- ones, which age out, and for a denied request those that must age out before it fits.
--   { "L", window, w_ms, now, key, base, last, total, shift, texts, fetched, ended, times,
--     units, parsed, bad }
-- window is in microseconds (as a limit's), w_ms in milliseconds; now is the time (ms) it is
-- seen at; texts the list's elements read so far (texts[1] the header), fetched the entries
-- among them and ended whether they are all; times and units the entries parsed so far; bad
-- is set when an entry does not parse (the key then answers WRONGTYPE).

-- The script form runs this file on every call, and makes a closure of every function at its
-- top level: the functions of logs are made by logs(), only by a call that meets a log (once
-- for the function form's library).

local log_functions

-- The functions of logs: view, seeded, entry, aged, decide and store.
local function logs()
  if log_functions then
    return log_functions
  end
  -- The log in a list whose first elements are `head` (the header and up to 8 entries), seen at
  -- now (ms); nil when the list is not a log.
  local function log_view(key, head, now_ms)
    local w, as_of, base, last, total =
      string.match(head[1], "^L1 (%d+) (%d+) (%-?%d+) (%-?%d+) (%d+)$")
    if not w or #head < 2 or #w > 13 or #as_of > 14 or #base > 15 or #last > 15 or #total > 16
    then
      return nil
    end
    w, as_of, base, last, total =
      tonumber(w), tonumber(as_of), tonumber(base), tonumber(last), tonumber(total)
    if w < 1 or w > 3153600000000 or as_of > 72057594037927 or base > last or last > as_of
      or base <= as_of - w or total < 1 or total > (2^53 - 1) then
      return nil
    end
    local shift = 0
    if as_of > now_ms then
      shift = as_of - now_ms
    end
    -- Every field at once: a table that grows field by field is rebuilt as it grows.
    return {
      "L",
      w * 1000,
      w_ms = w,
      now = now_ms,
      key = key,
      base = base - shift,
      last = last - shift,
      total = total,
      shift = shift,
      texts = head,
      fetched = #head - 1,
      ended = #head < 9,
      times = {},
      units = {},
      parsed = 0,
      bad = false,
    }
  end

  -- A log of this window (ms) holding `units` admitted now, in memory: what the units in use of
  -- another shape become when a key turns to ALGO LOG.
  local function log_seeded(w_ms, units, now_ms)
    return {
      "L",
      w_ms * 1000,
      w_ms = w_ms,
      now = now_ms,
      key = false,
      base = now_ms,
      last = now_ms,
      total = units,
      shift = 0,
      texts = false,
      fetched = 1,
      ended = true,
      times = { now_ms },
      units = { units },
      parsed = 1,
      bad = false,
    }
  end

  -- The time (ms, as seen now) and units of the log's i-th entry, oldest first; nil past the
  -- newest, or when the entry does not parse (the log is then bad). The list is read on demand,
  -- each read taking as many entries again as were read so far.
  local function log_entry(log, i)
    while log.parsed < i do
      local j = log.parsed + 1
      if j > log.fetched then
        if log.ended then
          return nil
        end
        local want = log.fetched + 8
        local more = redis.call("LRANGE", log.key, log.fetched + 1, log.fetched + want)
        local texts = log.texts
        for k = 1, #more do
          texts[#texts + 1] = more[k]
        end
        log.fetched = log.fetched + #more
        log.ended = #more < want
        if j > log.fetched then
          return nil
        end
      end
      local text = log.texts[j + 1]
      local delta, units = string.match(text, "^(%d+)$"), 1
      if not delta then
        delta, units = string.match(text, "^(%d+):(%d+)$")
        if not delta or #units > 16 then
          log.bad = true
          return nil
        end
        units = tonumber(units)
      end
      local t
      if j == 1 then
        t = log.base
      else
        t = log.times[j - 1] + tonumber(delta)
      end
      if #delta > 14 or units < 1 or units > (2^53 - 1) or (j > 1 and t <= log.times[j - 1])
        or t > log.last then
        log.bad = true
        return nil
      end
      log.times[j], log.units[j] = t, units
      log.parsed = j
    end
    return log.times[i], log.units[i]
  end

  -- The entries that aged out of the log at now (their time at most now - window): how many,
  -- and their units.
  local function log_aged(log)
    local cutoff = log.now - log.w_ms
    local n, freed = 0, 0
    local t, u = log_entry(log, 1)
    while t and t <= cutoff do
      n, freed = n + 1, freed + u
      t, u = log_entry(log, n + 1)
    end
    return n, freed
  end

  -- LOG: admitted when the units admitted in the last window, plus the cost, are at most the
  -- limit. Time is in whole milliseconds: an entry of millisecond t counts until t + window - 1.
  -- Decides against a log of the limit's window seen at now (nil: none) and returns allowed,
  -- remaining, retry, reset, and the entries that aged out and their units.
  local function log_decide(log, limit, now_ms, now_sub)
    local w_ms, l, cost = limit.window / 1000, limit.limit, limit.cost
    local aged, freed, used = 0, 0, 0
    if log then
      aged, freed = log_aged(log)
      used = log.total - freed
    end
    local allowed = cost <= l and used <= l - cost
    local held = used
    if allowed then
      held = used + cost
    end
    local retry = 0
    if not allowed then
      if cost > l then
        retry = -1
      else
        -- Walks the entries kept until enough of them have aged out.
        local need, got, at = used - (l - cost), 0, now_ms
        local i = aged + 1
        local t, u = log_entry(log, i)
        while t do
          got, at = got + u, t + w_ms
          if got >= need then
            break
          end
          i = i + 1
          t, u = log_entry(log, i)
        end
        retry = (at - now_ms) * 1000 - now_sub
      end
    end
    -- The newest entry held after the request, which ages out last.
    local newest
    if allowed and cost > 0 then
      newest = now_ms
    elseif log and held > 0 then
      newest = log.last
    end
    local reset = 0
    if newest then
      reset = (newest + w_ms - now_ms) * 1000 - now_sub
    end
    local remaining = l - held
    if remaining < 0 then
      remaining = 0
    end
    return allowed, remaining, retry, reset, aged, freed
  end

  -- Stores a change to the log the key holds, dated now: the entries that aged out leave the
  -- front (the header takes the place of the last of them, and the list is trimmed up to it),
  -- the units admitted now join the newest entry when it is of this millisecond or else arrive
  -- at the back. Or stores a new log of one entry in place of what the key held. The key expires
  -- when the newest entry ages out.
  local function store_log(key, write, existed, now_ms)
    local w_ms, last
    if write[1] == "N" then
      w_ms, last = write[2], now_ms
      if existed then
        redis.call("DEL", key)
      end
      local units = write[3]
      local entry = "0"
      if units ~= 1 then
        entry = string.format("0:%d", units)
      end
      redis.call("RPUSH", key, string.format("L1 %d %d %d %d %d", w_ms, now_ms, now_ms, now_ms,
        units), entry)
    else
      local log, aged, freed, added = write[2], write[3], write[4], write[5]
      w_ms, last = log.w_ms, log.last
      local base, total = log.base, log.total - freed
      if added > 0 then
        local kept = log_entry(log, aged + 1)
        if not kept then
          base = now_ms
          redis.call("RPUSH", key, added == 1 and "0" or string.format("0:%d", added))
        elseif last == now_ms then
          base = kept
          local text = redis.call("LINDEX", key, -1)
          local delta, units = string.match(text, "^(%d+):(%d+)$")
          if not delta then
            delta, units = text, 1
          end
          redis.call("LSET", key, -1, string.format("%s:%d", delta, tonumber(units) + added))
        else
          base = kept
          local delta = now_ms - last
          if added == 1 then
            redis.call("RPUSH", key, string.format("%d", delta))
          else
            redis.call("RPUSH", key, string.format("%d:%d", delta, added))
          end
        end
        last, total = now_ms, total + added
      end
      local header = string.format("L1 %d %d %d %d %d", w_ms, now_ms, base, last, total)
      if aged > 0 then
        redis.call("LSET", key, aged, header)
        redis.call("LTRIM", key, aged, -1)
      else
        redis.call("LSET", key, 0, header)
      end
    end
    redis.call("PEXPIREAT", key, last + w_ms)
  end

  log_functions = {
    view = log_view,
    seeded = log_seeded,
    entry = log_entry,
    aged = log_aged,
    decide = log_decide,
    store = store_log,
  }
  return log_functions
end

-- Units in use, rounded up.
local function used(state)
  local kind = state[1]
  if kind == "S" then
    return state[4] + previous_share(state)
  elseif kind == "F" then
    return state[4]
  elseif kind == "L" then
    local _, freed = logs().aged(state)
    return state.total - freed
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
  local q = math.floor(window / l)
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
  local into, cur, prev, share
  if state then
    into, cur, prev = state[3], state[4], state[5]
    share = previous_share(state)
  else
    into, cur, prev, share = first_into(w, l), 0, 0, 0
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

-- One LOG request against a key's value seen at now (nil: no key), as `hit` below. What it
-- stores is a change to the log the key holds, { "E", log, aged, freed, added }, or a new log
-- of one entry, { "N", window in ms, units }.
local function hit_log(state, limit, now_ms, now_sub)
  local cost = limit.cost
  if state and state[1] == "L" and state[2] == limit.window then
    local allowed, remaining, retry, reset, aged, freed =
      logs().decide(state, limit, now_ms, now_sub)
    if allowed and cost > 0 then
      return allowed, remaining, retry, reset, { "E", state, aged, freed, cost }
    elseif state.shift > 0 then
      -- Dated later than now: stored moved back to now, nothing consumed.
      return allowed, remaining, retry, reset, nil, { "E", state, 0, 0, 0 }
    end
    return allowed, remaining, retry, reset
  end
  -- Another shape or window: a log holding the units in use now (at most the limit) at now.
  local w_ms = limit.window / 1000
  local units, seed, kept = 0, nil, nil
  if state then
    units = used(state)
  end
  if units > 0 then
    if units > limit.limit then
      units = limit.limit
    end
    seed = logs().seeded(w_ms, units, now_ms)
    kept = { "N", w_ms, units }
  end
  local allowed, remaining, retry, reset = logs().decide(seed, limit, now_ms, now_sub)
  if allowed and cost > 0 then
    return allowed, remaining, retry, reset, { "N", w_ms, units + cost }, kept
  end
  return allowed, remaining, retry, reset, nil, kept
end

-- One request against a key's state seen at now (nil: no key). Returns allowed, remaining,
-- retry, reset, the state to store if admitted, and the state to store otherwise (reshaped for
-- these parameters, or moved to now), if any.
local function hit(state, moved, limit, now_ms, now_sub)
  local kind = limit.kind
  if kind == "L" then
    return hit_log(state, limit, now_ms, now_sub)
  end
  local basis, kept
  if state then
    if state[1] == kind and state[2] == limit.window and (kind ~= "B" or state[3] == limit.limit)
    then
      basis = state
      if moved then
        kept = state
      end
    else
      -- Another algorithm, window or bucket rate: the units in use now, at most the
      -- capacity, seed a state for these parameters. Nothing in use: as good as a new key.
      local units = used(state)
      if units > 0 then
        if units > limit.capacity then
          units = limit.capacity
        end
        basis = seeded(limit, units)
        kept = basis
      end
    end
  end
  local allowed, remaining, retry, reset, consumed
  if kind == "S" then
    allowed, remaining, retry, reset, consumed = sliding(basis, limit)
  elseif kind == "F" then
    allowed, remaining, retry, reset, consumed = fixed(basis, limit)
  else
    allowed, remaining, retry, reset, consumed = bucket(basis, limit)
  end
  return allowed, remaining, retry, reset, consumed, kept
end

---------------------------------------------------------------------------------------------
-- Keys

-- SET ... PXAT stores and expires in one call where the server has it (Redis 6.2 and later;
-- the version is visible to scripts from Redis 7 on).
local SET_PXAT = (redis.REDIS_VERSION_NUM or 0) >= 0x060200

-- Stores a state dated now and expires the key when the state is back to full capacity.
local function store(key, state, existed, now_ms, now_sub)
  local us = expires_in(state)
  if not us then
    if existed then
      redis.call("DEL", key)
    end
    return
  end
  local kind, value = state[1], nil
  if kind == "S" then
    value = string.format("S1 %d %d%03d %d %d %d", state[2], now_ms, now_sub, state[3], state[4],
      state[5])
  elseif kind == "F" then
    value = string.format("F1 %d %d%03d %d %d", state[2], now_ms, now_sub, state[3], state[4])
  else
    value = string.format("B1 %d %d %d%03d %d %d", state[2], state[3], now_ms, now_sub, state[4],
      state[5])
  end
  local expire_ms = now_ms + ceil_ms(now_sub + us)
  if SET_PXAT then
    redis.call("SET", key, value, "PXAT", expire_ms)
  else
    redis.call("SET", key, value)
    redis.call("PEXPIREAT", key, expire_ms)
  end
end

-- Stores what a decision wrote: a state, or a log (see hit_log).
local function store_any(key, write, existed, now_ms, now_sub)
  local kind = write[1]
  if kind == "E" or kind == "N" then
    logs().store(key, write, existed, now_ms)
  else
    store(key, write, existed, now_ms, now_sub)
  end
end

-- The key's state or log seen at now and whether it was moved; nil for no key; false for a key
-- that holds something else. A state is a string and a log a list: `log_first` tries the list
-- first (for ALGO LOG).
local function load(key, now_ms, now_sub, log_first)
  local head
  if log_first then
    head = redis.pcall("LRANGE", key, 0, 8)
    if not head.err then
      if #head == 0 then
        return nil, false
      end
      local log = logs().view(key, head, now_ms)
      if not log then
        return false
      end
      return log, log.shift > 0
    end
  end
  local value = redis.pcall("GET", key)
  if not value then
    return nil, false
  elseif type(value) == "string" then
    local state, moved = view(value, now_ms, now_sub)
    if not state then
      return false
    end
    return state, moved
  elseif log_first then
    return false
  end
  head = redis.pcall("LRANGE", key, 0, 8)
  if head.err or #head == 0 then
    return false
  end
  local log = logs().view(key, head, now_ms)
  if not log then
    return false
  end
  return log, log.shift > 0
end

local function reply(allowed, capacity, remaining, retry, reset, position)
  if retry > 0 then
    retry = ceil_ms(retry)
  end
  return { allowed and 1 or 0, capacity, remaining, retry, ceil_ms(reset), position }
end

---------------------------------------------------------------------------------------------
-- Commands

local WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

local function hit_command(name, keys, args, first, writes)
  -- The module's arguments after the command name are the keys, then the rest.
  local key = keys[1]
  if #keys ~= 1 then
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
  local state, moved = load(key, now_ms, now_sub, limit.kind == "L")
  if state == false then
    return redis.error_reply(WRONGTYPE)
  end
  local allowed, remaining, retry, reset, consumed, kept = hit(state, moved, limit, now_ms, now_sub)
  if state and state.bad then
    return redis.error_reply(WRONGTYPE)
  end
  if writes then
    local write = consumed or kept
    if write then
      store_any(key, write, state ~= nil, now_ms, now_sub)
    end
  end
  return reply(allowed, limit.capacity, remaining, retry, reset)
end

local function mhit_command(keys, args, first)
  local n = #keys
  -- The server's own arity rule for RL.MHIT: numkeys, a key, LIMIT, limit and window at least.
  if n + #args - first + 1 < 4 then
    return redis.error_reply("ERR wrong number of arguments for 'rl.mhit' command")
  elseif n < 1 or n > 64 then
    return redis.error_reply(
      "ERR numkeys must be an integer from 1 to 64, and no more than the keys given")
  end
  local seen = {}
  for _, key in ipairs(keys) do
    if seen[key] then
      return redis.error_reply("ERR RL.MHIT keys must be distinct")
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
    local state, m = load(keys[i], now_ms, now_sub, limits[i].kind == "L")
    if state == false then
      return redis.error_reply(WRONGTYPE)
    end
    states[i], moved[i] = state or false, m
  end
  -- Each decision is { allowed, remaining, retry, reset }.
  local decisions, consumed, kept = {}, {}, {}
  local admitted = true
  for i = 1, n do
    local allowed, remaining, retry, reset
    allowed, remaining, retry, reset, consumed[i], kept[i] =
      hit(states[i] or nil, moved[i], limits[i], now_ms, now_sub)
    decisions[i] = { allowed, remaining, retry, reset }
    admitted = admitted and allowed
  end
  -- All or nothing: a denied request leaves only reshaped or moved states behind.
  for i = 1, n do
    if states[i] and states[i].bad then
      return redis.error_reply(WRONGTYPE)
    end
  end
  for i = 1, n do
    local write = kept[i]
    if admitted then
      write = consumed[i] or write
    end
    if write then
      store_any(keys[i], write, states[i] ~= false, now_ms, now_sub)
    end
  end
  -- Admitted: the limit with the fewest left decides. Denied: the denying limit with the
  -- longest wait (never is the longest), the first of equals. The reply is the deciding
  -- limit's own.
  local deciding = 1
  if admitted then
    local fewest = decisions[1][2]
    for i = 2, n do
      if decisions[i][2] < fewest then
        deciding, fewest = i, decisions[i][2]
      end
    end
  else
    local best
    for i = 1, n do
      local d = decisions[i]
      if not d[1] then
        local wait = d[3]
        if wait < 0 then
          wait = 2^53 -- never: longer than any wait
        end
        if not best or wait > best then
          deciding, best = i, wait
        end
      end
    end
  end
  local d = decisions[deciding]
  return reply(admitted, limits[deciding].capacity, d[2], d[3], d[4], deciding)
end

---------------------------------------------------------------------------------------------
-- Leases (RL.ACQUIRE, RL.RELEASE, RL.RENEW)
--
-- A key's leases are a hash: the field "" holds `A1 <as_of>`, the instant (microseconds) of the
-- decision that wrote it, and each lease is a field, its id, holding `<expires_at> <units>`.
-- Read, they are seen at now:
--   { ids, units, left, n, gone, moved, stored }
-- left[i]: microseconds from now until lease i expires (> 0). A hash dated later than now
-- (the clock stepped back) is read as it stood at its date: every lease keeps the time it had
-- left (moved = true). gone lists the ids of leases that expired (dropped at the next write);
-- stored is every id the hash holds.

-- The script form runs this file on every call, and makes a closure of every function at its
-- top level: the functions of the leases are made by lease_commands(), only by the calls that
-- need them (once for the function form's library).

local lease_functions

-- The lease commands: acquire(keys, args, first) for RL.ACQUIRE, and change(name, keys, args,
-- first, renew) for RL.RELEASE and RL.RENEW.
local function lease_commands()
  if lease_functions then
    return lease_functions
  end
  local LEASE_DURATION = "ERR lease must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d "
    .. "(from 1ms to 36500d)"

  -- A lease id, 1 to 64 bytes of anything; `what` is the argument's name in the error. The
  -- id, or nil and the error.
  local function lease_id(text, what)
    if #text < 1 or #text > 64 then
      return nil, "ERR " .. what .. " must be from 1 to 64 bytes"
    end
    return text
  end

  -- RL.ACQUIRE: `limit lease [COST n] [ID id]` from args[first..]: the limit, the lease in
  -- microseconds, the cost and the id (nil: the script makes one); or nil and the error. The
  -- limit is at most 10000, the module's rl.lease-max-held at its default.
  local function parse_acquire(args, first)
    local l = count(args[first])
    if not l or l > 10000 then
      return nil, "ERR limit must be an integer from 1 to 10000, the most leases a key may hold "
        .. "(rl.lease-max-held)"
    end
    local lease = duration(args[first + 1])
    if not lease then
      return nil, LEASE_DURATION
    end
    local cost, id, err
    local i = first + 2
    local name = args[i]
    while name do
      local value = args[i + 1]
      local option = string.upper(name)
      if option == "COST" then
        cost, err = take_cost(cost, value)
      elseif option == "ID" then
        if not value then
          return nil, "ERR ID needs a value"
        end
        local given
        given, err = lease_id(value, "ID")
        if given and id then
          err = "ERR ID is given more than once"
        end
        id = given
      else
        err = unknown(name, "COST or ID")
      end
      if err then
        return nil, err
      end
      i = i + 2
      name = args[i]
    end
    return l, lease, cost or 1, id
  end

  -- A decimal instant in microseconds as whole milliseconds and microseconds; nil when it is not
  -- one (or lies past the module's clamp plus the longest lease).
  local function instant(text)
    if not string.find(text, "^%d+$") or #text < 4 or #text > 17 then
      return nil
    end
    local ms = tonumber(string.sub(text, 1, -4))
    if ms > 72057594037927 + 3153600000000 then
      return nil
    end
    return ms, tonumber(string.sub(text, -3))
  end

  -- The leases of a key seen at now; nil for no key; false for a key holding anything else.
  local function load_leases(key, now_ms, now_sub)
    local flat = redis.pcall("HGETALL", key)
    if flat.err then
      return false
    elseif #flat == 0 then
      return nil
    end
    local a_ms, a_sub
    for i = 1, #flat, 2 do
      if flat[i] == "" then
        local as_of = string.match(flat[i + 1], "^A1 (%d+)$")
        if as_of then
          a_ms, a_sub = instant(as_of)
        end
      end
    end
    if not a_ms or a_ms > 72057594037927 or #flat < 4 then
      return false
    end
    local moved = now_ms < a_ms or (now_ms == a_ms and now_sub < a_sub)
    local ids, units, left, gone, stored, n = {}, {}, {}, {}, {}, 0
    for i = 1, #flat, 2 do
      local id = flat[i]
      if id ~= "" then
        -- The expiry's milliseconds and microseconds at once: one pattern per lease.
        local e_ms, e_sub, u = string.match(flat[i + 1], "^(%d+)(%d%d%d) (%d+)$")
        if not e_ms or #e_ms > 14 or #id > 64 or #u > 16 then
          return false
        end
        e_ms, e_sub, u = tonumber(e_ms), tonumber(e_sub), tonumber(u)
        if u < 1 then
          return false
        end
        -- Exact: a lease expires after the hash's date and at most 36500 days after it.
        local after = (e_ms - a_ms) * 1000 + (e_sub - a_sub)
        if after <= 0 or after > 3153600000000000 then
          return false
        end
        if not moved then
          after = (e_ms - now_ms) * 1000 + (e_sub - now_sub)
        end
        stored[id] = true
        if after > 0 then
          n = n + 1
          ids[n], units[n], left[n] = id, u, after
        else
          gone[#gone + 1] = id
        end
      end
    end
    return { ids = ids, units = units, left = left, n = n, gone = gone, moved = moved,
      stored = stored }
  end

  -- `<now + left> <units>`: a lease's field value.
  local function lease_value(now_ms, now_sub, left, units)
    local us = now_sub + left
    local sub = us % 1000
    return string.format("%d%03d %d", now_ms + (us - sub) / 1000, sub, units)
  end

  -- Runs `command key` with the arguments of `items` in slices, within Lua's stack.
  local function in_slices(command, key, items)
    for i = 1, #items, 1000 do
      redis.call(command, key, unpack(items, i, math.min(i + 999, #items)))
    end
  end

  -- Stores the leases seen at now, dated now, with the lease of `id` set to `left`
  -- microseconds and `units` (or dropped when left is nil); the leases that expired leave. The
  -- key expires with its last lease; without leases it is deleted. `held` (RL.RELEASE and
  -- RL.RENEW, on a key that exists) sets the expiry first: a script's first write decides
  -- whether a full server (maxmemory) lets it write, and PEXPIREAT, unlike HSET, takes no memory.
  local function store_leases(key, leases, now_ms, now_sub, id, left, units, held_first)
    local fields = { "", string.format("A1 %d%03d", now_ms, now_sub) }
    local last, held = 0, 0
    for i = 1, leases.n do
      local other = leases.ids[i]
      if other ~= id then
        held = held + 1
        if leases.left[i] > last then
          last = leases.left[i]
        end
        if leases.moved then
          -- Its expiry moves back with the clock.
          fields[#fields + 1] = other
          fields[#fields + 1] = lease_value(now_ms, now_sub, leases.left[i], leases.units[i])
        end
      end
    end
    local drop = leases.gone
    if id and left then
      held = held + 1
      if left > last then
        last = left
      end
      fields[#fields + 1] = id
      fields[#fields + 1] = lease_value(now_ms, now_sub, left, units)
    elseif id then
      drop[#drop + 1] = id
    end
    if held == 0 then
      redis.call("DEL", key)
      return
    end
    local expire_ms = now_ms + ceil_ms(now_sub + last)
    if held_first then
      redis.call("PEXPIREAT", key, expire_ms)
    end
    -- Dropped first: an expired lease's id may be the one set again.
    in_slices("HDEL", key, drop)
    in_slices("HSET", key, fields)
    if not held_first then
      redis.call("PEXPIREAT", key, expire_ms)
    end
  end

  -- 32-bit x times k, modulo 2^32, exactly: the halves' products stay below 2^53.
  local function mul32(x, k)
    local xl = x % 2^16
    return (((x - xl) / 2^16 * k) % 2^16 * 2^16 + xl * k) % 2^32
  end

  -- A lease id the script makes: 16 hex digits from now and a counter, passed through a Feistel
  -- network on two 32-bit halves. It is a bijection, so that two instants (or two counters)
  -- never make the same id; the caller skips ids the key holds.
  local function made_id(now_ms, now_sub, n)
    local lo = (now_ms % 2^16) * 2^16 + now_sub * 64 + n
    local hi = (now_ms - now_ms % 2^16) / 2^16 + (lo - lo % 2^32) / 2^32
    lo, hi = lo % 2^32, hi % 2^32
    hi, lo = lo, (hi + mul32(lo, 2654435761) + 1) % 2^32
    hi, lo = lo, (hi + mul32(lo, 2246822519) + 2) % 2^32
    hi, lo = lo, (hi + mul32(lo, 3266489917) + 3) % 2^32
    hi, lo = lo, (hi + mul32(lo, 668265263) + 4) % 2^32
    return string.format("%08x%08x", hi, lo)
  end

  -- The module's arguments after the command name (keys, then the rest) as one list, so that a
  -- misplaced key cannot change their meaning.
  local function arguments(keys, args, first)
    local all = {}
    for _, k in ipairs(keys) do
      all[#all + 1] = k
    end
    for i = first, #args do
      all[#all + 1] = args[i]
    end
    return all
  end

  local function wrong_arity(name)
    return redis.error_reply("ERR wrong number of arguments for '" .. name .. "' command")
  end

  -- RL.ACQUIRE key limit lease [COST n] [ID id]: a lease on `cost` units when the units held by
  -- unexpired leases leave room for it. An id that holds a lease already is the same holder
  -- asking again: its lease is judged as if released first, and replaced.
  local function acquire_command(keys, args, first)
    local all = arguments(keys, args, first)
    if #all < 3 then
      return wrong_arity("rl.acquire")
    end
    local key = all[1]
    local l, lease, cost, id = parse_acquire(all, 2)
    if not l then
      return redis.error_reply(lease)
    end
    local now_ms, now_sub = clock()
    local leases = load_leases(key, now_ms, now_sub)
    if leases == false then
      return redis.error_reply(WRONGTYPE)
    elseif not leases then
      leases = { ids = {}, units = {}, left = {}, n = 0, gone = {}, moved = false, stored = {} }
    end
    if not id then
      local n = 0
      id = made_id(now_ms, now_sub, n)
      while leases.stored[id] do
        n = n + 1
        id = made_id(now_ms, now_sub, n)
      end
    end
    local others, held, last, last_other = 0, 0, 0, 0
    for i = 1, leases.n do
      local u, t = leases.units[i], leases.left[i]
      held = held + u
      if t > last then
        last = t
      end
      if leases.ids[i] ~= id then
        others = others + u
        if t > last_other then
          last_other = t
        end
      end
    end
    if cost <= l and others <= l - cost then
      store_leases(key, leases, now_ms, now_sub, id, lease, cost)
      if lease > last_other then
        last_other = lease
      end
      return { 1, l, l - others - cost, 0, ceil_ms(last_other), id }
    end
    local retry = -1
    if cost <= l then
      -- When enough of the other leases have expired, the soonest first.
      local expiring = {}
      for i = 1, leases.n do
        if leases.ids[i] ~= id then
          expiring[#expiring + 1] = { leases.left[i], leases.units[i] }
        end
      end
      table.sort(expiring, function(a, b)
        return a[1] < b[1]
      end)
      local still = others
      for _, lease_left in ipairs(expiring) do
        still = still - lease_left[2]
        if still <= l - cost then
          retry = ceil_ms(lease_left[1])
          break
        end
      end
    end
    if leases.moved then
      store_leases(key, leases, now_ms, now_sub)
    end
    local remaining = l - held
    if remaining < 0 then
      remaining = 0
    end
    return { 0, l, remaining, retry, ceil_ms(last), false }
  end

  -- RL.RELEASE key id (`renew` nil) and RL.RENEW key id lease: 1 when the lease was held (and is
  -- now released, or expires `lease` from now), 0 when it had expired or never existed.
  local function lease_change(name, keys, args, first, renew)
    local all = arguments(keys, args, first)
    if #all ~= (renew and 3 or 2) then
      return wrong_arity(name)
    end
    local key = all[1]
    local id, err = lease_id(all[2], "id")
    if not id then
      return redis.error_reply(err)
    end
    local lease
    if renew then
      lease = duration(all[3])
      if not lease then
        return redis.error_reply(LEASE_DURATION)
      end
    end
    local now_ms, now_sub = clock()
    local leases = load_leases(key, now_ms, now_sub)
    if leases == false then
      return redis.error_reply(WRONGTYPE)
    elseif not leases then
      return 0
    end
    for i = 1, leases.n do
      if leases.ids[i] == id then
        store_leases(key, leases, now_ms, now_sub, id, lease, leases.units[i], true)
        return 1
      end
    end
    return 0
  end

  lease_functions = { acquire = acquire_command, change = lease_change }
  return lease_functions
end

-- Runs "RL.HIT", "RL.PEEK", "RL.MHIT", "RL.ACQUIRE", "RL.RELEASE" or "RL.RENEW" with the keys
-- and the arguments args[first..].
local function run(command, keys, args, first)
  -- In upper case, as the Python package sends them, the common names make no new string.
  local name
  if command == "RL.HIT" then
    name = "rl.hit"
  elseif command == "RL.MHIT" then
    name = "rl.mhit"
  elseif command == "RL.PEEK" then
    name = "rl.peek"
  else
    name = string.lower(command or "")
  end
  if name == "rl.hit" then
    return hit_command(name, keys, args, first, true)
  elseif name == "rl.peek" then
    return hit_command(name, keys, args, first, false)
  elseif name == "rl.mhit" then
    return mhit_command(keys, args, first)
  elseif name == "rl.acquire" then
    return lease_commands().acquire(keys, args, first)
  elseif name == "rl.release" or name == "rl.renew" then
    return lease_commands().change(name, keys, args, first, name == "rl.renew")
  end
  return redis.error_reply("ERR unknown rl command '" .. tostring(command) .. "'")
end
