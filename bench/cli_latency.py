"""How fast read commands answer: median wall time of each against `python3 -c pass`, alternating.

    .venv/bin/python bench/cli_latency.py [--runs 10000] [--rounds 15]

Builds a private home whose run log holds --runs runs (written as the runner writes them: its
start, then its outcome through the journal), then times `list`, `history`, `show`, `status`,
`health` and `stats`, each round alternating the command with a bare interpreter start so that
load on a shared machine affects both alike. Prints the medians and their ratio (target <= 10),
of wall time and of CPU time (user + system): on a loaded machine every start waits for a core,
which flattens the wall-time ratio; the CPU-time ratio is nearer what an idle machine shows.

The bare start is this interpreter's (`sys.executable`, the one the `cronkit` script runs on),
not whatever `python3` PATH finds first: a pyenv shim there is a shell script that costs ten
times an interpreter start and would hide most of cronkit's own cost.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (("list",), ("history",), ("show", "1"), ("status",), ("health",), ("stats",))


def fill(home: Path, count: int) -> None:
    """Write `count` finished runs of the built-in tasks into `<home>/cronkit.db`, as the runner does:
    its start, then its outcome through the journal's one transaction (the run totals with it)."""
    from cronkit import runlog
    from cronkit.config.settings import load_settings
    from cronkit.runlog.journal import op, record_outcome

    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    store = runlog.open(settings.db_url, create=True, settle=settings)
    names = ["hourly-metrics", "daily-analytics-updates", "daily-session-cleanup", "daily-log-pruning"]
    start = int(time.time() * 1000) - count * 60_000
    try:
        for i in range(count):
            started = start + i * 60_000
            run_id = store.start_run(task=names[i % len(names)], trigger="cron", started_at=started, user="bench")
            record_outcome(store, [op("finish", id=run_id, status="succeeded" if i % 17 else "failed",
                                      finished_at=started + 900, duration_ms=900, attempts=1,
                                      exit_code=0 if i % 17 else 1, error=None, traceback=None, result=None,
                                      output=None)], 60_000)
    finally:
        store.close()


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run argv; return its wall time and the CPU time (user + system) it and its children used.

    The command must answer (0, or 1 for an unhealthy `health`): a timing of an error path, such as
    a registry that is not configured, would say nothing of the command.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[1:])} exited {done.returncode}: {done.stderr.decode().strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cronkit = str(Path(sys.executable).with_name("cronkit"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        fill(home, args.runs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        # The built-in tasks' registry, named as a user names theirs (no registry configured is an error).
        env.update({"CRONKIT_HOME": str(home), "HOME": tmp, "COLUMNS": "80", "CRONKIT_TASKS": "cronkit.tasks"})
        print(f"{'':<10} {'wall time':-^33}  {'CPU time (user + system)':-^33}")
        print(f"{'command':<10} {'median':>9} {'python -c pass':>16} {'ratio':>6}  "
              f"{'median':>9} {'python -c pass':>16} {'ratio':>6}")
        for command in COMMANDS:
            mine, bare = [], []
            for _ in range(args.rounds):
                mine.append(timed([cronkit, *command], env))
                bare.append(timed([sys.executable, "-c", "pass"], env))
            cells = []
            for kind in (0, 1):
                m = statistics.median(t[kind] for t in mine)
                b = statistics.median(t[kind] for t in bare)
                cells.append(f"{m * 1000:>7.0f}ms {b * 1000:>14.0f}ms {m / b:>6.1f}")
            print(f"{' '.join(command):<10} {cells[0]}  {cells[1]}")


if __name__ == "__main__":
    main()
