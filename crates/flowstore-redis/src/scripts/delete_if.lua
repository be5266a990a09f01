
-- delete_if: KEYS[1] the entry; ARGV[1] the expected version.
-- Reply: 1 deleted; 0 absent (a conflict); a string: the key's other version;
-- -1 the key's header is damaged.
local stored = redis.call('GET', KEYS[1])
if not stored then
  return 0
end
local current = version_of(stored)
if current == nil then
  return -1
end
if current ~= ARGV[1] then
  return current
end
redis.call('DEL', KEYS[1])
return 1
