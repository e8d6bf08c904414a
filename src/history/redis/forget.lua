-- Bounds the trimmed hash: removes the trimmed-through marks of channels that have no stream left
-- (a sweep deleted it after its events aged out, or the bound on channel streams evicted it),
-- folding them into one `forgotten` seq in the meta hash. A channel with neither mark nor stream
-- then counts as lost through `forgotten` (lostThrough in channels.lua), and one that comes back
-- starts from it (append.lua), so a resume is never told "nothing missed" when something was; the
-- price is a gap that may not be needed, only for cursors older than the forgotten marks. The
-- caller offers the lowest marks first, so the least recently published channels are forgotten
-- first, as memory.ts does.
--
-- KEYS[1] meta hash  KEYS[2] trimmed hash  KEYS[2+i] stream of channel i
-- ARGV[1] remove at most this many  ARGV[1+i] channel i
-- Returns the number of marks removed.

local limit = tonumber(ARGV[1])
local removed = 0
local forgotten = tonumber(redis.call('HGET', KEYS[1], 'forgotten') or '0')
for i = 3, #KEYS do
  if removed >= limit then break end
  local channel = ARGV[i - 1]
  -- Checked here, atomically with the removal: a stream appended to since the caller listed it keeps its mark.
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local mark = redis.call('HGET', KEYS[2], channel)
    if mark then
      redis.call('HDEL', KEYS[2], channel)
      removed = removed + 1
      forgotten = math.max(forgotten, tonumber(mark))
    end
  end
end
if removed > 0 then redis.call('HSET', KEYS[1], 'forgotten', forgotten) end
return removed
