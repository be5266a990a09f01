-- Writes the data lost value into one data-loss marker, only if it still holds
-- what the detector read there: a marker written afresh by an acknowledgement
-- in between is left alone, so a detection can never undo an acknowledgement.
-- KEYS[1]: the marker. ARGV[1]: what the detector read ('' for absent).
-- ARGV[2]: the data lost value. Returns 1 if written, 0 if the marker moved.
local now = redis.call('GET', KEYS[1]) or ''
if now ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
