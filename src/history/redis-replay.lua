-- Reads, in one atomic snapshot, what a resuming client needs: the log's epoch and head, how far
-- each channel was trimmed, and each channel's entries after the cursor. One snapshot means the
-- trimmed-through marks and the entries agree, so a gap is reported exactly when one exists.
--
-- KEYS[1] meta hash  KEYS[2] trimmed hash  KEYS[2+i] stream of channel i
-- ARGV[1] candidate epoch  ARGV[2] read after this seq (-1: read nothing)  ARGV[3] max entries per channel
-- ARGV[3+i] channel i
-- Returns { epoch, head seq, now ms, { trimmed-through per channel }, { entries per channel } }

redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local head = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local afterSeq = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local trimmed = {}
local entries = {}
for i = 3, #KEYS do
  local channel = ARGV[i + 1]
  trimmed[#trimmed + 1] = tonumber(redis.call('HGET', KEYS[2], channel) or '0')
  if afterSeq >= 0 and afterSeq < head then
    entries[#entries + 1] = redis.call('XRANGE', KEYS[i], (afterSeq + 1) .. '-0', '+', 'COUNT', ARGV[3])
  else
    entries[#entries + 1] = {}
  end
end
return { epoch, head, now, trimmed, entries }
