
-- set_if: KEYS[1] the entry; ARGV[1] the value to store (header included),
-- ARGV[2] its version, ARGV[3] the condition ('always', 'absent' or
-- 'matches'), ARGV[4] the expected version ('matches'), ARGV[5] the TTL in
-- milliseconds, '0' for none.
-- Reply: 1 written (or already at ARGV[2]: the caller's own earlier attempt);
-- 0 condition failed, key absent; a string: condition failed, the key's
-- version; -1 the key's header is damaged, so no condition on it can be judged.
local stored = redis.call('GET', KEYS[1])
local condition = ARGV[3]
local current = false
if stored then
  current = version_of(stored)
  if current == nil then
    if condition ~= 'always' then
      return -1
    end
    current = ''
  end
end
if current == ARGV[2] then
  return 1
end
local holds = condition == 'always'
  or (condition == 'absent' and not current)
  or (condition == 'matches' and current == ARGV[4])
if not holds then
  return current or 0
end
-- A SET without PX drops any earlier TTL, like a plain set.
if ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
end
return 1
