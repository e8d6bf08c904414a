-- Reads, in one atomic snapshot, what a resuming client needs: the log's epoch and head, how far
-- each channel was trimmed, and each channel's entries after the cursor. One snapshot means the
-- trimmed-through marks and the entries agree, so a gap is reported exactly when one exists.
--
-- KEYS[1] meta hash  KEYS[2] trimmed hash  KEYS[2+i] stream of channel i
-- ARGV[1] candidate epoch  ARGV[2] epoch the caller knows ('' if none)  ARGV[3] highest seq it saw under it
-- ARGV[4] the cursor's epoch  ARGV[5] read after this seq (-1: read nothing)  ARGV[6] max entries per channel
-- ARGV[7] now ms, or '' for Redis TIME  ARGV[7+i] channel i
-- Returns { epoch, head seq, now ms, { lost-through per channel }, { entries per channel }, since }:
-- a cursor from another epoch is read from `since`, where the current epoch began, so a client the
-- epoch change sent back to resume gets every event of the new epoch after its gap.

local epoch = logEpoch(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local head = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local since = tonumber(redis.call('HGET', KEYS[1], 'since') or '0')
local afterSeq = tonumber(ARGV[5])
if afterSeq >= 0 and ARGV[4] ~= epoch then afterSeq = since end
local now = nowMs(ARGV[7])
local lost = {}
local entries = {}
for i = 3, #KEYS do
  lost[#lost + 1] = lostThrough(KEYS[1], KEYS[2], KEYS[i], ARGV[i + 5])
  if afterSeq >= 0 and afterSeq < head then
    entries[#entries + 1] = redis.call('XRANGE', KEYS[i], (afterSeq + 1) .. '-0', '+', 'COUNT', ARGV[6])
  else
    entries[#entries + 1] = {}
  end
end
return { epoch, head, now, lost, entries, since }
