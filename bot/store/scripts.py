"""Lua scripts: each runs atomically inside Redis on keys of one hash tag."""

from __future__ import annotations

#: Commit one engine step. All or nothing: version compare-and-set, dedup mark, opt-out
#: flag, outbox entry, timers, consent log lines, and the ack of the entry that caused it.
#: The version and the opt-out flag are both compared (an opt-out outlives its expired
#: conversation). On a clash it answers what it found, {'conflict', value or '', opt-out
#: flag exists, flag value or ''}, so the caller can step again without another read. The
#: flag's value says who opted the phone out ('1' us, 'carrier', 'provider').
#: KEYS: conv, seen, outbox (the stream of the entry's lane, `bot.store.lanes`), timers,
#:       ignored, then the consent part: optout, consent
#: ARGV: expected_version, new_value, ttl, seen_ttl, use_seen, effects_json, ignored_json,
#:       ack_group, ack_id, n_timers, (score, member)...,
#:       then the consent part (`ConsentStore.commit_write`): expected_optout ('1'/'0'),
#:       optout_op (keep, del, or set:<flag value>), n_consent, consent...,
#:       then the records part (`bot.funnel`): n_funnel, field... (`.field`: the day's
#:       hash only), funnel_ttl,
#:       sub_op ('in'/'out'/'upd'/''), phone, profile ('flow|lang|campaign|zip|state'),
#:       n_disclosures, (id, opt-in text)... (kept once: KEY disclosures; KEY subscriber
#:       count: how many phones the shard's subscriber hashes hold); last (KEYS[13]) the
#:       outbox stream of the entry to acknowledge (may be another lane's than the new one)
#: It also counts the step into the funnel (KEYS funnel_day, funnel_total) and keeps the
#: subscriber index (KEY subscribers: the phone's bucket of opted-in phones and profiles;
#: an opt-out keeps the last profile as `~phone`, which a later opt-in merges back), so
#: the numbers can never drift from what the conversations did.
COMMIT = """
local cur = redis.call('GET', KEYS[1])
local version = 0
if cur then version = tonumber(string.match(cur, '^(%d+)|')) end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[9] ~= '' then
    redis.call('XACK', KEYS[13], ARGV[8], ARGV[9])
    redis.call('XDEL', KEYS[13], ARGV[9])
  end
  return 'dup'
end
local n_timers = tonumber(ARGV[10])
local c = 11 + 2 * n_timers
local optout = redis.call('EXISTS', KEYS[6])
if version ~= tonumber(ARGV[1]) or optout ~= tonumber(ARGV[c]) then
  return {'conflict', cur or '', optout, redis.call('GET', KEYS[6]) or ''}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if ARGV[5] == '1' then redis.call('SET', KEYS[2], '1', 'EX', ARGV[4]) end
if ARGV[6] ~= '' then redis.call('XADD', KEYS[3], '*', 'e', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('XADD', KEYS[5], 'MAXLEN', '~', '10000', '*', 't', ARGV[7]) end
if ARGV[9] ~= '' then
  redis.call('XACK', KEYS[13], ARGV[8], ARGV[9])
  redis.call('XDEL', KEYS[13], ARGV[9])
end
for j = 1, n_timers do
  redis.call('ZADD', KEYS[4], ARGV[9 + 2 * j], ARGV[10 + 2 * j])
end
if string.sub(ARGV[c + 1], 1, 4) == 'set:' then
  redis.call('SET', KEYS[6], string.sub(ARGV[c + 1], 5))
elseif ARGV[c + 1] == 'del' then
  redis.call('DEL', KEYS[6])
end
local n = tonumber(ARGV[c + 2])
for j = 1, n do redis.call('XADD', KEYS[7], '*', 'c', ARGV[c + 2 + j]) end
local i = c + 3 + n
local function places(text)  -- 'flow|lang|campaign|zip|state' -> its five places
  local t = {}
  for part in string.gmatch(text .. '|', '([^|]*)|') do t[#t + 1] = part end
  for k = #t + 1, 5 do t[k] = '' end
  return t
end
n = tonumber(ARGV[i])
local op, phone, profile = ARGV[i + n + 2], ARGV[i + n + 3], ARGV[i + n + 4]
if n > 0 then
  local joined = nil
  for j = 1, n do
    local f = ARGV[i + j]
    local day_only = string.sub(f, 1, 1) == '.'  -- reached before: not again in the totals
    if day_only then f = string.sub(f, 2) end
    if string.sub(f, 2, 4) == '|?|' then
      -- a consent change outside any flow: count it under what the subscriber joined
      if joined == nil then
        joined = places(redis.call('HGET', KEYS[10], phone)
                        or redis.call('HGET', KEYS[10], '~' .. phone) or '')
      end
      local owner = joined[1]
      if string.sub(f, 1, 1) == 'c' then owner = joined[3] end
      if owner and owner ~= '' then
        f = string.sub(f, 1, 2) .. owner .. string.sub(f, 4)
      elseif string.sub(f, 1, 1) == 'f' then
        f = 'f|-' .. string.sub(f, 4)
      else
        f = nil
      end
    end
    if f then
      redis.call('HINCRBY', KEYS[8], f, 1)
      if not day_only then redis.call('HINCRBY', KEYS[9], f, 1) end
    end
  end
  redis.call('EXPIRE', KEYS[8], ARGV[i + n + 1])
end
if op == 'out' then
  -- kept as '~phone' (never a broadcast's), so a later START rejoins what the phone had
  local had = redis.call('HGET', KEYS[10], phone)
  if had then redis.call('HSET', KEYS[10], '~' .. phone, had) end
  redis.call('DECRBY', KEYS[12], redis.call('HDEL', KEYS[10], phone))
elseif op == 'in' then
  local kept = redis.call('HGET', KEYS[10], '~' .. phone)
  if kept then
    local have, given = places(kept), places(profile)
    for k = 1, #given do
      if given[k] ~= '' then have[k] = given[k] end
    end
    profile = string.gsub(table.concat(have, '|'), '|+$', '')
    redis.call('HDEL', KEYS[10], '~' .. phone)
  end
  redis.call('INCRBY', KEYS[12], redis.call('HSET', KEYS[10], phone, profile))
elseif op == 'upd' then
  local cur = redis.call('HGET', KEYS[10], phone)
  if cur then
    local have, given = places(cur), places(profile)
    for k = 1, #given do
      if given[k] ~= '' then have[k] = given[k] end
    end
    local joined_places = string.gsub(table.concat(have, '|'), '|+$', '')
    redis.call('HSET', KEYS[10], phone, joined_places)
  end
end
i = i + n + 5
n = tonumber(ARGV[i])
for j = 1, n do redis.call('HSETNX', KEYS[11], ARGV[i + 2 * j - 1], ARGV[i + 2 * j]) end
return 'ok'
"""

#: Move due timers of one shard into its outbox. KEYS: timers, outbox. ARGV: now, limit.
MOVE_DUE_TIMERS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'e', '[' .. member .. ']')
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""

#: The send guard in one round trip. KEYS: optout, loop (one phone: one hash tag).
#: ARGV: check_optout ('1'/'0'), window seconds. -1 when opted out (nothing counted), else
#: the loop count after this send.
SEND_GUARD = """
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return n
"""

#: Settle one outbox entry: acknowledge and delete it. KEYS: outbox. ARGV: group, entry id.
ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
"""
