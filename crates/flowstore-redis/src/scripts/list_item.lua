
-- list_item: KEYS[1] a listed entry. Reads what a listing shows of it at one
-- instant: version, remaining TTL, stored size and the server's clock (so the
-- expiry is judged by Redis's clock, as in get_entry).
-- Reply: nil when the key vanished or expired since SCAN returned it, else
-- {version or nil if the header is damaged, PTTL, STRLEN (header included),
-- TIME seconds, TIME microseconds}.
local stored = redis.call('GET', KEYS[1])
if not stored then
  return false
end
local pttl = redis.call('PTTL', KEYS[1])
local now = redis.call('TIME')
return {version_of(stored) or false, pttl, #stored, now[1], now[2]}
