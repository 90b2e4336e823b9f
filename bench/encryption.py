"""The run-path cost of encrypted payloads: `cronkit run` of a task with output and a result,
with `encrypt_payloads` off and on, against the venv's `python -c pass`, side by side.

The three commands alternate round by round (one home each, warmed up), so the machine's load hits
them alike; the script prints medians (min-max) of each, the ratio of each to the bare start, and
the ratio of encrypted to clear, and checks that the encrypted runs stored sealed values.

    .venv/bin/python bench/encryption.py [--rounds 20]
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

CRONKIT = str(Path(sys.executable).with_name("cronkit"))
REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"])
def export(ctx):
    print("row", "x" * 200)
    return {"rows": 1, "customer": "Ada Lovelace"}
"""


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        registry = Path(root, "registry.py")
        registry.write_text(REGISTRY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        envs = {
            "clear": {**base, "CRONKIT_HOME": f"{root}/clear", "CRONKIT_TASKS": str(registry)},
            "encrypted": {**base, "CRONKIT_HOME": f"{root}/sealed", "CRONKIT_TASKS": str(registry),
                          "CRONKIT_SECRET_KEY": "bench secret key 0123456789", "CRONKIT_ENCRYPT_PAYLOADS": "true"},
        }
        run = [CRONKIT, "run", "export"]
        for env in envs.values():
            timed(run, env, root)  # warm-up: creates the run log
        times: dict[str, list[float]] = {"python -c pass": [], "clear": [], "encrypted": []}
        for _ in range(args.rounds):
            times["python -c pass"].append(timed([sys.executable, "-c", "pass"], base, root))
            for name, env in envs.items():
                times[name].append(timed(run, env, root))
        with sqlite3.connect(f"{root}/sealed/cronkit.db") as conn:
            sealed = conn.execute("SELECT count(*) FROM runs WHERE output LIKE 'ckenc1:%' AND result LIKE 'ckenc1:%'").fetchone()[0]
        assert sealed == args.rounds + 1, sealed
    bare = statistics.median(times["python -c pass"])
    print(f"baseline: {sys.executable} -c pass; {args.rounds} alternating rounds; load {os.getloadavg()[0]:.1f}")
    for name, values in times.items():
        print(f"{name:16} {summary(values)}  {statistics.median(values) / bare:5.2f}x bare python")
    ratio = statistics.median([e / c for e, c in zip(times["encrypted"], times["clear"], strict=True)])
    print(f"encrypted / clear, median of per-round ratios: {ratio:.3f}")


if __name__ == "__main__":
    main()
