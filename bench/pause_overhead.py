"""Time `cronkit run noop` of this tree against a base revision, and against a long pause history.

The pause check (issue 28) adds one read to every run: the task's latest row of `pauses`, by the
index (task, id). This measures what that costs, side by side in one run, so the machine's load
hits every variant alike:

- `base`: the base revision (default `main`) from `git archive`, its own run log;
- `head`: this tree (the working copy's `cronkit` package), its own run log;
- `head+history`: this tree on a run log holding 100,000 ended pauses (of this task and others),
  so the read is shown not to grow with the history.

Each variant runs `python -c "from cronkit.main import main; main()" run noop` from a source tree
(PYTHONPATH), the same way for all three; the rounds alternate. Prints the median of per-round
ratios to `python -c pass` and to `base`.

    .venv/bin/python bench/pause_overhead.py [--rounds 30] [--base main]
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"])
def noop(ctx):
    return {}
"""
HISTORY = 100_000
ENTRY = "from cronkit.main import main; main()"


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode().strip()}")
    return elapsed


def extract(ref: str, into: Path) -> Path:
    """Extract the `cronkit` package of `ref` into `into`; return the directory to put on PYTHONPATH."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "cronkit"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def fill_history(db: Path) -> None:
    """Add HISTORY ended pauses: most of other tasks, a thousand of `noop` itself."""
    with sqlite3.connect(db) as conn:
        rows = [(("noop" if i % 100 == 0 else f"task-{i % 500}"), i * 1000, "bench", "cli", i * 1000 + 500, None,
                 i * 1000 + 500) for i in range(1, HISTORY + 1)]
        conn.executemany("INSERT INTO pauses (task, paused_at, paused_by, origin, paused_until, reason, ended_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--base", default="main")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cronkit-pause-bench-") as tmp:
        registry = Path(tmp) / "bench_registry.py"
        registry.write_text(REGISTRY)
        trees = {"base": extract(args.base, Path(tmp) / "base"), "head": ROOT, "head+history": ROOT}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CRONKIT_", "PYTHON"))}
        envs = {name: {**clean, "PYTHONPATH": str(tree), "CRONKIT_HOME": str(Path(tmp) / name),
                       "CRONKIT_TASKS": str(registry)} for name, tree in trees.items()}
        cmd = [sys.executable, "-c", ENTRY, "run", "noop"]
        bare = [sys.executable, "-c", "pass"]
        for name, env in envs.items():  # warm up: create each run log, fill the page cache
            for _ in range(2):
                timed(cmd, env, tmp)
        fill_history(Path(tmp) / "head+history" / "cronkit.db")

        times: dict[str, list[float]] = {"bare": [], **{name: [] for name in envs}}
        for _ in range(args.rounds):
            times["bare"].append(timed(bare, clean, tmp))
            for name, env in envs.items():
                times[name].append(timed(cmd, env, tmp))

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    for name, values in times.items():
        print(f"{name:<14} median {statistics.median(values) * 1000:7.1f} ms")
    for name in envs:
        print(f"{name:<14} / python -c pass  median ratio {ratio(name, 'bare'):.2f}")
    print(f"head / base              median ratio {ratio('head', 'base'):.3f}  (the pause check's cost)")
    print(f"head+history / head      median ratio {ratio('head+history', 'head'):.3f}"
          f"  ({HISTORY:,} pauses in the run log)")


if __name__ == "__main__":
    main()
