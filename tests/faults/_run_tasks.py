"""The registry the run-path fault tests drive, and helpers to start `cronkit run` against it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import CRONKIT, write_registry
from tests.runhelpers import READY, wait_path

TASKS = READY + '''

def _wait(ctx):
    release = ctx.params.get("release")
    end = time.monotonic() + float(ctx.params.get("for", "60"))
    while time.monotonic() < end and not (release and os.path.exists(release)):
        ctx.check_cancelled()
        time.sleep(0.02)


@registry.task("* * * * *", name="gate", environments=["*"], timeout="60s")
def gate(ctx):
    """Print a secret and a NUL byte, wait for `release`, then succeed or fail (param fail=1)."""
    print("connecting with password=hunter2-correct-horse and a NUL \\x00 byte")
    _ready(ctx)
    _wait(ctx)
    if ctx.params.get("fail"):
        raise RuntimeError("upstream said no \\x00 (NUL in the message)")
    return {"answer": 42, "note": "nul \\x00 inside"}


@registry.task("* * * * *", name="guarded", environments=["*"], timeout=os.environ.get("GUARDED_TIMEOUT", "30s"))
def guarded(ctx):
    """Singleton: record our pid in `mine`, note any other holder's live pid in `overlap`, then wait."""
    other = ctx.params.get("other")
    if other and os.path.exists(other):
        pid = int(open(other).read())
        try:
            os.kill(pid, 0)
            alive = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z"
        except (OSError, ProcessLookupError):
            alive = False
        if alive:
            with open(ctx.params["overlap"], "a") as fh:
                fh.write(f"{os.getpid()} started while {pid} ran\\n")
    _ready(ctx)
    _wait(ctx)
    return {"done": 1}


@registry.task("* * * * *", name="spew", environments=["*"], timeout="10m", singleton=False)
def spew(ctx):
    """Write `mb` MB of output (lines of 100 bytes, a secret in the first and last ones), then wait."""
    line = b"lorem ipsum dolor sit amet, " * 3 + b"consectetur adipiscing elit sed\\n"
    block = line * (1_000_000 // len(line))
    os.write(1, b"token=tok_9f8e7d6c5b4a3f2e first\\n")
    for _ in range(int(ctx.params.get("mb", "1"))):
        os.write(1, block)
    os.write(1, b"token=tok_9f8e7d6c5b4a3f2e last\\n")
    _ready(ctx)
    _wait(ctx)
    return {}


@registry.task("* * * * *", name="slowfail", environments=["*"], timeout="60s", singleton=False)
def slowfail(ctx):
    """Count the run in `count`, then fail after `for` seconds, or succeed once `flag` exists."""
    with open(ctx.params["count"], "a") as fh:
        fh.write(f"{ctx.run_id}\\n")
    time.sleep(float(ctx.params.get("for", "0")))
    if not os.path.exists(ctx.params["flag"]):
        raise RuntimeError("flag missing")
    return {"ok": 1}
'''


def make_env(base: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment running the fault tasks, with `extra` CRONKIT_* settings."""
    registry = tmp_path / "fault_tasks.py"
    if not registry.exists():
        write_registry(registry, TASKS)
    return {**base, "CRONKIT_TASKS": str(registry), "CRONKIT_STOP_GRACE": "2", **extra}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([CRONKIT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, *args], env=env, capture_output=True, text=True, timeout=timeout)


def journal_files(home: Path) -> list[Path]:
    directory = home / "journal"
    return sorted(directory.glob("*.json")) if directory.exists() else []


__all__ = ["cli", "journal_files", "make_env", "start", "wait_path"]
