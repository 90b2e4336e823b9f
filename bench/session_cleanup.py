"""Bench daily-session-cleanup's refresh-token sweep against redis-benchmark's SET rate.

Starts its own redis-server on a free port (no persistence), loads N refresh tokens in the
platform's layout (the older half expired past the retention, spread over 200,000 users)
with a server-side loader script, waits for the server to finish growing its keyspace table
(see settle), runs the task in a subprocess (wall time and peak RSS of that process), then
runs `redis-benchmark -P 100 -t set -n 1000000` three times against the same server.
Prints tokens removed per second as a fraction of the median SET rate (target: >= 0.2) and
the cleanup's peak memory at 500k and at N tokens (target: flat).

    .venv/bin/python bench/session_cleanup.py [--tokens 2000000] [--small 500000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

USERS = 200_000
LOAD_CHUNK = 20_000
RETENTION_DAYS = 7

# Write tokens ARGV[1]..ARGV[2] of ARGV[5] in the layout of cronkit.tasks.platform (what
# store_refresh_tokens writes, checked in main). Tokens are issued over time with one lifetime,
# so expiry order follows issue order (as on a live platform); the older half expired more than
# 8 days ago, the newer half is still valid. Users are spread over the tokens at random; token
# ids are 22 characters, the length of a 128-bit id in URL-safe base64.
_LOADER = """
local first, last, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local users, half = tonumber(ARGV[4]), math.floor(tonumber(ARGV[5]) / 2)
for i = first, last do
  local exp
  if i < half then exp = now - 8 * 86400 - math.floor((half - i) / 4)
  else exp = now + 86400 + math.floor((i - half) / 4) end
  local uid = (i * 7919) % users
  local ukey = 'rt:' .. uid
  local key = ukey .. ':' .. string.format('tok%019d', i)
  redis.call('HSET', key, 'user_id', uid, 'expires_at', exp)
  redis.call('ZADD', 'rt:exp', exp, key)
  redis.call('HSET', ukey, key, exp)
end
return last - first + 1
"""

_CLEANUP = """
import json, resource, sys, time
from datetime import datetime, timezone
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.registry import task_config
from cronkit.tasks import registry
from cronkit.tasks.sessions import daily_session_cleanup

task = registry["daily-session-cleanup"]
settings = load_settings(environ={"CRONKIT_HOME": sys.argv[1], "CRONKIT_REDIS_URL": sys.argv[2]})
ctx = TaskContext(task=task.name, settings=settings, config=task_config(task, {}),
                  now=datetime.fromtimestamp(int(sys.argv[3]), timezone.utc))
start = time.perf_counter()
result = daily_session_cleanup(ctx)
elapsed = time.perf_counter() - start
print(json.dumps({"elapsed": elapsed, "removed": result["refresh_tokens_deleted"],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    # DEBUG HTSTATS (see settle) needs Redis 7's enable-debug-command; older servers have it on.
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    major = re.search(r"v=(\d+)", version)
    debug = ["--enable-debug-command", "local"] if major and int(major.group(1)) >= 7 else []
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, *debug],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def load(client: redis.Redis, count: int, now: int) -> float:
    loader = client.register_script(_LOADER)
    start = time.perf_counter()
    for first in range(0, count, LOAD_CHUNK):
        loader(args=[first, min(first + LOAD_CHUNK, count) - 1, now, USERS, count])
    return time.perf_counter() - start


def check_layout(client: redis.Redis, now: int) -> None:
    """Make sure the loader writes exactly what the platform's store_refresh_tokens writes."""
    from cronkit.tasks.platform import store_refresh_tokens

    def dump() -> dict[bytes, object]:
        out: dict[bytes, object] = {}
        for key in client.scan_iter():
            kind = client.type(key)
            out[key] = client.hgetall(key) if kind == b"hash" else client.zrange(key, 0, -1, withscores=True)
        return out

    count = 40
    client.flushall()
    client.register_script(_LOADER)(args=[0, count - 1, now, 7, count])
    loaded = dump()
    client.flushall()
    half = count // 2
    rows = [(f"tok{i:019d}", (i * 7919) % 7,
             now - 8 * 86400 - (half - i) // 4 if i < half else now + 86400 + (i - half) // 4)
            for i in range(count)]
    store_refresh_tokens(client, rows)
    if dump() != loaded:
        raise SystemExit("the bench's loader no longer writes the platform's refresh token layout")
    client.flushall()


def settle(client: redis.Redis, limit: float = 120.0) -> float:
    """Wait until Redis has finished growing its keyspace table; return the seconds waited.

    Loading two million keys makes Redis double its main hash table near the end, and it moves
    the entries over incrementally: a millisecond per tick at the default hz 10, so for a minute
    or more every command pays for a part of the move. A server that has held its tokens for
    days is past that, so the sweep is timed on a settled server: hz goes up while we wait
    (DEBUG HTSTATS shows a second table while the move runs) and back before anything is timed.
    """
    start = time.perf_counter()
    hz = client.config_get("hz")["hz"]
    client.config_set("hz", 500)
    try:
        while b"Hash table 1" in client.execute_command("DEBUG", "HTSTATS", "0"):
            if time.perf_counter() - start > limit:
                raise SystemExit(f"redis-server still rehashing after {limit:.0f}s")
            time.sleep(0.05)
    finally:
        client.config_set("hz", hz)
    return time.perf_counter() - start


def server_cpu(client: redis.Redis) -> float:
    """Return the CPU seconds redis-server's main thread has used so far."""
    info = client.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def cleanup(home: str, url: str, now: int, client: redis.Redis) -> dict[str, float]:
    cpu = server_cpu(client)
    out = subprocess.run([sys.executable, "-c", _CLEANUP, home, url, str(now)],
                         check=True, capture_output=True, text=True)
    run: dict[str, float] = json.loads(out.stdout)
    run["server_cpu"] = server_cpu(client) - cpu
    return run


def set_rate(port: int, client: redis.Redis) -> tuple[float, float]:
    """Run redis-benchmark once; return (SET/s as it reports, SETs per redis-server CPU second)."""
    cpu = server_cpu(client)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-P", "100", "-t", "set", "-n", "1000000", "-q"],
        check=True, capture_output=True, text=True,
    ).stdout
    used = server_cpu(client) - cpu
    match = re.search(r"SET: ([\d.]+) requests per second", out.replace("\r", "\n"))
    if not match:
        raise SystemExit(f"cannot read redis-benchmark output: {out!r}")
    return float(match.group(1)), 1_000_000 / used


def native_floor(client: redis.Redis, count: int, now: int) -> dict[str, float]:
    """Server CPU seconds of the sweep's deletions alone, sent as native pipelined commands.

    The expired half of `count` freshly loaded tokens, with their keys known in advance (so
    nothing is read): DEL of the token keys 1,000 at a time, one ZREMRANGEBYSCORE over the
    expiry index, and the users' index entries removed two ways: one HDEL per token, as any
    sweep that walks the expiry index in bounded batches must do (a user's expired tokens are
    spread over the whole range), and one HDEL per user with all of that user's expired tokens,
    which needs the whole expired set in memory at once. What a sweep costs beyond the first is
    its reading and deciding; the second is out of reach with bounded memory.
    """
    half = count // 2
    keys = [f"rt:{(i * 7919) % USERS}:tok{i:019d}" for i in range(half)]
    owners = [key[:key.index(":", 3)] for key in keys]  # rt:{uid}, the user's index
    live_users = {(i * 7919) % USERS for i in range(half, count)}
    out: dict[str, float] = {}
    for grouped in (False, True):
        client.flushall()
        load(client, count, now)
        settle(client)
        pipe = client.pipeline(transaction=False)
        start = server_cpu(client)
        for i in range(0, half, 1000):
            pipe.delete(*keys[i:i + 1000])
            if i % 50_000 == 0:
                pipe.execute()
        pipe.execute()
        client.zremrangebyscore("rt:exp", "-inf", f"({now - RETENTION_DAYS * 86400}")
        deleted = server_cpu(client)
        commands: list[tuple[str, list[str]]]
        if grouped:
            by_user: dict[str, list[str]] = {}
            for owner, key in zip(owners, keys):
                by_user.setdefault(owner, []).append(key)
            commands = list(by_user.items())
        else:
            commands = [(owner, [key]) for owner, key in zip(owners, keys)]
        for n, (user, fields) in enumerate(commands, 1):
            pipe.hdel(user, *fields)
            if n % 20_000 == 0:
                pipe.execute()
        pipe.execute()
        done = server_cpu(client)
        # Left: the valid tokens, the indexes of the users who hold one, and rt:exp.
        assert client.dbsize() == count - half + len(live_users) + 1
        out["deletes"] = deleted - start
        out["grouped" if grouped else "per_token"] = done - deleted
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--small", type=int, default=500_000)
    args = parser.parse_args()
    for tool in ("redis-server", "redis-benchmark"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install redis-server redis-tools")

    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        proc, port = start_redis(tmp)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        now = int(time.time())
        try:
            check_layout(client, now)
            rows = {}
            for count in (args.small, args.tokens):
                client.flushall()
                load_s = load(client, count, now)
                assert client.zcard("rt:exp") == count
                settled_s = settle(client)
                home = os.path.join(tmp, f"home-{count}")
                run = cleanup(home, url, now, client)
                assert run["removed"] == count // 2, run
                assert client.zcard("rt:exp") == count - run["removed"]
                rows[count] = (load_s, run)
                print(f"{count:>9,} tokens: loaded in {load_s:5.1f}s (settled {settled_s:.1f}s), cleanup removed"
                      f" {int(run['removed']):,} in {run['elapsed']:.2f}s ="
                      f" {run['removed'] / run['elapsed']:,.0f} tokens/s,"
                      f" peak RSS {run['maxrss_kb'] / 1024:.1f} MiB")
            floor = native_floor(client, args.tokens, now)
            client.flushall()
            # The machines are shared: the SET rate swings between runs, so take the median of
            # three, measured straight after the sweep on the same server.
            runs = sorted(set_rate(port, client) for _ in range(3))
            rate, rate_cpu = runs[1]
        finally:
            client.close()
            proc.terminate()
            proc.wait(10)

    big = rows[args.tokens][1]
    removal = big["removed"] / big["elapsed"]
    removal_cpu = big["removed"] / big["server_cpu"]
    small_rss = rows[args.small][1]["maxrss_kb"]
    print(f"redis-benchmark -P 100 -t set: {rate:,.0f} SET/s (median of"
          f" {', '.join(f'{r:,.0f}' for r, _ in runs)})")
    print(f"tokens removed per second / SET rate: {removal / rate:.3f}  (target >= 0.2)")
    # On a shared host the wall-clock rates depend on what else runs; per CPU second of
    # redis-server the comparison depends on it less.
    print(f"per redis-server CPU second: {removal_cpu:,.0f} tokens removed vs {rate_cpu:,.0f} SETs,"
          f" ratio {removal_cpu / rate_cpu:.3f}")
    half = args.tokens // 2
    for key, how in (("per_token", "one HDEL per token"), ("grouped", "one HDEL per user (unbounded memory)")):
        used = floor["deletes"] + floor[key]
        print(f"floor, the deletions alone as native commands, {how}: {used / half * 1e6:.2f} us/token,"
              f" {half / used:,.0f} tokens per CPU second, ratio {half / used / rate_cpu:.3f}")
    print(f"peak RSS of the cleanup: {small_rss / 1024:.1f} MiB at {args.small:,} tokens, "
          f"{big['maxrss_kb'] / 1024:.1f} MiB at {args.tokens:,} (ratio {big['maxrss_kb'] / small_rss:.2f}, "
          "target: flat)")


if __name__ == "__main__":
    main()
