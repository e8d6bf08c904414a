-- Prepended to the append, replay and check scripts (scripts.ts reads it once): how the log's
-- epoch is kept, so that an id `<epoch>-<seq>` names one event and never another.
--
-- Within one epoch `seq` only grows. A Redis that comes back with less than it had (a failover
-- to a replica that missed acknowledged writes, a restore from an older snapshot) breaks that:
-- its seq is behind ids clients already hold, and the next appends would issue those ids again
-- for different events. A caller that knows a higher seq under the same epoch therefore starts a
-- new epoch before anything else happens. It is a compare-and-set on the epoch (only if it is
-- still the one the caller knew), so instances that notice together start one epoch, not one each.
-- `since` is the seq the epoch started after: a client from an older epoch resumes from there.

local function startEpoch(meta, candidate)
  redis.call('HSET', meta, 'epoch', candidate, 'since', redis.call('HGET', meta, 'seq') or '0')
  return candidate
end

-- The log's epoch: `candidate` if it has none yet, or if the caller saw seq `seen` under epoch
-- `known` and the log's seq is now behind it.
local function logEpoch(meta, candidate, known, seen)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then return startEpoch(meta, candidate) end
  if epoch == known and tonumber(redis.call('HGET', meta, 'seq') or '0') < tonumber(seen) then
    return startEpoch(meta, candidate)
  end
  return epoch
end
