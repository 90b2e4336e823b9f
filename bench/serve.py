"""Load `cronkit serve` over a run log of 1,000,000 runs: /api/v1/runs, /api/v1/status, /metrics.

Builds a run log of N runs of 50 tasks with one INSERT ... SELECT (indexes built after the load),
starts the real server on a free loopback port, then runs 20 concurrent clients (keep-alive HTTP/1.1
on asyncio streams; --client httpx for httpx.AsyncClient, which costs 10x the CPU per request)
for 20 s, each cycling through the three routes. Prints requests/s, p50/p99 latency per route,
the errors (must be 0), the CPU time of the server and of the load generator (they share the
host's cores), and the server's RSS at 10 s and 20 s (and its peak). --servers N spreads the
clients over N server processes (what uvicorn --workers N would give); --writes R inserts R runs
a second during the load, each ended with its run totals as the runner ends a run (each one
invalidates the cached answers; at the end a scrape's run counters must equal the runs in the log);
--stale-running adds one run still `running` older than every other (issue 33: a scrape must not
read the runs recorded after it); --route loads one route.
Targets (issue 14): p99 of /api/v1/runs < 50 ms, /metrics < 250 ms, RSS flat between 10 s and 20 s.
Baseline: none (absolute latencies); compare runs of this script on the same machine.

    .venv/bin/python bench/serve.py [--rows 1000000] [--clients 20] [--seconds 20] [--client raw|httpx]
                                    [--servers 1] [--writes 0] [--stale-running] [--route PATH ...]
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
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from cronkit import runlog
from cronkit.runlog import totals
from cronkit.runlog.journal import op, record_outcome

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


def fill(db: Path, rows: int, stale_running: bool = False) -> float:
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
        if stale_running:  # started before every other run, alive on another host (its heartbeat is fresh)
            conn.execute(f"""INSERT INTO runs (id, task, status, "trigger", started_at, heartbeat_at, attempts, host, pid,
                             dry_run) VALUES (0, 'task-00', 'running', 'cron', {start_ms - 60_000},
                             {now_ms + 86_400_000}, 0, 'bench-elsewhere', 4242, 0)""")
        for sql in indexes:
            conn.execute(sql)
        conn.execute(f"DELETE FROM {totals.TABLE}")  # the totals of the runs just loaded, as the migration fills them
        totals.fill(lambda sql, params: conn.execute(sql, dict(params)).fetchall())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    assert count == rows + stale_running, count
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> tuple[int, int, int]:
    """Return (VmRSS, VmHWM) of a process in KiB, and its thread count."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0]), int(fields["Threads"])


class RawClient:
    """A keep-alive HTTP/1.1 GET client on asyncio streams: a tenth of httpx's CPU per request, so
    the load generator takes less of the cores it shares with the server."""

    def __init__(self, url: str, token: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.address = (host, int(port))
        self.headers = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, route: str) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(*self.address)
        reader, writer = self.streams
        writer.write(f"GET {route} HTTP/1.1\r\n{self.headers}".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:"))
        await reader.readexactly(length)
        return int(head[0].split()[1])

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def load(urls: list[str], token: str, clients: int, seconds: float, pids: list[int],
               routes: tuple[str, ...] = ROUTES, kind: str = "httpx") -> dict[str, object]:
    latencies: dict[str, list[float]] = {route: [] for route in routes}
    errors: list[str] = []
    rss: dict[str, tuple[int, int, int]] = {}
    end = time.monotonic() + seconds
    sent = 0

    async def client(index: int) -> None:
        nonlocal sent
        url = urls[index % len(urls)]  # clients spread over the servers as a kernel spreads connections
        http: Any = (RawClient(url, token) if kind == "raw" else httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
            limits=httpx.Limits(max_connections=1)))
        turn = index
        try:
            while time.monotonic() < end and sent < MAX_REQUESTS:
                route = routes[turn % len(routes)]
                turn += 1
                sent += 1
                t0 = time.perf_counter()
                try:
                    answer = await http.get(route)
                    status = answer if isinstance(answer, int) else answer.status_code
                    if status != 200:
                        errors.append(f"{route}: {status}")
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{route}: {type(exc).__name__}")
                latencies[route].append(time.perf_counter() - t0)
        finally:
            await (http.close() if kind == "raw" else http.aclose())

    def memory() -> tuple[int, int, int]:
        each = [rss_kib(pid) for pid in pids]
        return sum(e[0] for e in each), sum(e[1] for e in each), sum(e[2] for e in each)

    async def sample() -> None:
        start = time.monotonic()
        marks = sorted({seconds / 2, seconds, *(float(m) for m in range(5, int(seconds), 5) if TRACE_RSS)})
        for mark in marks:
            await asyncio.sleep(max(0.0, start + mark - time.monotonic()))
            rss[f"{mark:g}s"] = memory()

    def server_cpu() -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    started, cpu0, client_cpu = time.monotonic(), server_cpu(), time.process_time()
    await asyncio.gather(sample(), *(client(i) for i in range(clients)))
    return {"latencies": latencies, "errors": errors, "rss": rss, "elapsed": time.monotonic() - started,
            "server_cpu": server_cpu() - cpu0, "client_cpu": time.process_time() - client_cpu}


def writer(db: Path, per_second: float, stop: threading.Event) -> int:
    """Record a finished run every 1/per_second s until `stop`, as runs arriving from cron; return how many.

    Written as the runner writes them: its start, then its outcome and totals in one transaction.
    """
    store = runlog.open(f"sqlite:///{db}")
    done = 0
    try:
        while not stop.wait(1 / per_second):
            at = int(time.time() * 1000)
            run_id = store.start_run(task=f"task-{done % TASKS:02d}", trigger="cron", started_at=at - 120, user="cron")
            record_outcome(store, [op("finish", id=run_id, status="succeeded", finished_at=at, duration_ms=120,
                                      attempts=1, exit_code=0, error=None, traceback=None, result=None,
                                      output=None)], 60_000)
            done += 1
    finally:
        store.close()
    return done


def counted_runs(url: str, token: str, db: Path) -> tuple[int, int]:
    """Return the runs /metrics counts (all tasks, all statuses) and the ended runs the log holds; fail if they differ."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=60).text
    scraped = int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                      if s.name == "cronkit_task_runs_total"))
    with sqlite3.connect(db) as conn:
        held = int(conn.execute("SELECT count(*) FROM runs WHERE status <> 'running'").fetchone()[0])
    conn.close()
    if scraped != held:
        raise SystemExit(f"/metrics counts {scraped} runs, the log holds {held}")
    return scraped, held


def start_server(env: dict[str, str], token: str, rows: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start `cronkit serve` on a free port; wait for it, scrape it once; return it and its URL."""
    port = free_port()
    server = subprocess.Popen([CRONKIT, "serve", "--port", str(port), "--log-level", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("cronkit serve did not start") from None
            time.sleep(0.1)
    t0 = time.perf_counter()  # the run totals are kept as runs end: the first scrape reads them as any other
    first = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert first.status_code == 200 and "cronkit_task_runs_total" in first.text
    print(f"first /metrics over {rows:,} runs: {1000 * (time.perf_counter() - t0):.0f} ms")
    return server, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--route", action="append", help="load only this route (repeatable; default the three)")
    parser.add_argument("--writes", type=float, default=0.0,
                        help="runs inserted per second during the load (each one invalidates the cached answers)")
    parser.add_argument("--stale-running", action="store_true",
                        help="one run still running, older than every other (issue 33's slow scrape)")
    parser.add_argument("--client", choices=("httpx", "raw"), default="raw",
                        help="load generator: httpx.AsyncClient, or raw keep-alive HTTP/1.1 on asyncio streams")
    parser.add_argument("--servers", type=int, default=1,
                        help="serve processes, clients spread over them (what uvicorn --workers N would give)")
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
        took = fill(home / "cronkit.db", args.rows, args.stale_running)
        print(f"run log: {args.rows:,} runs of {TASKS} tasks built in {took:.1f} s")
        servers: list[subprocess.Popen[bytes]] = []
        try:
            urls = []
            for _ in range(args.servers):
                server, url = start_server(env, token, args.rows)
                servers.append(server)
                urls.append(url)
            stop, inserted = threading.Event(), [0]
            if args.writes > 0:
                thread = threading.Thread(target=lambda: inserted.__setitem__(0, writer(home / "cronkit.db", args.writes, stop)))
                thread.start()
            try:
                result = asyncio.run(load(urls, token, args.clients, args.seconds, [s.pid for s in servers],
                                          tuple(args.route or ROUTES), args.client))
            finally:
                stop.set()
                if args.writes > 0:
                    thread.join(30)
                    print(f"runs inserted during the load: {inserted[0]}")
            truth = counted_runs(urls[0], token, home / "cronkit.db")
            print(f"after the load, /metrics counts {truth[0]:,} ended runs; the log holds {truth[1]:,}")
        finally:
            for server in servers:
                server.terminate()
                server.wait(30)
    latencies = result["latencies"]
    assert isinstance(latencies, dict)
    total = sum(len(v) for v in latencies.values())
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    print(f"{args.clients} clients ({args.client}), {args.servers} server process(es), {elapsed:.1f} s, "
          f"{total:,} requests, {total / elapsed:.0f} req/s")
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
