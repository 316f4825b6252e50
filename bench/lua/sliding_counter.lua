-- Sliding window counter in a hash: the current and the previous fixed window's counts,
-- the previous weighted by its share still inside the rolling window.
-- KEYS[1]: the limited key; ARGV: limit, window (ms).
-- Returns {allowed, remaining, retry_after_ms, reset_after_ms}.
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local current = math.floor(now / window)
local counts = redis.call('HMGET', KEYS[1], current, current - 1)
local cur = tonumber(counts[1]) or 0
local prev = tonumber(counts[2]) or 0
local elapsed = now - current * window
local usage = prev * (window - elapsed) / window + cur
if usage + 1 > limit then
  return {0, 0, window - elapsed, 2 * window - elapsed}
end
redis.call('HINCRBY', KEYS[1], current, 1)
redis.call('HDEL', KEYS[1], current - 2)
redis.call('PEXPIRE', KEYS[1], 2 * window - elapsed)
return {1, math.floor(limit - usage - 1), 0, 2 * window - elapsed}
