"""Many hosts, one PostgreSQL run log, one Redis: is every slot run exactly once under faults?

For each N in --hosts (default 2, 5, 10), N simulated hosts (each its own CRONKIT_HOME and
CRONKIT_HOSTNAME) share a fresh PostgreSQL schema as their run log and one redis-server that this
script starts on a free port (so that it can kill and restart it). For --slots consecutive minutes
of an injected clock (CRONKIT_NOW: no waiting for real minutes), every host starts
`cronkit run TASK --trigger cron` for every task due in that minute, as real processes, each host
at its own second of the minute (0-20 s; real starts spread over a tenth of that, because hosts'
cron daemons do not tick together). Faults are drawn per slot from --seed (the draws are
reproducible; what they hit depends on timing):

* SIGKILL of the run that claimed the slot, while its task runs (found in the run log);
* SIGKILL of one host's `cronkit run` at a random moment (0-3 s) of the slot;
* a Redis restart (SIGKILL, then a new server on the same port after 0.1-1 s down), before the
  slot's runs start or while they run (0-3 s in), keeping its data (append-only file, fsync
  always) or losing it (a restart without persistence: the data files are deleted first).

Three singleton tasks with the global (Redis) lock, each working --task-seconds (1.5 s, longer than
a lease renewal period at the bench's CRONKIT_LEASE_TTL of 3 s): `ledger` every minute, failing
closed when Redis is down (the default); `ledger-fallback` at even minutes with redis_fallback=True,
which runs under the local lock alone when Redis is down, so that only the run log's slot claim
stands between it and a second run; `ledger-replace` at odd minutes with concurrency="replace".
Each appends one line (task, slot, host, run id) to a file the hosts share at the end of its work:
that file is the count this script trusts, next to the run log's `runs` and `slots` tables.

Per (task, slot) the verdict is: ran once (one line); duplicate (two or more lines, or two runs
recorded `succeeded`); not run because of an injected fault: killed (the run that claimed the slot,
or one that held the lock before claiming, was SIGKILLed and is recorded `lost`) or Redis down (the
claimant, or every run that did not skip, failed closed: `failed`, exit 69, "Redis unavailable");
lost, unexplained: anything else (a claimant that succeeded without a line, is still `running`, or
was stopped by another run of the same slot). Exit status 1 on a duplicate, an unexplained loss, a
run that hung or ended with an unexpected exit code.

    .venv/bin/python bench/multihost.py [--hosts 2,5,10] [--slots 6] [--seed 17] [--details] [--markdown]

Needs PostgreSQL (--pg-url, else CRONKIT_TEST_PG_URL, else postgresql://postgres@127.0.0.1:5432/test;
a schema of its own per N, dropped at the end) and redis-server on PATH.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CRONKIT = str(Path(sys.executable).with_name("cronkit"))
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
FIRST_SLOT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE_TTL = 3.0  # seconds (CRONKIT_LEASE_TTL): a killed run's lease frees itself within the bench's pace
STOP_GRACE = 1.0  # seconds (CRONKIT_STOP_GRACE) between TERM and KILL of a task cronkit stops
START_SPREAD = 0.1  # real seconds per second of a host's offset into the minute
TASK_SECONDS = 1.5  # each task's work: a kill lands while it runs, and it outlasts a lease renewal (TTL/3)
REGISTRY = """\
import os
import time

from cronkit import Registry

registry = Registry()


def _ledger(ctx):
    time.sleep(float(os.environ["BENCH_TASK_SECONDS"]))
    line = f"{ctx.task} {int(ctx.slot.timestamp() * 1000)} {ctx.settings.hostname} {ctx.run_id}\\n"
    fd = os.open(os.environ["BENCH_EFFECTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())  # one write of one short line to an O_APPEND file: never interleaved
    finally:
        os.close(fd)
    return {"slot": ctx.slot.isoformat()}


registry.add("* * * * *", _ledger, name="ledger", environments=["*"])
registry.add("*/2 * * * *", _ledger, name="ledger-fallback", environments=["*"], redis_fallback=True)
registry.add("1-59/2 * * * *", _ledger, name="ledger-replace", environments=["*"], concurrency="replace")
"""
TASKS = {"ledger": (1, 0), "ledger-fallback": (2, 0), "ledger-replace": (2, 1)}  # name: (period, offset) in minutes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of this script's own, killed and restarted on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self, keep: bool, down: float) -> None:
        """Kill the server; start a new one on the same port `down` seconds later, with or without its data."""
        self.kill()
        if not keep:
            shutil.rmtree(self.directory, ignore_errors=True)
        time.sleep(down)
        self.start()


@dataclass
class Faults:
    kills: int = 0  # SIGKILLs delivered to a live `cronkit run`
    restarts_kept: int = 0
    restarts_emptied: int = 0

    def __str__(self) -> str:
        return (f"{self.kills} kills, {self.restarts_kept + self.restarts_emptied} Redis restarts"
                f" ({self.restarts_kept} kept data, {self.restarts_emptied} lost it)")


@dataclass
class Plan:
    """The faults of one slot, drawn from the seeded generator."""

    restart_before: tuple[bool, float] | None
    restart_during: tuple[float, bool, float] | None  # (after, keep, down)
    kill_claimer: bool
    kill_random: tuple[float, str] | None  # (after how long, which host's run)
    starts: dict[str, float]  # host: seconds into the minute its cron starts the runs

    @classmethod
    def draw(cls, rng: random.Random, hosts: list[str]) -> Plan:
        def restart() -> tuple[bool, float]:
            return rng.random() < 0.5, rng.uniform(0.1, 1.0)

        before = restart() if rng.random() < 0.15 else None
        during = (rng.uniform(0.0, 3.0), *restart()) if rng.random() < 0.2 else None
        claimer = rng.random() < 0.3
        other = (rng.uniform(0.0, 3.0), rng.choice(hosts)) if rng.random() < 0.3 else None
        return cls(before, during, claimer, other, {h: rng.uniform(0, 20) for h in hosts})


@dataclass
class Tally:
    expected: int = 0
    once: int = 0
    duplicates: int = 0
    explained: Counter[str] = field(default_factory=Counter)
    silent: list[str] = field(default_factory=list)  # slots lost with no injected fault to blame
    anomalies: list[str] = field(default_factory=list)  # runs that hung or ended with an unexpected code
    details: list[str] = field(default_factory=list)  # each slot not run once, with its runs
    refused: int = 0  # runs recorded skipped because the run log's claim was someone else's
    exits: Counter[int] = field(default_factory=Counter)
    faults: Faults = field(default_factory=Faults)
    wall: float = 0.0
    slot_walls: list[float] = field(default_factory=list)


class Cluster:
    """N hosts sharing one run log schema and one Redis, firing slots and counting what ran."""

    def __init__(self, hosts: int, pg_base: str, tmp: Path, redis: RedisServer, rng: random.Random,
                 knobs: argparse.Namespace) -> None:
        self.hosts = [f"host-{i + 1:02d}" for i in range(hosts)]
        self.schema = f"cronkit_multihost_{os.getpid()}_{hosts}"
        self.pg_base = pg_base
        self.db_url = f"{pg_base}?options=-csearch_path%3D{self.schema}"
        self.tmp = tmp / f"n{hosts}"
        self.effects = self.tmp / "effects.txt"
        self.redis = redis
        self.rng = rng
        self.tally = Tally()
        self.conn: Any = None
        registry = self.tmp / "multihost_registry.py"
        self.tmp.mkdir(parents=True)
        registry.write_text(REGISTRY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        base.update({"CRONKIT_TASKS": str(registry), "CRONKIT_DB_URL": self.db_url, "CRONKIT_ENV": "production",
                     "CRONKIT_REDIS_URL": redis.url, "CRONKIT_LEASE_TTL": str(knobs.lease_ttl),
                     "CRONKIT_STOP_GRACE": str(STOP_GRACE), "BENCH_EFFECTS": str(self.effects),
                     "BENCH_TASK_SECONDS": str(knobs.task_seconds)})
        self.env = {h: {**base, "CRONKIT_HOME": str(self.tmp / h), "CRONKIT_HOSTNAME": h} for h in self.hosts}

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        if self.conn is None:
            self.conn = psycopg.connect(self.pg_base, autocommit=True, options=f"-csearch_path={self.schema}")
        cur = self.conn.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []

    def fire(self, slot: datetime, plan: Plan, procs: dict[int, subprocess.Popen[bytes]],
             by_host: dict[str, list[int]]) -> threading.Thread:
        """Start every due task on every host, each at its own second of the slot's minute.

        Real starts are spread over a tenth of those seconds (0-2 s): hosts' cron daemons do not
        tick together, and a host that starts late finds the slot taken, or its lock held.
        """
        minute = int((slot - FIRST_SLOT) / timedelta(minutes=1))
        t0 = time.monotonic()

        def launch() -> None:
            for host in sorted(self.hosts, key=plan.starts.__getitem__):
                time.sleep(max(0.0, t0 + plan.starts[host] * START_SPREAD - time.monotonic()))
                env = {**self.env[host], "CRONKIT_NOW": (slot + timedelta(seconds=plan.starts[host])).isoformat()}
                for task, (period, offset) in TASKS.items():
                    if minute % period == offset:
                        proc = subprocess.Popen([CRONKIT, "run", task, "--trigger", "cron"], env=env,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                        procs[proc.pid] = proc
                        by_host.setdefault(host, []).append(proc.pid)

        thread = threading.Thread(target=launch, name="launcher")
        thread.start()
        return thread

    def kill(self, procs: dict[int, subprocess.Popen[bytes]], pid: int) -> None:
        """SIGKILL one of this slot's `cronkit run` processes (never any other), if it still runs."""
        proc = procs.get(pid)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.tally.faults.kills += 1

    def claimer(self, slot: datetime) -> int | None:
        """Return the pid of a run that claimed one of this slot's tasks and still runs, if any."""
        import psycopg

        try:
            rows = self.sql("SELECT r.pid FROM slots s JOIN runs r ON r.id = s.run_id"
                            " WHERE s.scheduled_for = %s AND r.status = 'running'",
                            (int(slot.timestamp() * 1000),))
        except psycopg.errors.UndefinedTable:  # the first runs are still creating the run log
            return None
        return int(rows[0][0]) if rows else None

    def slot(self, slot: datetime, plan: Plan) -> None:
        """Fire one slot with its faults and wait for every run to end."""
        if plan.restart_before is not None:
            self._restart(*plan.restart_before)
        procs: dict[int, subprocess.Popen[bytes]] = {}
        by_host: dict[str, list[int]] = {}
        launcher = self.fire(slot, plan, procs, by_host)
        t0 = time.monotonic()
        events: list[tuple[float, str]] = []
        if plan.restart_during is not None:
            events.append((plan.restart_during[0], "restart"))
        if plan.kill_random is not None:
            events.append((plan.kill_random[0], "kill-random"))
        if plan.kill_claimer:
            events.append((0.0, "kill-claimer"))
        for at, what in sorted(events):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            if what == "restart" and plan.restart_during is not None:
                self._restart(*plan.restart_during[1:])
            elif what == "kill-random" and plan.kill_random is not None:
                for pid in by_host.get(plan.kill_random[1], [])[:1]:
                    self.kill(procs, pid)
            else:  # poll the run log for the run that claimed the slot, until every run has ended
                while launcher.is_alive() or any(p.poll() is None for p in list(procs.values())):
                    claimer = self.claimer(slot)
                    if claimer is not None:
                        self.kill(procs, claimer)
                        break
                    time.sleep(0.03)
        launcher.join()
        for proc in procs.values():
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.tally.anomalies.append(f"a run of slot {slot:%H:%M} hung for 180 s")
            self.tally.exits[proc.returncode] += 1
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.returncode not in (0, 75, 69, 143, -signal.SIGKILL) and len(self.tally.anomalies) < 20:
                self.tally.anomalies.append(f"exit {proc.returncode}: {err.strip()[:300]}")

    def _restart(self, keep: bool, down: float) -> None:
        self.redis.restart(keep, down)
        if keep:
            self.tally.faults.restarts_kept += 1
        else:
            self.tally.faults.restarts_emptied += 1

    def run(self, slots: int) -> Tally:
        self.sql(f"CREATE SCHEMA {self.schema}")
        t0 = time.monotonic()
        for i in range(slots):
            began = time.monotonic()
            self.slot(FIRST_SLOT + timedelta(minutes=i), Plan.draw(self.rng, self.hosts))
            self.tally.slot_walls.append(time.monotonic() - began)
        self.tally.wall = time.monotonic() - t0
        # The next command that reads the run log marks the killed runs `lost` (SPEC section 6):
        # ten minutes on, every killed run's heartbeat is older than the two minutes that takes.
        later = FIRST_SLOT + timedelta(minutes=slots + 10)
        subprocess.run([CRONKIT, "history", "--limit", "1"], env={**self.env[self.hosts[0]],
                       "CRONKIT_NOW": later.isoformat()}, stdout=subprocess.DEVNULL, check=True)
        self.count(slots)
        return self.tally

    def count(self, slots: int) -> None:
        """Compare the task's own lines with the run log, slot by slot."""
        lines: Counter[tuple[str, int]] = Counter()
        if self.effects.exists():
            for line in self.effects.read_text().splitlines():
                name, at, _host, _run = line.split()
                lines[(name, int(at))] += 1
        runs: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for name, at, status, error in self.sql("SELECT task, scheduled_for, status, COALESCE(error, '')"
                                                " FROM runs WHERE trigger = 'cron'"):
            runs.setdefault((name, int(at)), []).append((status, error))
        claims = {(t, int(s)): (status, error) for t, s, status, error in self.sql(
            "SELECT s.task, s.scheduled_for, r.status, COALESCE(r.error, '') FROM slots s JOIN runs r ON r.id = s.run_id")}
        tally = self.tally
        for i in range(slots):
            slot_ms = int((FIRST_SLOT + timedelta(minutes=i)).timestamp() * 1000)
            for task, (period, offset) in TASKS.items():
                if i % period != offset:
                    continue
                key, tally.expected = (task, slot_ms), tally.expected + 1
                recorded = runs.get(key, [])
                tally.refused += sum(1 for s, e in recorded if s == "skipped" and "already served" in e)
                succeeded = sum(1 for s, _ in recorded if s == "succeeded")
                if lines[key] > 1 or succeeded > 1:
                    tally.duplicates += 1
                elif lines[key] == 1:
                    tally.once += 1
                else:
                    verdict = explain(claims.get(key), recorded)
                    tally.details.append(f"{task} minute {i}: {verdict or 'SILENT'}; claim {claims.get(key)};"
                                         f" runs {recorded}")
                    if verdict is None:
                        tally.silent.append(f"{task} minute {i}: not run; claim {claims.get(key)}; runs {recorded}")
                    else:
                        tally.explained[verdict] += 1

    def drop(self) -> None:
        self.sql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        self.conn.close()


REDIS_DOWN = ("Redis unavailable", "could not be renewed")  # how a run that failed closed says why


def explain(claim: tuple[str, str] | None, recorded: list[tuple[str, str]]) -> str | None:
    """Say which injected fault kept a slot with no line from running, from its runs; None when none did.

    Explained: the run that claimed the slot was killed (recorded `lost`) or failed closed because
    Redis was down; or no run claimed it, and one of its runs was killed (holding the lock, before
    its claim) or failed closed, the others skipped. Anything else is a loss cronkit caused: a
    claimant that succeeded without a line, is still `running`, or was stopped by another run
    (replaced, or its lease taken) that then found the slot served.
    """
    if claim is not None:
        status, error = claim
        if status == "lost":
            return "killed"
        return "Redis down" if status == "failed" and any(w in error for w in REDIS_DOWN) else None
    if any(s == "lost" for s, _ in recorded) and all(s in ("lost", "failed", "skipped") for s, _ in recorded):
        return "killed"
    down = [s == "failed" and any(w in e for w in REDIS_DOWN) for s, e in recorded]
    if any(down) and all(d or s == "skipped" for d, (s, _) in zip(down, recorded, strict=True)):
        return "Redis down"
    return None


def table(rows: list[tuple[int, Tally]], markdown: bool) -> str:
    head = ["hosts", "slots expected", "ran exactly once", "duplicates", "not run: killed",
            "not run: Redis down", "lost (unexplained)", "second runs refused", "faults injected", "wall"]
    body = []
    for hosts, t in rows:
        body.append([str(hosts), str(t.expected), str(t.once), str(t.duplicates), str(t.explained["killed"]),
                     str(t.explained["Redis down"]), str(len(t.silent)), str(t.refused), str(t.faults),
                     f"{t.wall:.1f} s"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="2,5,10", help="comma-separated host counts")
    parser.add_argument("--slots", type=int, default=6, help="minutes of the injected clock per host count")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--pg-url", default=os.environ.get("CRONKIT_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--lease-ttl", type=float, default=LEASE_TTL, help="CRONKIT_LEASE_TTL of the hosts")
    parser.add_argument("--task-seconds", type=float, default=TASK_SECONDS, help="how long each task works")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--details", action="store_true", help="print the runs of each slot not run once")
    args = parser.parse_args()
    if not os.access(CRONKIT, os.X_OK):
        raise SystemExit(f"no cronkit executable next to {sys.executable}: run ./install.sh --dev")
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    counts = [int(n) for n in args.hosts.split(",")]
    pg = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    rows: list[tuple[int, Tally]] = []
    with tempfile.TemporaryDirectory(prefix="cronkit-multihost-") as tmp:
        for n in counts:
            redis = RedisServer(Path(tmp) / f"redis-{n}")
            redis.start()
            cluster = Cluster(n, pg, Path(tmp), redis, random.Random(f"{args.seed}-{n}"), args)
            try:
                rows.append((n, cluster.run(args.slots)))
            finally:
                redis.kill()
                cluster.drop()
    print(f"{args.slots} slots per host count, seed {args.seed}, lease TTL {args.lease_ttl:g} s,"
          f" stop grace {STOP_GRACE:g} s, tasks {', '.join(TASKS)} ({args.task_seconds:g} s each)")
    print(table(rows, args.markdown))
    for n, t in rows:
        print(f"N={n}: exit codes of the runs {dict(sorted(t.exits.items()))}")
        if args.details:
            print(f"N={n}: seconds per slot {' '.join(f'{w:.1f}' for w in t.slot_walls)}")
        for line in t.details if args.details else ():
            print(f"N={n}: {line}")
    problems = [(n, s) for n, t in rows for s in [*t.silent, *t.anomalies]]
    for n, text in problems:
        print(f"N={n}: {text}")
    if problems or any(t.duplicates for _, t in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
