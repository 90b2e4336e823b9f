"""Load `cronkit serve` over a run log of 1,000,000 runs: /api/v1/runs, /api/v1/status, /metrics.

Builds a run log of N runs of 50 tasks with one INSERT ... SELECT (indexes built after the load),
starts the real server on a free loopback port, then runs 20 concurrent clients (httpx, asyncio)
for 20 s, each cycling through the three routes. Prints requests/s, p50/p99 latency per route,
the errors (must be 0) and the server's RSS at 10 s and 20 s (and its peak).
Targets (issue 14): p99 of /api/v1/runs < 50 ms, /metrics < 250 ms, RSS flat between 10 s and 20 s.

    .venv/bin/python bench/serve.py [--rows 1000000] [--clients 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CRONKIT = str(Path(sys.executable).with_name("cronkit"))
TASKS = 50
ROUTES = ("/api/v1/runs?limit=50", "/api/v1/status", "/metrics")
TRACE_RSS = bool(os.environ.get("BENCH_TRACE_RSS"))  # RSS every 5 s too, to see where it grows
MAX_REQUESTS = 200_000  # a bound on the whole load, whatever the machine's speed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_registry(path: Path) -> None:
    lines = ["from cronkit import Registry", "registry = Registry()", ""]
    for i in range(TASKS):
        schedule = f"{i % 60} * * * *" if i % 2 else f"{i % 60} {i % 24} * * *"
        lines.append(f"registry.add({schedule!r}, 'benchtasks:noop', name='task-{i:02d}', environments=['*'])")
    path.write_text("\n".join(lines) + "\n")
    (path.parent / "benchtasks.py").write_text("def noop(ctx):\n    return None\n")


def fill(db: Path, rows: int) -> float:
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - rows * 30_000  # one run every 30 s on average, ending now
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    indexes = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL")]
    with conn:
        for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL").fetchall():
            conn.execute(f"DROP INDEX {name}")
        conn.execute(f"""
            INSERT INTO runs (task, status, "trigger", scheduled_for, started_at, finished_at, duration_ms,
                              attempts, exit_code, host, pid, "user", dry_run, error, result)
            WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < {rows} - 1)
            SELECT printf('task-%02d', i % {TASKS}),
                   CASE WHEN i % 50 = 7 THEN 'failed' WHEN i % 211 = 3 THEN 'skipped' ELSE 'succeeded' END,
                   CASE WHEN i % 97 = 0 THEN 'api' ELSE 'cron' END,
                   {start_ms} + i * 30000, {start_ms} + i * 30000 + 300, {start_ms} + i * 30000 + 300 + (i * 7919) % 30000,
                   (i * 7919) % 30000, 1, CASE WHEN i % 50 = 7 THEN 1 ELSE 0 END, 'bench-host', 4242, 'cron', 0,
                   CASE WHEN i % 50 = 7 THEN 'RuntimeError: upstream said no' END,
                   CASE WHEN i % 50 <> 7 THEN '{{"rows": 1200}}' END
            FROM m""")
        conn.execute("""
            INSERT INTO dead_letters (run_id, task, scheduled_for, error, attempts, created_at, resolved_at)
            SELECT id, task, scheduled_for, error, 1, finished_at,
                   CASE WHEN id % 10 = 0 THEN NULL ELSE finished_at + 3600000 END
            FROM runs WHERE status = 'failed'""")
        for sql in indexes:
            conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    assert count == rows, count
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> tuple[int, int, int]:
    """Return (VmRSS, VmHWM) of a process in KiB, and its thread count."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0]), int(fields["Threads"])


async def load(url: str, token: str, clients: int, seconds: float, pid: int,
               routes: tuple[str, ...] = ROUTES) -> dict[str, object]:
    latencies: dict[str, list[float]] = {route: [] for route in routes}
    errors: list[str] = []
    rss: dict[str, tuple[int, int, int]] = {}
    end = time.monotonic() + seconds
    sent = 0

    async def client(index: int) -> None:
        nonlocal sent
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=30, limits=limits) as http:
            turn = index
            while time.monotonic() < end and sent < MAX_REQUESTS:
                route = routes[turn % len(routes)]
                turn += 1
                sent += 1
                t0 = time.perf_counter()
                try:
                    answer = await http.get(route)
                    if answer.status_code != 200:
                        errors.append(f"{route}: {answer.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(f"{route}: {type(exc).__name__}")
                latencies[route].append(time.perf_counter() - t0)

    async def sample() -> None:
        start = time.monotonic()
        marks = sorted({seconds / 2, seconds, *(float(m) for m in range(5, int(seconds), 5) if TRACE_RSS)})
        for mark in marks:
            await asyncio.sleep(max(0.0, start + mark - time.monotonic()))
            rss[f"{mark:g}s"] = rss_kib(pid)

    started, server_cpu, client_cpu = time.monotonic(), cpu_seconds(pid), time.process_time()
    await asyncio.gather(sample(), *(client(i) for i in range(clients)))
    return {"latencies": latencies, "errors": errors, "rss": rss, "elapsed": time.monotonic() - started,
            "server_cpu": cpu_seconds(pid) - server_cpu, "client_cpu": time.process_time() - client_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--route", action="append", help="load only this route (repeatable; default the three)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronkit-bench-serve-") as tmp:
        root = Path(tmp)
        registry = root / "benchregistry.py"
        write_registry(registry)
        home = root / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        env.update({"CRONKIT_HOME": str(home), "CRONKIT_TASKS": str(registry), "CRONKIT_ENV": "production",
                    "PYTHONPATH": str(root), "HOME": str(root)})
        made = subprocess.run([CRONKIT, "token", "create", "bench", "--scope", "read", "--json"], env=env,
                              capture_output=True, text=True, check=True)
        token = json.loads(made.stdout)["token"]
        took = fill(home / "cronkit.db", args.rows)
        print(f"run log: {args.rows:,} runs of {TASKS} tasks built in {took:.1f} s")
        port = free_port()
        server = subprocess.Popen([CRONKIT, "serve", "--port", str(port), "--log-level", "warning"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("cronkit serve did not start") from None
                    time.sleep(0.1)
            t0 = time.perf_counter()  # the first scrape sums the whole log once (then incrementally)
            first = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=120)
            assert first.status_code == 200 and "cronkit_task_runs_total" in first.text
            print(f"first /metrics (sums {args.rows:,} runs once): {1000 * (time.perf_counter() - t0):.0f} ms")
            result = asyncio.run(load(url, token, args.clients, args.seconds, server.pid, tuple(args.route or ROUTES)))
        finally:
            server.terminate()
            server.wait(30)
    latencies = result["latencies"]
    assert isinstance(latencies, dict)
    total = sum(len(v) for v in latencies.values())
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    print(f"{args.clients} clients, {elapsed:.1f} s, {total:,} requests, {total / elapsed:.0f} req/s")
    for route, values in latencies.items():
        values.sort()
        p50 = statistics.median(values) * 1000
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
        print(f"  {route:<24} {len(values) / elapsed:7.1f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    server_cpu, client_cpu = float(result["server_cpu"]), float(result["client_cpu"])  # type: ignore[arg-type]
    print(f"CPU over the load: server {server_cpu:.1f} s ({100 * server_cpu / elapsed:.0f}% of a core), "
          f"load generator {client_cpu:.1f} s ({100 * client_cpu / elapsed:.0f}% of a core); "
          f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    errors = result["errors"]
    assert isinstance(errors, list)
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    rss = result["rss"]
    assert isinstance(rss, dict)
    for mark, (now_kib, peak_kib, threads) in rss.items():
        print(f"server RSS at {mark}: {now_kib / 1024:.1f} MiB (peak so far {peak_kib / 1024:.1f} MiB, {threads} threads)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
