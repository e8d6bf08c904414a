-- Prepended to the append, replay, check and sweep scripts (scripts.ts reads it once): what the
-- log knows of each channel beyond its stream. Its trimmed-through mark (the newest seq of it the
-- log no longer holds: it makes gaps exact), its place in the channel index (channel -> seq of
-- its latest append), and the bound `history.maxChannels` on channel streams.

-- The seq of a stream entry id: entry ids are `<seq>-0`.
local function entrySeq(id)
  return tonumber(string.match(id, '^(%d+)'))
end

-- Raises `channel`'s trimmed-through mark to `seq`: a mark never moves back, or a gap would be missed.
local function raiseMark(trimmed, channel, seq)
  if seq > tonumber(redis.call('HGET', trimmed, channel) or '0') then redis.call('HSET', trimmed, channel, seq) end
end

-- How far `channel` is known to be lost: its trimmed-through mark, or, for a channel with neither
-- a mark nor a stream, the highest mark the forget script folded away (see forget.lua).
local function lostThrough(meta, trimmed, stream, channel)
  local mark = redis.call('HGET', trimmed, channel)
  if mark then return tonumber(mark) end
  if redis.call('EXISTS', stream) == 1 then return 0 end
  return tonumber(redis.call('HGET', meta, 'forgotten') or '0')
end

-- Keeps at most `maxChannels` channel streams: deletes the least recently appended beyond that,
-- events and all, as memory.ts forgets a channel, and raises each one's mark to the seq of its
-- latest append, so a resume from before that gets a `trimmed` gap and one from after it none. The
-- mark then answers as that of a stream a sweep emptied does, and the forget script bounds those.
-- The streams are found here, not named by the caller, so they cannot be KEYS; they carry the
-- {log} tag, so in Cluster they are in the script's own slot, which is what Redis requires.
-- Returns the number of streams deleted.
local function evictBeyond(index, trimmed, streamPrefix, maxChannels)
  local over = redis.call('ZCARD', index) - maxChannels
  if over <= 0 then return 0 end
  local oldest = redis.call('ZRANGE', index, 0, over - 1, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    raiseMark(trimmed, oldest[i], tonumber(oldest[i + 1]))
    redis.call('DEL', streamPrefix .. oldest[i])
  end
  redis.call('ZREMRANGEBYRANK', index, 0, over - 1)
  return over
end
