-- Trims one channel stream by age, for channels that no append has touched lately (appends trim
-- their own channel). Records the newest seq removed, like the append script, so gaps stay exact;
-- a stream left empty is deleted: its trimmed-through mark alone still answers any resume.
--
-- KEYS[1] trimmed hash  KEYS[2] the channel's stream
-- ARGV[1] channel  ARGV[2] maxAge ms
-- Returns the number of entries removed.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cutoff = now - tonumber(ARGV[2])
local removed = 0
local through = nil
while true do
  local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 100)
  local stop = #head < 100
  for _, entry in ipairs(head) do
    if tonumber(entry[2][2]) < cutoff then
      through = entry[1]
      removed = removed + 1
    else
      stop = true
      break
    end
  end
  if through == nil or stop then break end
  redis.call('XTRIM', KEYS[2], 'MINID', (tonumber(string.match(through, '^(%d+)')) + 1) .. '-0')
end
if through ~= nil then
  local seq = tonumber(string.match(through, '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', (seq + 1) .. '-0')
  local known = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  if seq > known then redis.call('HSET', KEYS[1], ARGV[1], seq) end
end
if redis.call('XLEN', KEYS[2]) == 0 then redis.call('DEL', KEYS[2]) end
return removed
