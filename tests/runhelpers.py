"""Helpers for the tests that drive `cronkit run` as a real process: a test registry, polling, lock checks."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import CRONKIT, write_registry

# Tasks the runner tests drive. `ready` gets the task's pid once it runs; `count` gets a line per run.
READY = '''
def _ready(ctx):
    path = ctx.params.get("ready")
    if path:
        with open(path + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
'''
TASKS = READY + '''


def _count(ctx):
    path = ctx.params.get("count")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{ctx.run_id} {os.environ.get('CRONKIT_HOSTNAME', '-')} {ctx.slot}\\n")


@registry.task("* * * * *", name="hold", environments=["*"], timeout="30s")
def hold(ctx):
    """Run for `for` seconds or until the `release` file appears; stop when cancelled."""
    _count(ctx)
    _ready(ctx)
    end = time.monotonic() + float(ctx.params.get("for", "0"))
    release = ctx.params.get("release")
    while time.monotonic() < end:
        if release and os.path.exists(release):
            break
        ctx.check_cancelled()
        time.sleep(0.02)
    return {"held": 1}


registry.add("* * * * *", hold, name="hold-fallback", environments=["*"], timeout="30s", redis_fallback=True)
registry.add("* * * * *", hold, name="hold-many", environments=["*"], timeout="30s", singleton=False)


@registry.task("* * * * *", name="stubborn", environments=["*"], timeout="30s")
def stubborn(ctx):
    """Ignore SIGTERM and sleep."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _ready(ctx)
    time.sleep(60)


@registry.task("* * * * *", name="stuck", environments=["*"], timeout="1.5s")
def stuck(ctx):
    """Block in a child process far past the timeout."""
    _ready(ctx)
    subprocess.run(["sleep", ctx.params["secs"]])
    return {"slept": 1}


# "detach" has time to spare however loaded the machine: the test releases it. "detach-hang",
# started without a release file, hangs until its timeout stops it.
@registry.task("* * * * *", name="detach", environments=["*"], timeout="120s")
def detach(ctx):
    """Start `sleep secs` twice outside the group (setsid with its parent gone; a new session),
    then hang past the timeout, or return once the `release` file appears."""
    subprocess.run(["sh", "-c", f"setsid sleep {ctx.params['secs']} >/dev/null 2>&1 &"])
    subprocess.Popen(["sleep", ctx.params["secs"]], start_new_session=True)
    _ready(ctx)
    release = ctx.params.get("release")
    while not (release and os.path.exists(release)):
        time.sleep(0.02)
    return {"detached": 2}


registry.add("* * * * *", detach, name="detach-hang", environments=["*"], timeout="3s")


@registry.task("* * * * *", name="flaky", environments=["*"], timeout="30s", retries=4, backoff="0.05s")
def flaky(ctx):
    """Fail with a transient error until the third attempt."""
    path = ctx.params["counter"]
    seen = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as fh:
        fh.write(str(seen + 1))
    if seen == 0:
        raise TransientError("upstream busy")
    if seen == 1:
        raise ConnectionResetError("connection reset by peer")
    return {"attempt": seen + 1}


@registry.task("* * * * *", name="broken", environments=["*"], timeout="30s", retries=2, backoff="0.05s")
def broken(ctx):
    """Fail for good until the `flag` file exists."""
    _count(ctx)
    if not os.path.exists(ctx.params["flag"]):
        raise RuntimeError(f"flag file {ctx.params['flag']} is missing")
    return {"fixed": 1, "slot": str(ctx.slot)}


@registry.task("* * * * *", name="leaky", environments=["*"], timeout="30s")
def leaky(ctx):
    """Print and log secrets, then fail with one in the message."""
    print("connecting with password=hunter2-correct-horse")
    print("GET https://api.example.com/v1/items?access_token=tok_9f8e7d6c5b4a3f2e")
    print("fetching https://deploy:pa55w0rd-in-url@git.example.com/repo.git")
    print("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig")
    ctx.logger.warning("retrying with key %s", os.environ["PLATFORM_API_KEY"])
    subprocess.run(["sh", "-c", 'echo "child sees $PLATFORM_API_KEY"'])
    raise RuntimeError(f"upstream rejected key {os.environ['PLATFORM_API_KEY']}")
'''

SECRETS = (
    "hunter2-correct-horse",
    "tok_9f8e7d6c5b4a3f2e",
    "pa55w0rd-in-url",
    "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig",
    "sk-live-51HtR0ngS3cr3t",
)


def make_registry(tmp_path: Path) -> Path:
    return write_registry(tmp_path / "runner_tasks.py", TASKS)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start `cronkit run ...` in the background."""
    return subprocess.Popen([CRONKIT, "run", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_path(path: Path, timeout: float = 20.0, proc: subprocess.Popen[str] | None = None) -> None:
    """Wait until `path` exists; fail early when `proc` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"cronkit run ended ({proc.returncode}) before {path.name}: {out}{err}")
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear")


def wait_for(path: Path, timeout: float = 20.0, proc: subprocess.Popen[str] | None = None) -> str:
    """Wait until `path` exists and return its text; fail early when `proc` ends first."""
    wait_path(path, timeout, proc)
    return path.read_text()


def finish(proc: subprocess.Popen[str], timeout: float = 30.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def gone(pid: int) -> bool:
    """True when the process no longer runs (absent or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return False


def pids_of(cmdline: str) -> list[int]:
    """Pids whose full command line is exactly `cmdline`."""
    found = subprocess.run(["pgrep", "-x", "-f", cmdline], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def runs(db: Path) -> list[dict[str, Any]]:
    """All runs of a run log file, oldest first, straight from SQLite."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]


def runs_at(url: str) -> list[dict[str, Any]]:
    """All runs of the run log at any SQLAlchemy URL, oldest first."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM runs ORDER BY id"))]
    finally:
        engine.dispose()


def attempts(db: Path, run_id: int) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM attempts WHERE run_id = ? ORDER BY number", (run_id,))]


def letters(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM dead_letters ORDER BY id")]


def local_lock_free(home: Path, task: str) -> bool:
    path = home / "locks" / f"{task}.lock"
    if not path.exists():
        return True
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def lease(redis_url: str, task: str) -> dict[str, Any] | None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.get(f"cronkit:lock:{task}")
    finally:
        client.close()
    return json.loads(raw) if raw else None


def lease_pid(redis_url: str, task: str) -> int | None:
    """Return the pid of the runner holding the Redis lease of `task`, or None when none does."""
    held = lease(redis_url, task)
    return None if held is None else int(held["pid"])


def assert_unlocked(home: Path, task: str, redis_url: str | None = None) -> None:
    """No lock of `task` stays held: the local flock is free and no Redis lease remains."""
    assert local_lock_free(home, task), f"the local lock of {task} is still held"
    if redis_url:
        assert lease(redis_url, task) is None, f"the Redis lease of {task} is still held"


def run_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    return dict(json.loads(result.stdout))
