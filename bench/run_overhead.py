"""Time `cronkit run noop` (default SQLite run log, run recorded) against `python3 -c pass`.

The baseline is `python3 -c pass` with the interpreter the cronkit script runs on (sys.executable).
A temp registry holds one no-op task and a temp CRONKIT_HOME holds the run log (created by a
warm-up run, as on any host after the first tick). The two commands alternate, so a change in the
machine's load hits both alike; the script prints the median of the per-round ratios and checks
that every timed run was recorded as succeeded.

    .venv/bin/python bench/run_overhead.py [--rounds 30]

Target: median ratio <= 10 (issue 2; the Django peers are about 25.7).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 10.0
CRONKIT = str(Path(sys.executable).with_name("cronkit"))
REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"])
def noop(ctx):
    return {}
"""


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Run a command to completion and return its wall time in seconds; fail loudly if it fails."""
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode().strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if not os.access(CRONKIT, os.X_OK):
        raise SystemExit(f"no cronkit executable next to {sys.executable}: run ./install.sh or pip install -e .")

    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        registry = Path(tmp) / "bench_registry.py"
        registry.write_text(REGISTRY)
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        env.update({"CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry)})
        run_cmd = [CRONKIT, "run", "noop"]
        # The same interpreter the cronkit script starts (its shebang): a `python3` found on PATH
        # may be a wrapper (pyenv's shim costs ~0.2 s) or another version, which would skew the ratio.
        bare_cmd = [sys.executable, "-c", "pass"]

        for _ in range(2):  # warm up: create the run log, fill the page cache
            timed(run_cmd, env, tmp)
            timed(bare_cmd, env, tmp)

        ratios, runs, bares = [], [], []
        for _ in range(args.rounds):
            bare = timed(bare_cmd, env, tmp)
            run = timed(run_cmd, env, tmp)
            bares.append(bare)
            runs.append(run)
            ratios.append(run / bare)

        with sqlite3.connect(home / "cronkit.db") as conn:
            recorded = conn.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0]
        conn.close()
        if recorded != args.rounds + 2:
            raise SystemExit(f"expected {args.rounds + 2} recorded runs, found {recorded}")

    median = statistics.median(ratios)
    print(f"python3 -c pass      median {statistics.median(bares) * 1000:7.1f} ms")
    print(f"cronkit run noop     median {statistics.median(runs) * 1000:7.1f} ms  (run recorded in SQLite)")
    print(f"ratio (per round)    median {median:.2f}  min {min(ratios):.2f}  max {max(ratios):.2f}  "
          f"over {args.rounds} rounds  (target <= {TARGET:g})")
    print("OK" if median <= TARGET else "ABOVE TARGET")


if __name__ == "__main__":
    main()
