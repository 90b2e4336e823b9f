"""Start 200 `cronkit run` processes at once against one SQLite run log; compare with 200 in a row.

Both phases use the same temp registry (a no-op task, singleton=False so none is skipped) and a
fresh CRONKIT_HOME each, so the burst also races to create the run log's schema. The script
prints both wall times and their ratio (burst / sequential: below 1 means the burst gains from
running in parallel, above 1 means the runs queue on the run log), and verifies that every run
was recorded exactly once, succeeded, and that no process reported `database is locked`.

    .venv/bin/python bench/burst.py [--processes 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CRONKIT = str(Path(sys.executable).with_name("cronkit"))
REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"], singleton=False)
def tick(ctx):
    return {"n": int(ctx.params["n"])}
"""


def command(n: int) -> list[str]:
    return [CRONKIT, "run", "tick", "--json", "--param", f"n={n}"]


def check(home: Path, outputs: list[tuple[int, str, str]], count: int, phase: str) -> None:
    """Fail loudly unless each of the `count` runs is recorded once, succeeded, without a lock error."""
    problems = []
    run_ids = []
    for code, out, err in outputs:
        if "locked" in err:
            problems.append(f"'database is locked' reported: {err.strip()}")
        if code != 0:
            problems.append(f"exit {code}: {err.strip()}")
        else:
            run_ids.append(json.loads(out)["run_id"])
    with sqlite3.connect(home / "cronkit.db") as conn:
        rows = conn.execute("SELECT status, params FROM runs").fetchall()
    conn.close()
    ns = sorted(int(json.loads(params)["n"]) for _, params in rows)
    if len(set(run_ids)) != count or ns != list(range(count)):
        problems.append(f"{len(rows)} runs recorded for {count} processes ({len(set(run_ids))} distinct ids)")
    statuses = {status for status, _ in rows}
    if statuses != {"succeeded"}:
        problems.append(f"statuses recorded: {sorted(statuses)}")
    if problems:
        raise SystemExit(f"{phase}: " + "; ".join(problems[:5]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=200)
    args = parser.parse_args()
    count = args.processes
    if not os.access(CRONKIT, os.X_OK):
        raise SystemExit(f"no cronkit executable next to {sys.executable}: run ./install.sh or pip install -e .")

    with tempfile.TemporaryDirectory(prefix="cronkit-burst-") as tmp:
        registry = Path(tmp) / "burst_registry.py"
        registry.write_text(REGISTRY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        base["CRONKIT_TASKS"] = str(registry)

        seq_home = Path(tmp) / "sequential"
        env = {**base, "CRONKIT_HOME": str(seq_home)}
        began = time.perf_counter()
        outputs = []
        for n in range(count):
            proc = subprocess.run(command(n), env=env, cwd=tmp, capture_output=True, text=True)
            outputs.append((proc.returncode, proc.stdout, proc.stderr))
        sequential = time.perf_counter() - began
        check(seq_home, outputs, count, "sequential")

        burst_home = Path(tmp) / "burst"
        env = {**base, "CRONKIT_HOME": str(burst_home)}
        # Spawning 200 processes from here takes longer than a second on a small machine, so each
        # waits at a gate (a shell reading one line from a FIFO, then exec'ing cronkit) and all are
        # released at once: the timing starts when the gate opens.
        gate = Path(tmp) / "gate"
        os.mkfifo(gate)
        gate_fd = os.open(gate, os.O_RDWR)  # a writer exists, so the shells' open() does not block
        logs = Path(tmp) / "out"
        logs.mkdir()
        procs = []
        for n in range(count):
            with open(logs / f"{n}.out", "w") as out, open(logs / f"{n}.err", "w") as err:
                procs.append(subprocess.Popen(["sh", "-c", 'read _ < "$0"; exec "$@"', str(gate), *command(n)],
                                              env=env, cwd=tmp, stdout=out, stderr=err))
        began = time.perf_counter()
        os.write(gate_fd, b"go\n" * count)
        for proc in procs:
            proc.wait()
        burst = time.perf_counter() - began
        os.close(gate_fd)
        outputs = [(proc.returncode, (logs / f"{n}.out").read_text(), (logs / f"{n}.err").read_text())
                   for n, proc in enumerate(procs)]
        check(burst_home, outputs, count, "burst")

    print(f"{count} runs one after another: {sequential:6.2f} s")
    print(f"{count} runs at once:           {burst:6.2f} s  (released together)")
    print(f"ratio burst / sequential:      {burst / sequential:6.2f}")
    print(f"every run recorded once, all succeeded, no 'database is locked' ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
