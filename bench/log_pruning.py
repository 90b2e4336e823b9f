"""Bench daily-log-pruning against `find DIR -type f -mtime +30 -delete`.

Builds a log directory of 10,000 rotated, already-compressed files (10 services x 100 logs x
10 rotations; one third past the 30-day retention, no log over max_files, nothing to compress
or rotate), so the task's only work is the deletion `find` does alone. Each round copies the
template twice (`cp -a`, keeping mtimes), times `find` on one copy and the task on the other
(in-process, run log already created, so interpreter start-up is not counted; the run-log
retention step is), and checks both deleted the same files. Prints the median ratio
task / find (target: <= 3). A third copy is pruned by a whole `cronkit run daily-log-pruning`
process, timed against the `find` process: both whole processes, start-up included (baseline
interpreter: none; the floor is `find`, a C program).

    .venv/bin/python bench/log_pruning.py [--files 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DAY = 86400
CRONKIT = str(Path(sys.executable).with_name("cronkit"))


def build(template: Path, files: int) -> int:
    """Write the template directory; return how many files are past retention."""
    body = gzip.compress(b"GET /health 200 1ms\n" * 20)
    now = time.time()
    old = 0
    per_dir = files // 10
    for d in range(10):
        directory = template / f"service{d}"
        directory.mkdir(parents=True)
        for i in range(per_dir):
            log, rotation = divmod(i, 10)
            path = directory / f"app{log:03d}.log.{rotation + 1}.gz"
            path.write_bytes(body)
            n = d * per_dir + i
            if n % 3 == 0:
                age = 40 + n % 50  # past retention
                old += 1
            else:
                age = 1 + n % 20
            os.utime(path, (now - age * DAY, now - age * DAY))
    return old


def survivors(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from cronkit import runlog
    from cronkit.config.settings import load_settings
    from cronkit.context import TaskContext
    from cronkit.registry import task_config
    from cronkit.tasks import registry
    from cronkit.tasks.logs.policy import Policy
    from cronkit.tasks.logs.pruning import prune_directory
    from cronkit.tasks.logs.task import daily_log_pruning

    task = registry["daily-log-pruning"]
    with tempfile.TemporaryDirectory(prefix="cronkit-bench-logs-") as tmp_name:
        tmp = Path(tmp_name)
        template = tmp / "template"
        old = build(template, args.files)
        settings = load_settings(environ={"CRONKIT_HOME": str(tmp / "home"),
                                           "CRONKIT_LOG_DIR": str(tmp / "task")})
        # an existing run log, as on a host where cronkit runs daily
        runlog.open(settings.db_url, create=True, settle=settings).close()
        find_times, task_times, pass_times, proc_times = [], [], [], []
        proc_env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        proc_env.update({"CRONKIT_HOME": str(tmp / "home"), "CRONKIT_TASKS": "cronkit.tasks",
                         "CRONKIT_ENV": "production"})
        find_cpu: list[float] = []
        task_cpu: list[float] = []
        for _ in range(args.rounds):
            for name in ("find", "task", "pass", "proc"):
                subprocess.run(["rm", "-rf", str(tmp / name)], check=True)
                subprocess.run(["cp", "-a", str(template), str(tmp / name)], check=True)
            # Let the copies reach the disk first: unlinking files still under writeback is
            # slower, and whichever contender ran first would pay for it.
            os.sync()
            time.sleep(0.5)

            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(["find", str(tmp / "find"), "-type", "f", "-mtime", "+30", "-delete"], check=True)
            find_times.append(time.perf_counter() - start)
            find_cpu.append(_cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(cpu0))

            ctx = TaskContext(task=task.name, settings=settings, config=task_config(task, {}),
                              now=datetime.now(UTC))
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            result = daily_log_pruning(ctx)
            task_times.append(time.perf_counter() - start)
            task_cpu.append(_cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(cpu0))
            assert result["files_deleted"] == old, result
            assert survivors(tmp / "find") == survivors(tmp / "task")

            start = time.perf_counter()
            subprocess.run([CRONKIT, "run", "daily-log-pruning"], env={**proc_env, "CRONKIT_LOG_DIR": str(tmp / "proc")},
                           check=True, stdout=subprocess.DEVNULL)
            proc_times.append(time.perf_counter() - start)
            assert survivors(tmp / "find") == survivors(tmp / "proc")

            start = time.perf_counter()
            prune_directory(str(tmp / "pass"), Policy.from_config(ctx.config), ctx.now, False, ctx)
            pass_times.append(time.perf_counter() - start)

    find_s, task_s, pass_s, proc_s = (statistics.median(t) for t in (find_times, task_times, pass_times, proc_times))
    print(f"{args.files:,} files, {old:,} past retention; median of {args.rounds} rounds")
    print(f"find -type f -mtime +30 -delete: {find_s * 1000:7.1f} ms")
    print(f"daily-log-pruning (whole task):  {task_s * 1000:7.1f} ms  ratio {task_s / find_s:.2f}  (target <= 3)")
    print(f"  of which the directory pass:   {pass_s * 1000:7.1f} ms  ratio {pass_s / find_s:.2f}")
    print(f"cronkit run daily-log-pruning (whole process, start-up and run log included): {proc_s * 1000:7.1f} ms"
          f"  ratio {proc_s / find_s:.2f} to the find process")
    fc, tc = statistics.median(find_cpu), statistics.median(task_cpu)
    print(f"CPU time (user+sys): find {fc * 1000:.1f} ms, task {tc * 1000:.1f} ms, ratio {tc / fc:.2f}")


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
