-- flowstore-redis: the entry version of a stored value (docs/formats.md).
-- A value with the header "\255fsv", format 1, length byte, version: that
-- version. A value without the magic, written before versions existed:
-- "legacy." and the SHA-1 of its bytes, which no generated version can equal
-- (they hold no '.') and which changes whenever such a value is rewritten.
-- A damaged header or an unknown format: nil.
local function version_of(stored)
  if string.sub(stored, 1, 4) ~= '\255fsv' then
    return 'legacy.' .. redis.sha1hex(stored)
  end
  local len = string.byte(stored, 6)
  if string.byte(stored, 5) ~= 1 or len == nil or len < 1 or len > 64
      or #stored < 6 + len then
    return nil
  end
  return string.sub(stored, 7, 6 + len)
end
