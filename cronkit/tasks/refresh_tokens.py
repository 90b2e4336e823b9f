"""The refresh tokens in Redis: the server-side scripts of daily-session-cleanup and its sweep.

The layout is `cronkit.tasks.platform`'s: one `rt:{uid}:{id}` hash per token with `user_id` and
`expires_at`; the `rt:exp` sorted set of token keys scored by expiry; the `rt:{uid}` hash of a
user's token keys. Cleanup reads the expiry index from its low end and never scans the keyspace.
Each batch is one Lua script: it takes the `batch_size` oldest members past the cut-off, deletes
those keys and their entries in their users' indexes, then exactly those ranks of `rt:exp`;
memory on both sides is bounded by the batch. The scripts build key names from their
arguments, which a single Redis server (or a replica set) allows and Redis Cluster does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from cronkit.context import TaskContext
from cronkit.errors import ServiceUnavailable
from cronkit.tasks.platform import REFRESH_TOKEN_EXPIRY_ZSET, REFRESH_TOKEN_PREFIX

if TYPE_CHECKING:
    import redis

# Remove up to ARGV[2] tokens whose expiry is below ARGV[1] (exclusive), each with its entry in
# its user's index; return {tokens removed, index entries read}. A member of `rt:exp` is the
# token's key, so DEL takes the members as they are, and the user's index is the key up to the
# `:` that ends the user id (ARGV[3] is the Lua pattern of that part); a member that is not a
# token key (not written by store_refresh_tokens) loses its index entry and nothing else, so a
# stray member never deletes a key it merely names. ZRANGEBYSCORE from -inf returns ranks
# 0..n-1, so ZREMRANGEBYRANK removes exactly the members read. DEL takes at most 5000 keys so
# unpack stays below Lua's C stack limit (~8000).
_SWEEP_EXPIRED = """
local call, find, sub = redis.call, string.find, string.sub
local members = call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = #members
if n == 0 then return {0, 0} end
local pattern = ARGV[3]
local keys, k = {}, 0
for i = 1, n do
  local m = members[i]
  local _, e = find(m, pattern)
  if e then
    call('HDEL', sub(m, 1, e - 1), m)
    k = k + 1
    keys[k] = m
  end
end
for i = 1, k, 5000 do call('DEL', unpack(keys, i, math.min(i + 4999, k))) end
call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
return {k, n}
"""

# Remove every refresh token of the users in ARGV[2..] (ARGV[1] is the key prefix), with their
# index entries and the user's index; return how many tokens went. Only fields that are keys
# of that user's tokens are deleted as keys.
DROP_USERS = """
local call, sub = redis.call, string.sub
local total = 0
for i = 2, #ARGV do
  local ukey = ARGV[1] .. ARGV[i]
  local own, len = ukey .. ':', #ukey + 1
  local fields = call('HKEYS', ukey)
  local keys = {}
  for j = 1, #fields do
    if sub(fields[j], 1, len) == own and #fields[j] > len then keys[#keys + 1] = fields[j] end
  end
  for j = 1, #keys, 1000 do
    local last = math.min(j + 999, #keys)
    call('DEL', unpack(keys, j, last))
    call('ZREM', KEYS[1], unpack(keys, j, last))
  end
  total = total + #keys
  call('DEL', ukey)
end
return total
"""

# Count what DROP_USERS would remove for the users in ARGV[3..] (ARGV[1] is the key prefix):
# return {their tokens, those of them that expired before ARGV[2]}, the second so that a dry
# run does not count them again for the expiry sweep, which comes after the accounts.
COUNT_USERS = """
local sub, cut = string.sub, tonumber(ARGV[2])
local total, expired = 0, 0
for i = 3, #ARGV do
  local own = ARGV[1] .. ARGV[i] .. ':'
  local kv = redis.call('HGETALL', ARGV[1] .. ARGV[i])
  for j = 1, #kv, 2 do
    local f = kv[j]
    if sub(f, 1, #own) == own and #f > #own then
      total = total + 1
      if (tonumber(kv[j + 1]) or cut) < cut then expired = expired + 1 end
    end
  end
end
return {total, expired}
"""


def _lua_pattern(literal: str) -> str:
    """Return a Lua pattern matching `literal` exactly (its magic characters escaped)."""
    return "".join("%" + c if c in "^$()%.[]*+-?" else c for c in literal)


# The part of a token key that names its user's index: `rt:{user_id}` then the `:`.
_TOKEN_KEY_USER_PART = "^" + _lua_pattern(REFRESH_TOKEN_PREFIX) + "%d+:"


class RedisPart:
    """The Redis side of a run: remembers the first failure and stops using Redis after it."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.error: str | None = None
        self._client: redis.Redis | None = None

    def client(self) -> redis.Redis | None:
        if self.error is not None:
            return None
        if self._client is None:
            try:
                self._client = self.ctx.redis
            except ServiceUnavailable as exc:
                self.error = str(exc)
                return None
        return self._client

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> int:
        """Run a script that returns a count; 0 and a recorded error when Redis is unavailable."""
        return self.counts(script, keys, args, 1)[0]

    def counts(self, script: str, keys: Sequence[str], args: Sequence[Any], n: int) -> list[int]:
        """Run a script that returns `n` counts (one as a number); zeros when Redis is unavailable."""
        client = self.client()
        if client is None:
            return [0] * n
        with self.guard():
            reply = client.eval(script, len(keys), *keys, *args)
            return [int(x) for x in reply] if isinstance(reply, list) else [int(reply)]
        return [0] * n


def sweep_refresh_tokens(ctx: TaskContext, rds: RedisPart, cutoff: datetime, batch: int) -> int:
    """Delete refresh tokens whose expiry is before `cutoff`, one script per batch."""
    limit = int(cutoff.timestamp())
    client = rds.client()
    if client is None:
        return 0
    total = strays = 0
    with rds.guard():
        if ctx.dry_run:
            return int(client.zcount(REFRESH_TOKEN_EXPIRY_ZSET, "-inf", f"({limit}"))
        script = client.register_script(_SWEEP_EXPIRED)
        while True:
            ctx.check_cancelled()
            removed, read = (int(x) for x in script(
                keys=[REFRESH_TOKEN_EXPIRY_ZSET], args=[limit, batch, _TOKEN_KEY_USER_PART]
            ))
            total += removed
            strays += read - removed
            if read < batch:
                break
    if strays:
        ctx.logger.warning(
            "%s: dropped %d expired entries of %s that name no refresh token key",
            ctx.task, strays, REFRESH_TOKEN_EXPIRY_ZSET,
        )
    return total
