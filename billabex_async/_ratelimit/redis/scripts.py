"""Rate-limit layer: the Lua scripts and key names behind the Redis-shared rate limiter."""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "HOLD",
    "KEY_PREFIX",
    "OBSERVE",
    "PAUSE",
    "RELEASE",
    "STATUS",
    "added_key",
    "floor_key",
    "keys_for",
]

# Every script reads the clock with Redis ``TIME``, never the caller's, so
# processes on machines with skewed clocks agree. Times are unix milliseconds
# (floats: a double holds them to the microsecond). Each write makes sure the
# key lives at least as long as the latest expiry it wrote, so an abandoned
# token's keys vanish by themselves.
#
# Keys of one token share the hash tag ``{<token hash>}``, so a script's keys
# sit on one Redis Cluster slot.
KEY_PREFIX = "billabex:ratelimit:"


def keys_for(key: str) -> tuple[str, str, str]:
    """The (slots, paused, limit) key names for a token hash (never the token)."""
    base = f"{KEY_PREFIX}{{{key}}}"
    return f"{base}:slots", f"{base}:paused", f"{base}:limit"


def floor_key(key: str) -> str:
    """The key holding the smallest limit any process configured for this token lately."""
    return f"{KEY_PREFIX}{{{key}}}:floor"


def added_key(key: str) -> str:
    """The key counting every slot ever added to the token's set (taken or phantom)."""
    return f"{KEY_PREFIX}{{{key}}}:added"


# Shared by the scripts: the server's clock in ms, and "keep KEY alive >= MS".
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function keep(key, ms)
  ms = math.ceil(ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function effective_limit(configured, limit_key, floor_key)
  local limit = configured
  local floor = tonumber(redis.call('GET', floor_key))
  if floor and floor < limit then limit = floor end
  local shared = tonumber(redis.call('GET', limit_key))
  if shared and shared < limit then limit = shared end
  return limit
end
"""

ACQUIRE = (
    _PRELUDE
    + """
-- KEYS: slots (zset member -> expiry ms), paused (until ms), limit (lowered
-- by the server), floor (smallest configured limit of the token's processes),
-- added (slots ever added)
-- ARGV: configured limit, lease ms, member id, window ms
-- Returns {1, limit, count with this slot, added} when the slot is taken
-- (scored now + lease: "in flight", so a crashed sender's slot still
-- expires), else {0, limit, ms to wait}. The last two are the ticket OBSERVE
-- takes back with this request's answer.
-- The smallest configured limit wins, for one window after its process
-- last asked for a slot.
local configured = tonumber(ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[4]))
if not floor or configured <= floor then
  redis.call('SET', KEYS[4], configured, 'PX', math.ceil(tonumber(ARGV[4])))
end
local limit = effective_limit(configured, KEYS[3], KEYS[4])
local paused = tonumber(redis.call('GET', KEYS[2]))
if paused and paused > now then return {0, limit, math.ceil(paused - now)} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  local lease = tonumber(ARGV[2])
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  keep(KEYS[1], lease)
  local added = redis.call('INCR', KEYS[5])
  keep(KEYS[5], lease)
  return {1, limit, count + 1, added}
end
-- Full: we need count - limit + 1 expiries. A slot still in flight frees no
-- sooner than one window from now (its response re-scores it to then).
local nth = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local at = math.min(tonumber(nth[2]), now + tonumber(ARGV[4]))
return {0, limit, math.max(1, math.ceil(at - now))}
"""
)

RELEASE = (
    _PRELUDE
    + """
-- KEYS: slots. ARGV: member id, window ms (edge margin included)
-- The response arrived: the slot counts until one window from now. Re-added
-- if its lease already ran out, because the request did reach the server.
local expiry = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
keep(KEYS[1], tonumber(ARGV[2]))
return 1
"""
)

OBSERVE = (
    _PRELUDE
    + """
-- KEYS: slots, limit, floor, added. ARGV: configured limit, header limit or
-- '', header remaining or '', header reset (unix ms) or '', window ms,
-- phantom id prefix, edge margin ms, lowered-limit ttl ms (one window), and
-- the request's ticket from ACQUIRE (count, added) or '', ''
-- Returns {limit now in force, phantoms added}.
-- The lowest limit the server announced within the last window holds; it
-- lapses one window after the last response that said so.
local limit = effective_limit(tonumber(ARGV[1]), KEYS[2], KEYS[3])
local server_limit = tonumber(ARGV[2])
if server_limit and server_limit > 0 then
  local shared = tonumber(redis.call('GET', KEYS[2]))
  if not shared or server_limit <= shared then
    redis.call('SET', KEYS[2], server_limit, 'PX', math.ceil(tonumber(ARGV[8])))
  end
  if server_limit < limit then limit = server_limit end
end
local remaining = tonumber(ARGV[3])
if not remaining then return {limit, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- What the server counts, on the server's own scale when it sent one.
local server_used = (server_limit or limit) - math.max(0, remaining)
-- The server counted when the request arrived, between its send and now:
-- compare with the most it can have counted of ours, the count at the send
-- plus every slot added since (the count now leaves out slots that expired
-- during the flight, and would hold them as someone else's).
local ours
local sent_count, sent_added = tonumber(ARGV[9]), tonumber(ARGV[10])
local added = tonumber(redis.call('GET', KEYS[4]))
if sent_count and sent_added and added and added >= sent_added then
  ours = sent_count + added - sent_added
else
  ours = redis.call('ZCARD', KEYS[1])
end
local missing = server_used - ours
if missing <= 0 then return {limit, 0} end
-- More than `limit` phantoms block no better, and a bogus header must not
-- make this loop long: Redis runs nothing else meanwhile.
missing = math.min(missing, limit)
-- Reset frees the server's oldest request; which of the others are someone
-- else's it does not say, and they free within a window: one phantom until
-- Reset, the rest for the window.
local margin = tonumber(ARGV[7])
local till = now + tonumber(ARGV[5])
local first = till
local reset = tonumber(ARGV[4])
if reset then first = math.min(till, math.max(now, reset)) end
redis.call('ZADD', KEYS[1], first + margin, ARGV[6] .. 1)
for i = 2, missing do redis.call('ZADD', KEYS[1], till + margin, ARGV[6] .. i) end
keep(KEYS[1], till + margin - now)
redis.call('INCRBY', KEYS[4], missing)
keep(KEYS[4], till + margin - now)
return {limit, missing}
"""
)

PAUSE = (
    _PRELUDE
    + """
-- KEYS: paused. ARGV: pause ms. Extends the shared pause, never shortens it.
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= now + ms then return 0 end
redis.call('SET', KEYS[1], tostring(now + ms), 'PX', math.ceil(ms) + 1)
return 1
"""
)

HOLD = (
    _PRELUDE
    + """
-- KEYS: slots, added. ARGV: finished count, window ms, in-flight count, lease
-- ms, phantom id prefix. Counts requests Redis did not see (sent through a
-- local fallback): finished ones for a window, in-flight ones for a lease.
local n = tonumber(ARGV[1])
for i = 1, n do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[5] .. i) end
for i = 1, tonumber(ARGV[3]) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[5] .. (n + i))
end
keep(KEYS[1], math.max(tonumber(ARGV[2]), tonumber(ARGV[4])))
redis.call('INCRBY', KEYS[2], n + tonumber(ARGV[3]))
keep(KEYS[2], math.max(tonumber(ARGV[2]), tonumber(ARGV[4])))
return 1
"""
)

STATUS = (
    _PRELUDE
    + """
-- KEYS: slots, paused, limit, floor. ARGV: configured limit.
-- Returns {slots counted, limit in force, ms of pause left}.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local paused = tonumber(redis.call('GET', KEYS[2])) or 0
local left = math.max(0, math.ceil(paused - now))
local limit = effective_limit(tonumber(ARGV[1]), KEYS[3], KEYS[4])
return {redis.call('ZCARD', KEYS[1]), limit, left}
"""
)
