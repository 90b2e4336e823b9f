"""Time `cronkit run` of a shell command task and of a registry list with a `plugin:` entry, side by side.

Three runs alternate in each round, so a change in the machine's load hits them alike:

- `noop`: a no-op function task, the registry one file (the floor: bench/run_overhead.py's run);
- `true`: a command task running `true` from the same file (issue 30: the forked attempt
  fork+execs `/bin/sh -c true`);
- `noop` again with the registry `FILE,plugin:bench` (a distribution pip-installed into a temp
  directory on PYTHONPATH publishes the second registry): the cost of reading installed
  distributions' metadata, which only `plugin:` entries pay.

The script prints the median of the per-round ratios to the floor and checks that every timed
run was recorded as succeeded.

    .venv/bin/python bench/command_task.py [--rounds 20]

Target: command / function <= 1.2; plugin list / single file <= 1.5.
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
registry.command("* * * * *", "true", name="true", environments="*")


@registry.task("* * * * *", environments=["*"])
def noop(ctx):
    return {}
"""
PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "cronkit-bench-plugin"
version = "1.0"

[project.entry-points."cronkit.registries"]
bench = "cronkit_bench_plugin:registry"
"""
PLUGIN = 'from cronkit import Registry\n\nregistry = Registry()\nregistry.command("0 0 * * *", "true", name="other")\n'


def timed(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Run a command to completion and return its wall time in seconds; fail loudly if it fails."""
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode().strip()}")
    return elapsed


def install_plugin(tmp: Path) -> Path:
    """Build and install the plugin distribution into a directory of its own; return that directory."""
    source = tmp / "plugin"
    source.mkdir()
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "cronkit_bench_plugin.py").write_text(PLUGIN)
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(source)], check=True, capture_output=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        registry = Path(tmp) / "bench_registry.py"
        registry.write_text(REGISTRY)
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        env.update({"CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry),
                    "PYTHONPATH": str(install_plugin(Path(tmp)))})
        plugin_env = {**env, "CRONKIT_TASKS": f"{registry},plugin:bench"}
        cases = {"function": ([CRONKIT, "run", "noop"], env), "command": ([CRONKIT, "run", "true"], env),
                 "plugin list": ([CRONKIT, "run", "noop"], plugin_env)}
        for argv, case_env in cases.values():  # warm up: the run log, the page cache
            timed(argv, case_env, tmp)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (argv, case_env) in cases.items():
                times[name].append(timed(argv, case_env, tmp))
        with sqlite3.connect(home / "cronkit.db") as conn:
            bad = conn.execute("SELECT count(*) FROM runs WHERE status != 'succeeded'").fetchone()[0]
        if bad:
            raise SystemExit(f"{bad} run(s) did not succeed")
        floor = times["function"]
        print(f"rounds {args.rounds}; median wall time: " + ", ".join(
            f"{name} {statistics.median(values) * 1000:.0f} ms" for name, values in times.items()))
        for name, target in (("command", 1.2), ("plugin list", 1.5)):
            ratio = statistics.median(t / f for t, f in zip(times[name], floor))
            print(f"{name} / function: median ratio {ratio:.2f} (target <= {target})")


if __name__ == "__main__":
    main()
