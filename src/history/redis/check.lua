-- Checks the log against what one instance saw, when it may have missed something (its
-- subscription came back after an outage) or has seen the log go back (a notification's seq at or
-- below one it already had): starts a new epoch if the log no longer holds what the instance saw
-- under the current one. Returns the epoch and head either way, so the caller can tell whether
-- its streams must resume.
--
-- The log went back if its head is behind the highest seq the instance saw, or if the last event
-- it heard of is not in the log as it heard it: a log restored to seq 95 that then took appends
-- up to 105 from instances that never saw 96-100 is ahead again, but seq 100 is another event.
--
-- KEYS[1] meta hash  KEYS[2] trimmed hash  KEYS[3] stream of the last event's channel (KEYS[1] if none)
-- ARGV[1] candidate epoch  ARGV[2] epoch the caller knows ('' if none)  ARGV[3] highest seq it saw under it
-- ARGV[4] seq of the last event it heard of ('' if none)  ARGV[5] its channel  ARGV[6] its time ms
-- ARGV[7] '1' if the caller already saw the log go back: start a new epoch if it is still ARGV[2]
-- Returns { epoch, head seq, why }: why is 'back' if this call started a new epoch because the log
-- went back, 'empty' if it started one because the log had none (wiped or new), else ''.

local epoch = redis.call('HGET', KEYS[1], 'epoch')
local head = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local back = false
if epoch and epoch == ARGV[2] then
  if ARGV[7] == '1' or head < tonumber(ARGV[3]) then
    back = true
  elseif ARGV[4] ~= '' then
    local seq = tonumber(ARGV[4])
    local id = seq .. '-0'
    local entry = redis.call('XRANGE', KEYS[3], id, id)[1]
    if entry then
      -- Field 1 of every entry is its append time `t`: same seq, channel and Redis time is the same event.
      back = tonumber(entry[2][2]) ~= tonumber(ARGV[6])
    else
      -- Not there: fine only if it was trimmed away since (or its stream evicted: its mark covers it).
      back = lostThrough(KEYS[1], KEYS[2], KEYS[3], ARGV[5]) < seq
    end
  end
end
local why = ''
if not epoch then why = 'empty' elseif back then why = 'back' end
if why ~= '' then epoch = startEpoch(KEYS[1], ARGV[1]) end
return { epoch, head, why }
