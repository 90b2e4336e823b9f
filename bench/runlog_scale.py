"""Time the read commands on a run log of 1,000,000 runs against the same commands on an empty one.

Fills a run log with a year of runs across 50 tasks (one per minute, one every 5 minutes, 48
hourly at their own minute; about 2 runs a minute, ids in time order, 2% failed with a dead
letter each, most resolved) with one INSERT ... SELECT over a recursive CTE, so SQLite does the
work in C. Both homes get the same registry and the same `cronkit install --target cron.d`
(into a private cron.d directory), so `status` computes missed slots for all 50 tasks in both.
Then runs, as subprocesses with CRONKIT_NOW pinned to the end of the year, alternating empty and
full, and prints each command's median times and their ratio:

    cronkit history --limit 50
    cronkit history task-07 --limit 50
    cronkit status --json
    cronkit stats --days 7 --json

    .venv/bin/python bench/runlog_scale.py [--rows 1000000] [--repeat 5] [--keep DIR]

Target: ratio <= 1.5 for history and status. stats over 7 days reads the week's runs (about
20,000 rows, through the started_at index), never the year: its ratio shows the cost of that week.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronkit.runlog import totals

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CRONKIT = str(Path(sys.executable).with_name("cronkit"))
TASKS = [("task-00", "* * * * *", 1, 0), ("task-01", "*/5 * * * *", 5, 0)] + [
    (f"task-{n:02d}", f"{n} * * * *", 60, n) for n in range(2, 50)
]


def write_registry(path: Path) -> None:
    lines = ["from cronkit import Registry", "registry = Registry()", ""]
    for name, schedule, _every, _offset in TASKS:
        lines.append(f"registry.add({schedule!r}, 'benchtasks:noop', name={name!r}, environments=['*'])")
    path.write_text("\n".join(lines) + "\n")


def fill(db: Path, rows: int) -> float:
    """Insert `rows` runs ending at NOW (and dead letters for the failed ones); return seconds."""
    started = time.perf_counter()
    per_minute = sum(1 / every for _n, _s, every, _o in TASKS)
    minutes = int(rows / per_minute) + 120
    start_ms = int((NOW - timedelta(minutes=minutes)).timestamp() * 1000)
    values = ", ".join(f"('{name}', {every}, {offset})" for name, _s, every, offset in TASKS)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    # Build the indexes once after the load instead of updating six B-trees a million times.
    indexes = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL")]
    with conn:
        for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL").fetchall():
            conn.execute(f"DROP INDEX {name}")
        conn.execute(
            f"""
            INSERT INTO runs (task, status, "trigger", scheduled_for, started_at, finished_at, duration_ms,
                              attempts, exit_code, host, pid, "user", dry_run, error, result)
            WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < {minutes} - 1),
                 t(name, every, off) AS (VALUES {values}),
                 r AS (
                   SELECT t.name AS name, {start_ms} + m.i * 60000 AS slot,
                          CASE WHEN (m.i * 7 + t.off) % 50 = 0 THEN 'failed'
                               WHEN (m.i * 13 + t.off) % 211 = 0 THEN 'skipped'
                               ELSE 'succeeded' END AS status,
                          200 + (m.i * 7919 + t.off * 104729) % 30000 AS ms
                   FROM m JOIN t ON m.i % t.every = t.off
                 )
            SELECT name, status, 'cron', slot, slot + 400, slot + 400 + ms, ms, 1,
                   CASE status WHEN 'succeeded' THEN 0 WHEN 'skipped' THEN 75 ELSE 1 END,
                   'bench-host', 4242, 'cron', 0,
                   CASE status WHEN 'failed' THEN 'RuntimeError: upstream said no' END,
                   CASE status WHEN 'succeeded' THEN '{{"rows": 1200}}' END
            FROM r ORDER BY slot, name LIMIT {rows}
            """
        )
        conn.execute(
            """
            INSERT INTO dead_letters (run_id, task, scheduled_for, error, attempts, created_at, resolved_at)
            SELECT id, task, scheduled_for, error, 1, finished_at,
                   CASE WHEN id % 10 = 0 THEN NULL ELSE finished_at + 3600000 END
            FROM runs WHERE status = 'failed'
            """
        )
        for sql in indexes:
            conn.execute(sql)
        conn.execute(f"DELETE FROM {totals.TABLE}")  # the totals of the runs just loaded, as the migration fills them
        totals.fill(lambda sql, params: conn.execute(sql, dict(params)).fetchall())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def prepare(root: Path, name: str, registry: Path, rows: int) -> dict[str, str]:
    """Create a home with the schema, the install and (rows > 0) a filled run log; return its env."""
    home = root / name
    crond = root / f"{name}-cron.d"
    home.mkdir()
    crond.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
    env.update({
        "CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(crond),
        "CRONKIT_ENV": "production", "PYTHONPATH": str(registry.parent), "COLUMNS": "200",
    })
    installed = {**env, "CRONKIT_NOW": (NOW - timedelta(days=365)).isoformat()}
    subprocess.run([CRONKIT, "install", "--target", "cron.d"], env=installed, check=True, capture_output=True)
    # Create the schema the way every command does, then fill it.
    subprocess.run([CRONKIT, "history", "--limit", "1"], env=installed, check=True, capture_output=True)
    if rows:
        seconds = fill(home / "cronkit.db", rows)
        count = sqlite3.connect(home / "cronkit.db").execute("SELECT count(*) FROM runs").fetchone()[0]
        size = (home / "cronkit.db").stat().st_size / 1e6
        print(f"filled {count:,} runs in {seconds:.1f} s ({size:.0f} MB)")
    return {**env, "CRONKIT_NOW": NOW.isoformat()}


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([CRONKIT, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cronkit {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def in_process(empty: dict[str, str], full: dict[str, str], repeat: int) -> dict[str, tuple[float, float]]:
    """Time the library calls behind the commands, without process start-up; return medians."""
    from cronkit import runlog
    from cronkit.config.settings import load_settings
    from cronkit.health.report import status
    from cronkit.health.stats import stats
    from cronkit.registry.loader import load_registry
    from cronkit.runlog.reader import HistoryFilter, history

    sys.path.insert(0, str(Path(empty["CRONKIT_TASKS"]).parent))
    os.environ["CRONKIT_CRON_D"] = empty["CRONKIT_CRON_D"]
    homes = {}
    for label, env in (("empty", empty), ("full", full)):
        settings = load_settings(environ=env)
        homes[label] = (settings, load_registry(settings.registry))
    calls = {
        "history --limit 50": lambda s, r: history(runlog.open(s.db_url, settle=s), HistoryFilter(limit=50)),
        "history task-07 --limit 50": lambda s, r: history(runlog.open(s.db_url, settle=s),
                                                           HistoryFilter(task="task-07", limit=50)),
        "status": lambda s, r: status(s, r, NOW),
        "stats --days 7": lambda s, r: stats(s, 7, NOW, r),
    }
    out = {}
    for key, call in calls.items():
        times: dict[str, list[float]] = {"empty": [], "full": []}
        for _ in range(repeat + 1):
            for label in ("empty", "full"):
                started = time.perf_counter()
                call(*homes[label])
                times[label].append(time.perf_counter() - started)
        out[key] = (statistics.median(times["empty"][1:]), statistics.median(times["full"][1:]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", help="build in this directory and keep it")
    opts = parser.parse_args()

    root = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="cronkit-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        registry = root / "benchreg.py"
        write_registry(registry)
        (root / "benchtasks.py").write_text("def noop(ctx):\n    return {}\n")
        empty = prepare(root, "empty", registry, 0)
        full = prepare(root, "full", registry, opts.rows)
        commands = [
            ["history", "--limit", "50"],
            ["history", "task-07", "--limit", "50"],
            ["status", "--json"],
            ["stats", "--days", "7", "--json"],
        ]
        for args in commands:  # warm the page cache and Python's bytecode cache
            timed(args, empty)
            timed(args, full)
        times: dict[str, dict[str, list[float]]] = {" ".join(a): {"empty": [], "full": []} for a in commands}
        for _ in range(opts.repeat):
            for args in commands:
                key = " ".join(args)
                times[key]["empty"].append(timed(args, empty))
                times[key]["full"].append(timed(args, full))
        inside = in_process(empty, full, opts.repeat)
        print(f"\nmedian of {opts.repeat} alternating runs, {opts.rows:,} runs vs an empty run log")
        print(f"{'command':<34} {'empty':>8} {'full':>8} {'ratio':>6}  target")
        for args in commands:
            key = " ".join(args)
            e, f = statistics.median(times[key]["empty"]), statistics.median(times[key]["full"])
            target = "<= 1.5" if not key.startswith("stats") else "reads 7 days only"
            print(f"cronkit {key:<26} {e:>7.3f}s {f:>7.3f}s {f / e:>6.2f}  {target}")
        print("\nthe same work in process (no interpreter start-up), median seconds")
        print(f"{'call':<34} {'empty':>8} {'full':>8} {'ratio':>6}")
        for key, (e, f) in inside.items():
            print(f"{key:<34} {e:>7.4f}s {f:>7.4f}s {f / e:>6.2f}")
    finally:
        if not opts.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
