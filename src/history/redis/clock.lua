-- Prepended to the scripts that stamp or age events (append, replay, sweep; scripts.ts reads it
-- once): the log's clock. It is Redis's own TIME, so every instance stamps and ages events by one
-- clock whatever the skew between their hosts. A caller may pass the time instead ('' for TIME):
-- tests drive maxAge with an injected clock (`now` in history/bounds.ts) rather than sleeping.

local function nowMs(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
