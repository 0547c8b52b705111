"""Lua scripts: each runs atomically inside Redis on keys of one hash tag."""

from __future__ import annotations

#: Commit one engine step. All or nothing: version compare-and-set, dedup mark, opt-out
#: flag, outbox entry, timers, consent log lines, and the ack of the entry that caused it.
#: On a clash it answers what it found, {'conflict', value or '', opt-out flag}, so the
#: caller can step again without another read.
#: KEYS: conv, seen, outbox, consent, optout, timers, ignored
#: ARGV: expected_version, new_value, ttl, seen_ttl, use_seen, optout_op, effects_json,
#:       ignored_json, ack_group, ack_id, expected_optout ('1'/'0', '' = not checked),
#:       n_consent, consent..., n_timers, (score, member)...
COMMIT = """
local cur = redis.call('GET', KEYS[1])
local version = 0
if cur then version = tonumber(string.match(cur, '^(%d+)|')) end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[10] ~= '' then
    redis.call('XACK', KEYS[3], ARGV[9], ARGV[10])
    redis.call('XDEL', KEYS[3], ARGV[10])
  end
  return 'dup'
end
local optout = redis.call('EXISTS', KEYS[5])
if version ~= tonumber(ARGV[1]) or (ARGV[11] ~= '' and optout ~= tonumber(ARGV[11])) then
  return {'conflict', cur or '', optout}
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if ARGV[5] == '1' then redis.call('SET', KEYS[2], '1', 'EX', ARGV[4]) end
if ARGV[6] == 'set' then
  redis.call('SET', KEYS[5], '1')
elseif ARGV[6] == 'del' then
  redis.call('DEL', KEYS[5])
end
if ARGV[7] ~= '' then redis.call('XADD', KEYS[3], '*', 'e', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('XADD', KEYS[7], 'MAXLEN', '~', '10000', '*', 't', ARGV[8]) end
if ARGV[10] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[9], ARGV[10])
  redis.call('XDEL', KEYS[3], ARGV[10])
end
local i = 12
local n = tonumber(ARGV[i])
for j = 1, n do redis.call('XADD', KEYS[4], '*', 'c', ARGV[i + j]) end
i = i + n + 1
n = tonumber(ARGV[i])
for j = 1, n do
  redis.call('ZADD', KEYS[6], ARGV[i + 2 * j - 1], ARGV[i + 2 * j])
end
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

#: Count one outgoing text for the loop guard. KEYS: loop. ARGV: window seconds.
LOOP_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
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
