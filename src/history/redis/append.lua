-- Appends events to the shared log in one atomic step: assign seqs from the one global counter,
-- XADD each event to its channel's stream, trim the stream to maxEvents/maxAge (remembering how
-- far each channel was trimmed, so gaps are exact), PUBLISH one notification per event, and keep
-- at most maxChannels channel streams (channels.lua). Nothing else runs in Redis between these
-- steps, so every instance sees the same ids in the same order, and a notification is never sent
-- for an event that is not in the log.
--
-- KEYS[1] meta hash {epoch, since, seq, forgotten}  KEYS[2] trimmed hash {channel -> trimmed-through seq}
-- KEYS[3] sources hash {source key -> last ingested entry id} (Redis Streams ingress)
-- KEYS[4] channel index, sorted set {channel -> seq of its latest append}
-- KEYS[4+i] the stream of event i
-- ARGV[1] candidate epoch  ARGV[2] epoch the caller knows ('' if none)  ARGV[3] highest seq it saw under it
-- ARGV[4] maxEvents  ARGV[5] maxAge ms  ARGV[6] notify channel  ARGV[7] PUBLISH or SPUBLISH  ARGV[8] source key or ''
-- ARGV[9] maxChannels  ARGV[10] prefix of every channel stream's key  ARGV[11] now ms, or '' for Redis TIME
-- ARGV[12] deadline: Redis-clock ms after which the caller has given up ('' for none)
-- ARGV[13+4(i-1)..] per event: channel, event name or '', data, source entry id or ''
-- Returns { epoch, Redis TIME in ms, seq of each appended event... }; events whose source id was
-- already ingested are skipped (so N instances reading one source append each entry once).
-- Fails with SSEG_LATE, storing nothing, if it runs after the deadline.

-- First of all, before anything is written: an append that reaches Redis after its caller's
-- command timeout (a stalled server that resumes, a queue behind a slow script) was already
-- answered 503, so it must not be stored; applied now it would also land after appends its
-- publisher sent later. Redis's own TIME, whatever `now` tests inject: the deadline is on that clock.
local clock = redis.call('TIME')
local redisNow = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if ARGV[12] ~= '' and redisNow > tonumber(ARGV[12]) then
  return redis.error_reply('SSEG_LATE the append reached Redis after its deadline; nothing was stored')
end

-- Before any seq is taken: a log behind what the caller saw gets a new epoch (epoch.lua).
local epoch = logEpoch(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
local maxEvents = tonumber(ARGV[4])
local maxAge = tonumber(ARGV[5])
local notify = ARGV[6]
local publish = ARGV[7]
local source = ARGV[8]
local maxChannels = tonumber(ARGV[9])
local streamPrefix = ARGV[10]
-- Non-zero once the forget script has folded marks away: a stream created again must start from it.
local forgotten = tonumber(redis.call('HGET', KEYS[1], 'forgotten') or '0')
local now = nowMs(ARGV[11])

local function idParts(id)
  local ms, sq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(sq)
end

local function after(a, b)
  local am, as = idParts(a)
  local bm, bs = idParts(b)
  return am > bm or (am == bm and as > bs)
end

local cursor = nil
if source ~= '' then
  cursor = redis.call('HGET', KEYS[3], source) or '0-0'
end

local result = { epoch, redisNow }
local touched = {}
local latest = {}
local created = {}
local n = (#ARGV - 12) / 4
for i = 1, n do
  local base = 13 + (i - 1) * 4
  local channel, name, data, sourceId = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  if cursor == nil or after(sourceId, cursor) then
    if cursor ~= nil then cursor = sourceId end
    local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
    local key = KEYS[4 + i]
    if forgotten > 0 and touched[key] == nil and redis.call('EXISTS', key) == 0 then created[key] = true end
    -- The entry id is the global seq itself: replay reads (cursor+1 .. +) with no lookup.
    if name == '' then
      redis.call('XADD', key, seq .. '-0', 't', now, 'd', data)
    else
      redis.call('XADD', key, seq .. '-0', 't', now, 'e', name, 'd', data)
    end
    touched[key] = channel
    latest[key] = seq
    result[#result + 1] = seq
    redis.call(publish, notify, epoch .. '\n' .. seq .. '\n' .. now .. '\n' .. channel .. '\n' .. name .. '\n' .. data)
  end
end
if cursor ~= nil then redis.call('HSET', KEYS[3], source, cursor) end

-- Trim each touched stream once, by age then by count, recording the newest seq removed.
for key, channel in pairs(touched) do
  local through = nil
  local cutoff = now - maxAge
  local head = redis.call('XRANGE', key, '-', '+', 'COUNT', 100)
  for _, entry in ipairs(head) do
    if tonumber(entry[2][2]) < cutoff then through = entry[1] else break end
  end
  if through ~= nil then
    redis.call('XTRIM', key, 'MINID', (entrySeq(through) + 1) .. '-0')
  end
  local len = redis.call('XLEN', key)
  if len > maxEvents then
    local old = redis.call('XRANGE', key, '-', '+', 'COUNT', len - maxEvents)
    through = old[#old][1]
    redis.call('XTRIM', key, 'MAXLEN', maxEvents)
  end
  local seq = 0
  if through ~= nil then seq = entrySeq(through) end
  -- A channel whose mark was forgotten comes back as a new stream: without a mark a resume from
  -- before its old events would see no gap, so it inherits the forgotten-through seq.
  if created[key] and not redis.call('HGET', KEYS[2], channel) then seq = math.max(seq, forgotten) end
  if seq > 0 then raiseMark(KEYS[2], channel, seq) end
  redis.call('ZADD', KEYS[4], latest[key], channel)
end
-- After the whole batch, as memory.ts forgets: a batch over more channels than the bound keeps its newest.
evictBeyond(KEYS[4], KEYS[2], streamPrefix, maxChannels)
return result
