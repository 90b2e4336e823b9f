"""Time daily-analytics-updates on a day of 1,000,000 events against the floor; show peak memory.

The floor is the task's own aggregate SELECTs (per course, per student), compiled by
SQLAlchemy and run by the sqlite3 module alone on the same file, rows fetched and dropped.
The task is run in a fresh subprocess so its peak RSS (VmHWM) is its own; a second
database with a quarter of the events shows whether memory grows with the number of events.

    .venv/bin/python bench/analytics.py [--events N] [--students N] [--courses N] [--rounds N]

Target: ratio <= 2, and the same peak memory at both sizes.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 0, 0, 5, tzinfo=UTC)
KINDS = (
    "lesson_viewed",
    "lesson_viewed",
    "lesson_viewed",
    "video_watched",
    "quiz_submitted",
    "lesson_completed",
    "forum_posted",
    "login",
)


def ts(value: datetime) -> str:
    """Format an instant the way platform.UTCDateTime stores it on SQLite (naive UTC text)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, events: int, students: int, courses: int, seed: int = 1) -> float:
    """Create the platform schema in `path`, bulk-load one day of events; return seconds."""
    from cronkit.runlog.engines import create_engine_for
    from cronkit.tasks import platform as p

    started = time.perf_counter()
    engine = create_engine_for(f"sqlite:///{path}")
    p.create_all(engine)
    engine.dispose()
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    # Load without the event indexes, then build them once: faster than updating them per row.
    event_indexes = [ix for ix in p.activity_events.indexes]
    for ix in event_indexes:
        db.execute(f"DROP INDEX {ix.name}")
    created = ts(datetime(2025, 1, 1, tzinfo=UTC))
    with db:
        db.executemany(
            "INSERT INTO courses (id, title, created_at) VALUES (?, ?, ?)",
            ((i, f"Course {i}", created) for i in range(1, courses + 1)),
        )
        db.executemany(
            "INSERT INTO users (id, email, verified, created_at, last_login_at)"
            " VALUES (?, ?, 1, ?, NULL)",
            ((i, f"s{i}@bench.invalid", created) for i in range(1, students + 1)),
        )
        enrolled: list[tuple[int, int]] = []
        for uid in range(1, students + 1):
            for cid in sorted(rng.sample(range(1, courses + 1), rng.randint(1, 3))):
                enrolled.append((uid, cid))
        start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
        db.executemany(
            "INSERT INTO enrollments (user_id, course_id, enrolled_at, progress, completed_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (uid, cid, ts(start - timedelta(days=rng.randint(0, 300))), rng.random(), None)
                for uid, cid in enrolled
            ),
        )
        day_us = 86_400 * 1_000_000
        offsets = sorted(rng.randrange(day_us) for _ in range(events))

        prefix = DAY.isoformat()

        def rows():  # type: ignore[no-untyped-def]
            n_enrolled, n_kinds, randrange = len(enrolled), len(KINDS), rng.randrange
            for off in offsets:
                uid, cid = enrolled[randrange(n_enrolled)]
                kind = KINDS[randrange(n_kinds)]
                secs, us = divmod(off, 1_000_000)
                hh, rest = divmod(secs, 3600)
                mm, ss = divmod(rest, 60)
                yield (
                    uid,
                    None if kind == "login" else cid,
                    kind,
                    f"{prefix} {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}",
                    5 + randrange(896),
                )

        db.executemany(
            "INSERT INTO activity_events (user_id, course_id, kind, occurred_at, seconds_spent)"
            " VALUES (?, ?, ?, ?, ?)",
            rows(),
        )
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateIndex

    for ix in event_indexes:
        db.execute(str(CreateIndex(ix).compile(dialect=sqlite_dialect.dialect())))
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return time.perf_counter() - started


def floor_queries() -> list[tuple[str, list[object]]]:
    """Compile the task's two aggregate SELECTs for SQLite with their bound values processed."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from cronkit.tasks.analytics.daily import daily_course_select, daily_student_select

    dialect = sqlite_dialect.dialect()
    out = []
    for stmt in (daily_course_select(DAY), daily_student_select(DAY)):
        compiled = stmt.compile(dialect=dialect)
        params = compiled.construct_params()
        procs = (
            compiled._bind_processors
        )  # the same conversions SQLAlchemy applies before the driver
        values = [
            procs[n](params[n]) if n in procs else params[n] for n in compiled.positiontup or []
        ]
        out.append((str(compiled), values))
    return out


def run_floor(path: Path) -> float:
    queries = floor_queries()
    db = sqlite3.connect(path)
    started = time.perf_counter()
    for sql, values in queries:
        for _ in db.execute(sql, values):
            pass
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


# ru_maxrss survives exec on Linux (the child would inherit the parent's high-water mark);
# VmHWM belongs to the new address space, so it is the child's own peak.
PEAK = r"""
def peak_rss_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

CHILD = (
    PEAK
    + r"""
import json, sys, time
from datetime import datetime
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.registry import task_config
from cronkit.tasks import registry
from cronkit.tasks.analytics.daily import daily_analytics_updates
import sqlalchemy.dialects.sqlite  # imported by the task on first use; keep it out of the timing
path, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
settings = load_settings(environ={"CRONKIT_HOME": sys.argv[3], "CRONKIT_APP_DB_URL": f"sqlite:///{path}"})
task = registry["daily-analytics-updates"]
ctx = TaskContext(task=task.name, settings=settings, config=task_config(task, {}), now=now)
ctx.app_db  # open the engine outside the timing: the runner opens it lazily too, but once
started = time.perf_counter()
result = daily_analytics_updates(ctx)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "maxrss_kib": peak_rss_kib(), "result": result}))
"""
)


def run_task(path: Path, home: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), NOW.isoformat(), str(home)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


BASELINE_CHILD = (
    PEAK
    + r"""
import json
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.tasks.analytics.daily import daily_analytics_updates
import sqlalchemy.dialects.sqlite
print(json.dumps({"maxrss_kib": peak_rss_kib()}))
"""
)


def measure(path: Path, home: Path, rounds: int) -> dict[str, object]:
    run_floor(path)  # warm the page cache for both sides
    floors, tasks, rss = [], [], []
    result: object = None
    for _ in range(rounds):
        floors.append(run_floor(path))
        child = run_task(path, home)
        tasks.append(float(child["seconds"]))  # type: ignore[arg-type]
        rss.append(int(child["maxrss_kib"]))  # type: ignore[call-overload]
        result = child["result"]
    # The best of several interleaved rounds: on a shared machine the minimum is the figure least
    # disturbed by other work; the medians are printed too.
    return {
        "floor_s": min(floors),
        "task_s": min(tasks),
        "floor_median_s": statistics.median(floors),
        "task_median_s": statistics.median(tasks),
        "maxrss_mib": max(rss) / 1024,
        "result": result,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        work = Path(tmp)
        baseline = (
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", BASELINE_CHILD],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )["maxrss_kib"]
            / 1024
        )
        figures = {}
        for label, events in (("full", args.events), ("quarter", args.events // 4)):
            path = work / f"{label}.db"
            load_s = build(path, events, args.students, args.courses)
            figures[label] = measure(path, work / f"home-{label}", args.rounds) | {
                "events": events,
                "load_s": load_s,
            }
            path.unlink()
        full, quarter = figures["full"], figures["quarter"]
        ratio = float(full["task_s"]) / float(full["floor_s"])  # type: ignore[arg-type]
        print(
            f"daily-analytics-updates, one day of {args.events:,} events, "
            f"{args.students:,} students, "
            f"{args.courses} courses (SQLite, best of {args.rounds} interleaved rounds)"
        )
        for label in ("full", "quarter"):
            f = figures[label]
            print(
                f"  {f['events']:>9,} events: load {f['load_s']:.1f}s  floor {f['floor_s']:.3f}s  "
                f"task {f['task_s']:.3f}s  ratio {float(f['task_s']) / float(f['floor_s']):.2f}  "  # type: ignore[arg-type]
                f"peak RSS {f['maxrss_mib']:.1f} MiB  (medians: floor {f['floor_median_s']:.3f}s, "
                f"task {f['task_median_s']:.3f}s)"
            )
        print(f"  result: {json.dumps(full['result'])}")
        print(f"  peak RSS of the same process without running the task: {baseline:.1f} MiB")
        growth = float(full["maxrss_mib"]) - float(quarter["maxrss_mib"])  # type: ignore[arg-type]
        print(
            f"ratio {ratio:.2f} (target <= 2); peak memory {full['maxrss_mib']:.1f} MiB at "
            f"{args.events:,} events vs {quarter['maxrss_mib']:.1f} MiB at {args.events // 4:,} "
            f"({growth:+.1f} MiB)"
        )
        return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
