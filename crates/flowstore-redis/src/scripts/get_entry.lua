
-- get_entry: KEYS[1] the entry. Reads value, version, remaining TTL and the
-- server's clock together, so the expiry is judged by Redis's clock.
-- Reply: nil when absent (or expired), else
-- {stored value, version or nil if the header is damaged, PTTL, TIME seconds,
-- TIME microseconds}.
local stored = redis.call('GET', KEYS[1])
if not stored then
  return false
end
local pttl = redis.call('PTTL', KEYS[1])
local now = redis.call('TIME')
return {stored, version_of(stored) or false, pttl, now[1], now[2]}
