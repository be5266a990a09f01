
-- touch: KEYS[1] the entry; ARGV[1] its new version (proposed by the caller),
-- ARGV[2] the new TTL in milliseconds, '0' for none.
-- Gives a live entry the new version and TTL and keeps its value: only the
-- header changes (a legacy value without a header gets one). The version lives
-- inside the string, so the string is rewritten on the server, never sent.
-- Reply: 1 touched; 0 absent (or expired), nothing written; -1 the key's header
-- is damaged, nothing written.
local stored = redis.call('GET', KEYS[1])
if not stored then
  return 0
end
local value
if string.sub(stored, 1, 4) ~= '\255fsv' then
  value = stored
else
  if version_of(stored) == nil then
    return -1
  end
  value = string.sub(stored, 7 + string.byte(stored, 6))
end
local header = '\255fsv' .. string.char(1, #ARGV[1]) .. ARGV[1]
-- A SET without PX drops any earlier TTL, like a plain set.
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], header .. value)
else
  redis.call('SET', KEYS[1], header .. value, 'PX', ARGV[2])
end
return 1
