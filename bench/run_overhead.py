"""Time `cronkit run noop` on an empty run log and on a log of 1,000,000 runs, against `python -c pass`.

Baseline interpreter: `<venv>/bin/python -c pass`, the interpreter the cronkit script runs on
(sys.executable). A temp registry holds one no-op task; each run log lives in its own temp
CRONKIT_HOME. The big one is built in seconds with one INSERT ... SELECT over a recursive CTE (a
minutely task's history: 1M runs is about two years), then its run totals are refilled from those
rows, as the schema migration does; the migration itself is timed on a copy brought back to the
schema before run_totals (`--no-migration` skips it). Each round runs the bare interpreter and the runs on every
log back to back, so a change in the machine's load hits all alike; the script prints the
medians, min-max and the median of the per-round ratios, and checks that every timed run was
recorded as succeeded.

    .venv/bin/python bench/run_overhead.py [--rounds 30] [--rows 1000000]

Targets (issue 24): run on the empty log <= 5x the bare interpreter; on the big log <= 1.15x
its cost on the empty log. Use a regular (non-editable) install: an editable one adds an import hook.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_BARE, TARGET_GROWTH = 5.0, 1.15
CRONKIT = str(Path(sys.executable).with_name("cronkit"))
REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"])
def noop(ctx):
    return {}
"""
# A minutely task's past: one run a minute back from now, 1 in 20 failed, durations 0.1-4 s.
FILL_RUNS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
INSERT INTO runs (task, status, "trigger", scheduled_for, started_at, finished_at, duration_ms, attempts,
                  exit_code, host, pid, pid_start, "user", heartbeat_at, dry_run)
SELECT 'noop', CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'succeeded' END, 'cron',
       :now - i * 60000, :now - i * 60000 + 150, :now - i * 60000 + 150 + (i * 37) % 4000, (i * 37) % 4000, 1,
       CASE WHEN i % 20 = 0 THEN 1 ELSE 0 END, 'bench-host', 1000 + i % 30000, NULL, 'bench',
       :now - i * 60000 + 150, 0
FROM n ORDER BY i DESC
"""


def measured(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Run a command to completion; return its wall time and its CPU time (user + system, of the
    process and every child it reaped: the task's attempt too), in seconds. Fail loudly if it fails."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    said = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {said.decode().strip()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Run a command to completion and return its wall time in seconds; fail loudly if it fails."""
    return measured(argv, env, cwd)[0]


def fill(db: Path, rows: int) -> float:
    """Add `rows` finished runs of noop to the run log at `db` and refill its totals; return the seconds taken."""
    from cronkit.runlog import totals

    began = time.perf_counter()
    with sqlite3.connect(db) as conn:
        conn.execute(FILL_RUNS, {"rows": rows, "now": int(time.time() * 1000) - 120_000})
        conn.execute(f"DELETE FROM {totals.TABLE}")
        totals.fill(lambda sql, params: conn.execute(sql, dict(params)).fetchall())
    conn.close()
    return time.perf_counter() - began


def time_migration(db: Path, env: dict[str, str], cwd: str) -> float:
    """Bring a copy of the big log back to the schema before run_totals and time the run that upgrades it."""
    # The schema before run_totals (version 10). The migrations after it (version 11's resource
    # columns) find their columns in place and change nothing, so the run times run_totals' fill.
    before = 9
    copy_home = Path(cwd) / "migrate-home"
    copy_home.mkdir()
    shutil.copy(db, copy_home / "cronkit.db")
    with sqlite3.connect(copy_home / "cronkit.db") as conn:
        conn.execute("DROP TABLE run_totals")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(before),))
        conn.execute(f"PRAGMA user_version = {before}")
    conn.close()
    took = timed([CRONKIT, "run", "noop"], {**env, "CRONKIT_HOME": str(copy_home)}, cwd)
    with sqlite3.connect(copy_home / "cronkit.db") as conn:
        found = conn.execute("SELECT runs_succeeded + runs_failed FROM run_totals WHERE task = 'noop'").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs WHERE status <> 'running'").fetchone()[0]
    conn.close()
    if found != runs:
        raise SystemExit(f"the migration's totals say {found} runs, the log holds {runs}")
    shutil.rmtree(copy_home)
    return took


def line(label: str, values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    return (f"{label:34} median {statistics.median(values) * scale:8.2f} {unit}"
            f"  (min {min(values) * scale:.2f}, max {max(values) * scale:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-migration", action="store_true")
    args = parser.parse_args()
    if not os.access(CRONKIT, os.X_OK):
        raise SystemExit(f"no cronkit executable next to {sys.executable}: run ./install.sh or pip install .")

    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        registry = Path(tmp) / "bench_registry.py"
        registry.write_text(REGISTRY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        base["CRONKIT_TASKS"] = str(registry)
        homes = {"empty": Path(tmp) / "empty", "big": Path(tmp) / "big"}
        envs = {name: {**base, "CRONKIT_HOME": str(home)} for name, home in homes.items()}
        run_cmd = [CRONKIT, "run", "noop"]
        bare_cmd = [sys.executable, "-c", "pass"]
        for env in envs.values():
            timed(run_cmd, env, tmp)  # creates the run log with this cronkit's schema
        built = fill(homes["big"] / "cronkit.db", args.rows)
        print(f"built a log of {args.rows:,} runs in {built:.1f} s "
              f"({(homes['big'] / 'cronkit.db').stat().st_size / 1e6:.0f} MB)")
        if not args.no_migration:
            took = time_migration(homes["big"] / "cronkit.db", envs["big"], tmp)
            print(f"the run that migrates it to run_totals (fills them; copies the log first) took {took:.2f} s")

        for _ in range(2):  # warm up: fill the page cache
            for env in envs.values():
                timed(run_cmd, env, tmp)
            timed(bare_cmd, base, tmp)

        bares: list[float] = []
        runs: dict[str, list[float]] = {name: [] for name in homes}
        cpu: dict[str, list[float]] = {name: [] for name in ("bare", *homes)}
        for _ in range(args.rounds):
            wall, used = measured(bare_cmd, base, tmp)
            bares.append(wall)
            cpu["bare"].append(used)
            for name, env in envs.items():
                wall, used = measured(run_cmd, env, tmp)
                runs[name].append(wall)
                cpu[name].append(used)

        for name, home in homes.items():
            with sqlite3.connect(home / "cronkit.db") as conn:
                recorded = conn.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'"
                                        " AND host <> 'bench-host'").fetchone()[0]
            conn.close()
            if recorded != args.rounds + 3:
                raise SystemExit(f"{name}: expected {args.rounds + 3} recorded runs, found {recorded}")

    bare_ratio = [r / b for r, b in zip(runs["empty"], bares, strict=True)]
    big_ratio = [r / b for r, b in zip(runs["big"], bares, strict=True)]
    growth = [big / empty for big, empty in zip(runs["big"], runs["empty"], strict=True)]
    print(f"baseline: {sys.executable} -c pass")
    print(line("python -c pass", bares))
    print(line("cronkit run noop, empty log", runs["empty"]))
    print(line(f"cronkit run noop, {args.rows:,} runs", runs["big"]))
    print(line("ratio empty log / bare", bare_ratio, "x", 1.0) + f"  target <= {TARGET_BARE:g}")
    print(line(f"ratio {args.rows:,} runs / bare", big_ratio, "x", 1.0))
    print(line(f"ratio {args.rows:,} runs / empty log", growth, "x", 1.0) + f"  target <= {TARGET_GROWTH:g}")
    # CPU time (the process and what it reaped) moves less than wall time on a loaded machine,
    # where waiting for a core dominates; the targets are wall-time ratios.
    cpu_ratio = [r / b for r, b in zip(cpu["empty"], cpu["bare"], strict=True)]
    print(line("cpu: python -c pass", cpu["bare"]))
    print(line("cpu: cronkit run noop, empty log", cpu["empty"]))
    print(line("cpu ratio empty log / bare", cpu_ratio, "x", 1.0))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = statistics.median(bare_ratio) <= TARGET_BARE and statistics.median(growth) <= TARGET_GROWTH
    print(f"over {args.rounds} rounds: " + ("OK" if ok else "ABOVE TARGET"))


if __name__ == "__main__":
    main()
