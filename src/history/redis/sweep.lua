-- Trims one channel stream by age, for channels that no append has touched lately (appends trim
-- their own channel). Records the newest seq removed, like the append script, so gaps stay exact;
-- a stream left empty is deleted: its trimmed-through mark alone still answers any resume.
-- A stream that stays is put in the channel index if it is not there yet (streams written before
-- the index existed), and the bound on channel streams is applied (channels.lua), so it holds
-- after a sweep even for those.
--
-- KEYS[1] trimmed hash  KEYS[2] the channel's stream  KEYS[3] channel index
-- ARGV[1] channel  ARGV[2] maxAge ms  ARGV[3] now ms, or '' for Redis TIME  ARGV[4] maxChannels
-- ARGV[5] prefix of every channel stream's key
-- Returns { entries removed by age, streams evicted beyond maxChannels }.

local cutoff = nowMs(ARGV[3]) - tonumber(ARGV[2])
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
  redis.call('XTRIM', KEYS[2], 'MINID', (entrySeq(through) + 1) .. '-0')
end
if through ~= nil then
  local seq = entrySeq(through)
  redis.call('XTRIM', KEYS[2], 'MINID', (seq + 1) .. '-0')
  raiseMark(KEYS[1], ARGV[1], seq)
end
if redis.call('XLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return { removed, 0 }
end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
redis.call('ZADD', KEYS[3], 'NX', entrySeq(newest[1]), ARGV[1])
return { removed, evictBeyond(KEYS[3], KEYS[1], ARGV[5], tonumber(ARGV[4])) }
